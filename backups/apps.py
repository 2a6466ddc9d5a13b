from django.apps import AppConfig


class BackupsConfig(AppConfig):
    name = "backups"
    verbose_name = "Backups"

    def ready(self) -> None:
        from backups import handlers, selectors, tasks
        from jobs import history, registry

        tasks.register()
        registry.register(handlers.HANDLER)
        history.keep_jobs(selectors.jobs_with_backup_files)
