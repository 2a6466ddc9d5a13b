from django.apps import AppConfig


class BackupsConfig(AppConfig):
    name = "backups"
    verbose_name = "Backups"

    def ready(self) -> None:
        from backups import alerts, drills, handlers, offsite, selectors, tasks
        from backups.services.drilling import register_drill_source
        from jobs import history, registry
        from notifications.registry import register_watch

        tasks.register()
        registry.register(handlers.HANDLER)
        registry.register(handlers.OFFSITE_HANDLER)
        drills.register()
        register_drill_source(offsite.offsite_drill_source)
        history.keep_jobs(selectors.jobs_with_backup_files)
        register_watch(alerts.watch_freshness)
        register_watch(alerts.watch_offsite)
