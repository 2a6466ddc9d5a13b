from django.apps import AppConfig


class CommonConfig(AppConfig):
    """The bottom layer: shared plumbing, template filters, and one table of its own (chores)."""

    name = "common"
    verbose_name = "Common"
