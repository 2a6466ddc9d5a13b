"""Every group sync a schedule run made points at that run.

Until now a sync was recorded before its run existed, so it kept the run's identity (schedule,
window, trigger) and was linked to the run only when its first job finished. Now the task type is
given the run: this links the syncs still unlinked, found as the old code found them (through one
of their jobs, else by that identity), before the next migration drops the copied columns.
Separate from it because PostgreSQL refuses to alter a table with row changes of the same
transaction still to be checked against its foreign keys.
"""

from django.db import migrations


def link_runs(apps, schema_editor):
    GroupSync = apps.get_model("channels", "GroupSync")
    ScheduleRun = apps.get_model("scheduling", "ScheduleRun")
    Link = ScheduleRun.jobs.through
    taken = set(GroupSync.objects.exclude(schedule_run=None).values_list("schedule_run_id", flat=True))
    for group_sync in GroupSync.objects.filter(schedule_run=None).order_by("pk").iterator():
        run_ids = list(Link.objects.filter(job__job_type="QUICK_SYNC", job__params__group_sync_id=group_sync.pk)
                       .order_by("schedulerun_id").values_list("schedulerun_id", flat=True)[:1])
        if not run_ids and group_sync.schedule_id_at_dispatch and group_sync.due_at:
            run_ids = list(ScheduleRun.objects.filter(
                schedule_id=group_sync.schedule_id_at_dispatch, due_at=group_sync.due_at, trigger=group_sync.trigger,
            ).order_by("pk").values_list("pk", flat=True)[:1])
        if run_ids and run_ids[0] not in taken:
            GroupSync.objects.filter(pk=group_sync.pk).update(schedule_run_id=run_ids[0])
            taken.add(run_ids[0])


def copy_run_identity(apps, schema_editor):
    GroupSync = apps.get_model("channels", "GroupSync")
    for group_sync in GroupSync.objects.select_related("schedule_run").order_by("pk").iterator():
        run = group_sync.schedule_run
        if run is None:  # Sync now, which said "manual"
            GroupSync.objects.filter(pk=group_sync.pk).update(trigger="manual")
        else:
            GroupSync.objects.filter(pk=group_sync.pk).update(
                schedule_id_at_dispatch=run.schedule_id, due_at=run.due_at, trigger=run.trigger)


class Migration(migrations.Migration):

    dependencies = [
        ("channels", "0004_sync_state"),
        ("jobs", "0003_origin_and_permanent_failure"),
        ("scheduling", "0004_history_outlives_schedules_and_audit"),
    ]

    operations = [migrations.RunPython(link_runs, copy_run_identity)]
