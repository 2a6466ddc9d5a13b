"""The data migration's default schedule: what the old fixed daily backup did, now a schedule."""

import datetime as dt
import importlib

import pytest
from django.apps import apps

from scheduling import recurrence
from scheduling.models import ScheduleAuditEntry, ScheduledTask

pytestmark = [pytest.mark.django_db, pytest.mark.default_backup_schedule]

migration = importlib.import_module("backups.migrations.0003_default_backup_schedule")
UTC = dt.timezone.utc


def test_the_migrations_create_the_daily_backup_schedule():
    schedule = ScheduledTask.objects.get(name="Daily database backup")

    assert (schedule.task_type, schedule.enabled, schedule.schedule_kind, schedule.schedule_time,
            schedule.timezone) == ("DATABASE_BACKUP", True, "daily", "02:00", "UTC")
    assert schedule.params == {"backup_type": "full", "retention_days": 30, "cleanup_old": True,
                               "force_backup": False}
    schedule.full_clean()  # valid by the same rules as any other schedule
    # An enabled schedule with no next run would never fire: the migration computes it.
    assert schedule.next_run_at == schedule.next_after(schedule.created_at)
    entry = ScheduleAuditEntry.objects.get(schedule=schedule)
    assert (entry.action, entry.via) == ("create", "system")


@pytest.mark.parametrize("now", ["2026-12-01 01:59:59", "2026-12-01 02:00:00", "2026-12-01 02:00:01",
                                 "2026-12-31 23:30:00", "2028-02-28 03:00:00"])
def test_its_next_window_agrees_with_the_recurrence_engine(now):
    instant = dt.datetime.fromisoformat(now).replace(tzinfo=UTC)
    engine = recurrence.Recurrence(kind="daily", timezone="UTC", time="02:00")

    assert migration.next_daily_window(instant) == engine.next_after(instant)


def test_it_leaves_an_existing_backup_schedule_alone(make_schedule):
    ScheduledTask.objects.all().delete()
    mine = make_schedule(now=dt.datetime(2026, 5, 1, tzinfo=UTC), name="My backups", schedule_time="04:00")

    migration.create(apps, None)

    assert list(ScheduledTask.objects.all()) == [mine]


def test_it_can_be_reversed():
    migration.remove(apps, None)

    assert not ScheduledTask.objects.filter(name="Daily database backup").exists()
