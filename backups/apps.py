from django.apps import AppConfig


class BackupsConfig(AppConfig):
    name = "backups"
    verbose_name = "Backups"

    def ready(self) -> None:
        from backups import alerts, drills, handlers, offsite, selectors, tasks
        from backups.services.drilling import register_drill_source
        from jobs import history, registry
        from jobs.signals import jobs_maintained
        from notifications.registry import register_watch

        tasks.register()
        registry.register(handlers.HANDLER)
        registry.register(handlers.OFFSITE_HANDLER)
        registry.register_link("backup_id", handlers.backup_link)
        drills.register()
        register_drill_source(offsite.offsite_drill_source)
        history.keep_jobs(selectors.jobs_with_backup_files)
        register_watch(alerts.watch_freshness)
        register_watch(alerts.watch_offsite)

        def notice_restore(sender, now, **kwargs):
            # A restore by hand, noticed at the scheduler's next step (backups.services.aftermath).
            from backups.services.aftermath import restored_copy_settle

            aftermath = restored_copy_settle(now=now)
            return len(aftermath.interrupted) + len(aftermath.completed) if aftermath else 0

        # weak=False: a local function, which a weak reference would let go at once.
        jobs_maintained.connect(notice_restore, weak=False, dispatch_uid="backups.restored_copy_settle")
