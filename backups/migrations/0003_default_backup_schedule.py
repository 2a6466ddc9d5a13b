"""The default backup schedule: what the old fixed daily backup did (02:00 UTC, 30 days kept), now editable.

Created through the historical models, so next_run_at is computed here: the scheduler's pass only
reads enabled rows whose next_run_at has come, and only scheduling.services sets it otherwise (on
save), so a row left with NULL would never run. For a daily schedule in UTC the next window is
plain arithmetic; tests/backups/test_default_schedule.py checks that it agrees with the
recurrence engine.
"""

import datetime as dt

from django.db import migrations

NAME = "Daily database backup"
TASK_TYPE = "DATABASE_BACKUP"
AT = dt.time(2, 0)
PARAMS = {"backup_type": "full", "retention_days": 30, "cleanup_old": True, "force_backup": False}


def next_daily_window(now: dt.datetime) -> dt.datetime:
    window = dt.datetime.combine(now.date(), AT, tzinfo=dt.timezone.utc)
    return window if window > now else window + dt.timedelta(days=1)


def create(apps, schema_editor):
    ScheduledTask = apps.get_model("scheduling", "ScheduledTask")
    ScheduleAuditEntry = apps.get_model("scheduling", "ScheduleAuditEntry")
    if ScheduledTask.objects.filter(task_type=TASK_TYPE).exists():
        return  # someone already schedules backups: theirs stays the only one
    now = dt.datetime.now(dt.timezone.utc)
    schedule = ScheduledTask.objects.create(
        name=NAME, task_type=TASK_TYPE, enabled=True, schedule_kind="daily", schedule_time=AT.strftime("%H:%M"),
        timezone="UTC", params=PARAMS, created_at=now, next_run_at=next_daily_window(now),
    )
    ScheduleAuditEntry.objects.create(
        schedule=schedule, schedule_name=NAME, action="create", via="system", at=now,
        changes={"name": [None, NAME], "task_type": [None, TASK_TYPE], "params": [None, PARAMS],
                 "enabled": [None, True], "schedule_kind": [None, "daily"], "schedule_time": [None, "02:00"],
                 "timezone": [None, "UTC"], "reason": "the default backup schedule, created by a migration"},
    )


def remove(apps, schema_editor):
    apps.get_model("scheduling", "ScheduledTask").objects.filter(name=NAME, task_type=TASK_TYPE).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("backups", "0002_backup_record"),
        ("scheduling", "0004_history_outlives_schedules_and_audit"),
    ]

    operations = [migrations.RunPython(create, remove)]
