from django.apps import AppConfig


class ChannelsConfig(AppConfig):
    name = "channels"
    label = "channels"
    verbose_name = "Channels"

    def ready(self) -> None:
        from django.utils import timezone

        from channels import alerts, handlers, sync, tasks
        from jobs.signals import job_status_changed, jobs_maintained
        from notifications.registry import register_watch
        from scheduling.history import register_pruner

        tasks.register()
        handlers.register_handlers()
        register_watch(alerts.watch_outages)
        register_pruner("group_syncs", sync.group_syncs_prune_batch)

        def follow_jobs(sender, jobs, **kwargs):
            # Once a sync's last job is done: judge its failures (outage or not) and write its summary
            # (in a transaction of its own, a savepoint inside the announcement's: see jobs.signals).
            sync.group_syncs_follow_jobs(jobs=jobs, now=timezone.now())

        def settle_stale(sender, now, **kwargs):
            return sync.group_syncs_settle_stale(now=now)

        # weak=False: a function defined here has no other reference and would be collected at once.
        job_status_changed.connect(follow_jobs, weak=False, dispatch_uid="channels.group_syncs_follow_jobs")
        jobs_maintained.connect(settle_stale, weak=False, dispatch_uid="channels.group_syncs_settle_stale")
