from django.apps import AppConfig


class CoreConfig(AppConfig):
    """What belongs to no domain: the first admin user, system checks, the health report, the page frame."""

    name = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from core import checks  # noqa: F401  (registers the system checks)
