"""Restore drills: the backup records its row counts and its last drill, and a weekly drill schedule is made.

The schedule ("Weekly restore drill", Sunday 03:00 UTC, the BACKUP_RESTORE_DRILL task type, no params)
is created through the historical models, so next_run_at is computed here as migration 0003 does for
the daily backup: for a weekly schedule in UTC the next window is plain arithmetic, and
tests/backups/test_drill_schedule.py checks that it agrees with the recurrence engine. The values are a
frozen copy of backups.drills' defaults (a migration must not change with the code; the same test
checks that they agree).
"""

import datetime as dt

from django.db import migrations, models

NAME = "Weekly restore drill"
TASK_TYPE = "BACKUP_RESTORE_DRILL"
DAYS = ["sun"]
AT = dt.time(3, 0)
PARAMS = {}
SUNDAY = 6  # date.weekday()


def next_weekly_window(now: dt.datetime) -> dt.datetime:
    days_ahead = (SUNDAY - now.weekday()) % 7
    window = dt.datetime.combine(now.date() + dt.timedelta(days=days_ahead), AT, tzinfo=dt.timezone.utc)
    return window if window > now else window + dt.timedelta(days=7)


def create(apps, schema_editor):
    ScheduledTask = apps.get_model("scheduling", "ScheduledTask")
    ScheduleAuditEntry = apps.get_model("scheduling", "ScheduleAuditEntry")
    if ScheduledTask.objects.filter(task_type=TASK_TYPE).exists():
        return  # someone already schedules drills: theirs stays the only one
    now = dt.datetime.now(dt.timezone.utc)
    schedule = ScheduledTask.objects.create(
        name=NAME, task_type=TASK_TYPE, enabled=True, schedule_kind="weekly", schedule_days=DAYS,
        schedule_time=AT.strftime("%H:%M"), timezone="UTC", params=PARAMS, created_at=now,
        next_run_at=next_weekly_window(now),
    )
    ScheduleAuditEntry.objects.create(
        schedule=schedule, schedule_name=NAME, action="create", via="system", at=now,
        changes={"name": [None, NAME], "task_type": [None, TASK_TYPE], "params": [None, PARAMS],
                 "enabled": [None, True], "schedule_kind": [None, "weekly"], "schedule_days": [None, DAYS],
                 "schedule_time": [None, AT.strftime("%H:%M")], "timezone": [None, "UTC"],
                 "reason": "the default restore drill schedule, created by a migration"},
    )


def remove(apps, schema_editor):
    apps.get_model("scheduling", "ScheduledTask").objects.filter(name=NAME, task_type=TASK_TYPE).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("backups", "0005_backup_offsite"),
        ("scheduling", "0009_dispatched_runs_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="backup",
            name="table_rows",
            field=models.JSONField(blank=True, default=dict, help_text='{"table": rows} at backup time.'),
        ),
        migrations.AddField(
            model_name="backup",
            name="drilled_at",
            field=models.DateTimeField(blank=True, help_text="When its last restore drill finished.", null=True),
        ),
        migrations.AddField(
            model_name="backup",
            name="drill_outcome",
            field=models.CharField(blank=True, choices=[("passed", "Restore-tested"),
                                                        ("failed", "Restore drill failed")], max_length=16),
        ),
        migrations.AddField(
            model_name="backup",
            name="drill_detail",
            field=models.TextField(blank=True, help_text="What the last drill found wrong, or a note on it."),
        ),
        migrations.AddField(
            model_name="backup",
            name="drill_seconds",
            field=models.FloatField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="backup",
            name="drill_tables",
            field=models.PositiveIntegerField(blank=True, help_text="Tables in the restored copy.", null=True),
        ),
        migrations.AddField(
            model_name="backup",
            name="drill_rows",
            field=models.BigIntegerField(blank=True, help_text="Rows in the restored copy.", null=True),
        ),
        migrations.RunPython(create, remove),
    ]
