from importlib import import_module

from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Jobs"

    def ready(self) -> None:
        from jobs import conf

        # Apps register their handlers in their own ready(); these modules register theirs on import.
        for module in conf.get("JOB_HANDLER_MODULES"):
            import_module(module)
