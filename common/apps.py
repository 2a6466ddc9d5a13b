from django.apps import AppConfig


class CommonConfig(AppConfig):
    """The bottom layer: shared plumbing and template filters; no models."""

    name = "common"
    verbose_name = "Common"
