"""The weekly restore drill schedule the migration makes (backups 0005), and a run of it through the scheduler's pass."""

import datetime as dt
import importlib

import pytest
from django.apps import apps

from backups import drills
from jobs.models import Job
from scheduling import recurrence, tick
from scheduling.models import RunOutcome, ScheduleAuditEntry, ScheduledTask

pytestmark = pytest.mark.django_db

migration = importlib.import_module("backups.migrations.0006_restore_drill")
UTC = dt.timezone.utc


def test_the_migration_creates_the_weekly_drill_schedule():
    migration.create(apps, None)

    schedule = ScheduledTask.objects.get(task_type="BACKUP_RESTORE_DRILL")
    assert (schedule.name, schedule.enabled, schedule.schedule_kind, schedule.schedule_days, schedule.schedule_time,
            schedule.timezone, schedule.params) == ("Weekly restore drill", True, "weekly", ["sun"], "03:00", "UTC", {})
    schedule.full_clean()  # valid by the same rules as any other schedule
    assert schedule.describe() == "Every Sun at 03:00 (UTC)"
    # An enabled schedule with no next run would never fire: the migration computes it.
    assert schedule.next_run_at == schedule.next_after(schedule.created_at)
    assert schedule.next_run_at.weekday() == 6 and (schedule.next_run_at.hour, schedule.next_run_at.minute) == (3, 0)
    entry = ScheduleAuditEntry.objects.get(schedule=schedule)
    assert (entry.action, entry.via) == ("create", "system")


@pytest.mark.parametrize("now", ["2026-12-05 23:59:59", "2026-12-06 02:59:59", "2026-12-06 03:00:00",
                                 "2026-12-06 03:00:01", "2026-12-07 00:00:00", "2026-12-31 23:30:00",
                                 "2028-02-27 03:00:00", "2028-02-29 12:00:00"])
def test_its_next_window_agrees_with_the_recurrence_engine(now):
    instant = dt.datetime.fromisoformat(now).replace(tzinfo=UTC)
    engine = recurrence.Recurrence(kind="weekly", timezone="UTC", time="03:00", days=["sun"])

    assert migration.next_weekly_window(instant) == engine.next_after(instant)


def test_the_migrations_frozen_copy_is_the_task_types_defaults():
    assert (migration.NAME, migration.TASK_TYPE, migration.DAYS, migration.AT.strftime("%H:%M"), migration.PARAMS) == (
        drills.DEFAULT_NAME, drills.TASK_TYPE, drills.DEFAULT_DAYS, drills.DEFAULT_TIME, {})


def test_it_leaves_an_existing_drill_schedule_alone(make_schedule):
    mine = make_schedule(now=dt.datetime(2026, 5, 1, tzinfo=UTC), name="My drills", task_type="BACKUP_RESTORE_DRILL")

    migration.create(apps, None)

    assert list(ScheduledTask.objects.filter(task_type="BACKUP_RESTORE_DRILL")) == [mine]


def test_it_can_be_reversed():
    migration.create(apps, None)

    migration.remove(apps, None)

    assert not ScheduledTask.objects.filter(name="Weekly restore drill").exists()


def test_its_window_makes_one_drill_job():
    migration.create(apps, None)
    schedule = ScheduledTask.objects.get(task_type="BACKUP_RESTORE_DRILL")

    tick.run_pass(now=schedule.next_run_at + dt.timedelta(seconds=2))

    run = schedule.runs.get()
    assert run.outcome == RunOutcome.DISPATCHED
    job = Job.objects.get()
    assert (job.job_type, job.params, job.followed) == ("BACKUP_RESTORE_DRILL", {}, True)
    assert list(run.jobs.all()) == [job]


def test_a_drill_schedule_is_made_through_the_api_like_any_other():
    from tests.api_clients import ALL_ACTIONS, token_client, user_with

    api = token_client(user_with(*ALL_ACTIONS))
    fields = {"name": "Drill on Wednesdays", "task_type": "BACKUP_RESTORE_DRILL", "schedule_kind": "weekly",
              "schedule_days": ["wed"], "schedule_time": "04:00", "timezone": "Europe/Berlin"}

    refused = api.post("/api/schedules", {**fields, "params": {"backup_id": 7}})
    assert refused.status_code == 400
    [message] = refused.json()["errors"]["params.backup_id"]
    assert message.startswith("backup_id: unknown parameter")

    created = api.post("/api/schedules", {**fields, "params": {}})
    assert created.status_code == 201, created.content
    assert ScheduledTask.objects.get(name="Drill on Wednesdays").params == {}


def test_the_schedule_editor_takes_a_drill_with_no_params(client):
    from tests.factories import UserFactory, grant

    client.force_login(grant(UserFactory(), "view_scheduledtask", "add_scheduledtask"))

    response = client.post("/schedules/new", {
        "name": "Drills", "task_type": "BACKUP_RESTORE_DRILL", "_task_types": "BACKUP_RESTORE_DRILL",
        "enabled": "on", "schedule_kind": "weekly", "schedule_days": ["sun"], "schedule_time": "03:00",
        "timezone": "UTC", "grace_minutes": "60", "overlap_policy": "skip"})

    assert response.status_code == 302, response.content.decode()
    schedule = ScheduledTask.objects.get(name="Drills")
    assert (schedule.task_type, schedule.params) == ("BACKUP_RESTORE_DRILL", {})
