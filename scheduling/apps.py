from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    name = "scheduling"
    verbose_name = "Scheduling"

    def ready(self) -> None:
        from django.utils import timezone

        from jobs.signals import job_status_changed, jobs_maintained
        from notifications.registry import register_watch
        from notifications.services import alerts_prune_batch
        from notifications.signals import channel_deleted
        from scheduling import alerts, history, services

        def follow_jobs(sender, jobs, **kwargs):
            services.runs_follow_jobs(job_ids=[job.pk for job in jobs], now=timezone.now())

        def settle_stale(sender, now, **kwargs):
            return services.runs_settle_stale(now=now)

        # weak=False: the receivers are local functions, which a weak reference would let go at once.
        job_status_changed.connect(follow_jobs, weak=False, dispatch_uid="scheduling.runs_follow_jobs")
        jobs_maintained.connect(settle_stale, weak=False, dispatch_uid="scheduling.runs_settle_stale")

        def forget_channel(sender, channel_id, **kwargs):
            alerts.schedules_forget_channel(channel_id=channel_id, now=timezone.now())

        channel_deleted.connect(forget_channel, weak=False, dispatch_uid="scheduling.schedules_forget_channel")
        register_watch(alerts.watch_processes)
        register_watch(alerts.watch_schedules)
        # notifications imports no app, so its alert log is registered for it here.
        history.register_pruner("alerts", alerts_prune_batch)
