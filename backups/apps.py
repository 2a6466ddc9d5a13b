from django.apps import AppConfig


class BackupsConfig(AppConfig):
    name = "backups"
    verbose_name = "Backups"

    def ready(self) -> None:
        from backups import handlers, tasks
        from jobs import registry

        tasks.register()
        registry.register(handlers.HANDLER)
