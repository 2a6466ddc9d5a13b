from django.apps import AppConfig


class ChannelsConfig(AppConfig):
    name = "channels"
    label = "channels"
    verbose_name = "Channels"

    def ready(self) -> None:
        from django.utils import timezone

        from channels import alerts, handlers, sync, tasks
        from jobs.signals import job_status_changed
        from notifications.registry import register_watch

        tasks.register()
        handlers.register_handlers()
        register_watch(alerts.watch_outages)

        def follow_jobs(sender, jobs, **kwargs):
            # Once a sync's last job is done: judge its failures (outage or not) and write its summary.
            sync.group_syncs_follow_jobs(jobs=jobs, now=timezone.now())

        # weak=False: a function defined here has no other reference and would be collected at once.
        job_status_changed.connect(follow_jobs, weak=False, dispatch_uid="channels.group_syncs_follow_jobs")
