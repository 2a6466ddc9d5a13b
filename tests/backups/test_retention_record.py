"""Each deletion by retention is recorded on the backup: the schedule whose run deleted it, and who last set
that schedule's rule (from its audit trail), shown where /backups shows the backup."""

import datetime as dt

import pytest

from backups import selectors
from backups.models import Backup, BackupStatus
from common.actors import COMMAND, Actor, Via
from jobs import runner
from scheduling import services
from scheduling.models import ScheduledTask
from tests.backups.conftest import sqlite_only, with_file
from tests.factories import BackupFactory, UserFactory, grant

pytestmark = pytest.mark.django_db

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen(time_machine):
    time_machine.move_to(NOW, tick=False)


@pytest.fixture
def alice(db):
    return grant(UserFactory(username="alice"), "change_scheduledtask", "delete_backup")


@pytest.fixture
def bob(db):
    return grant(UserFactory(username="bob"), "change_scheduledtask", "view_backup")


def backup_schedule(**params) -> ScheduledTask:
    """Made by the system, as the data migration makes the default one."""
    return services.schedule_save(schedule=ScheduledTask(
        name="Daily database backup", task_type="DATABASE_BACKUP", schedule_kind="daily", schedule_time="02:00",
        params={"retention_days": 30, "cleanup_old": True, **params}), now=NOW - dt.timedelta(days=90))


def change(schedule: ScheduledTask, actor: Actor, *, days_ago: int, **fields) -> ScheduledTask:
    schedule = ScheduledTask.objects.get(pk=schedule.pk)
    for field, value in fields.items():
        setattr(schedule, field, value)
    return services.schedule_save(schedule=schedule, now=NOW - dt.timedelta(days=days_ago), actor=actor)


# --- who set the rule -----------------------------------------------------------------------------

def test_a_rule_nobody_changed_was_set_by_the_system():
    assert selectors.retention_rule_set_by(backup_schedule()) == "the system"


def test_it_is_the_newest_change_of_the_rule_not_of_anything_else(alice, bob):
    schedule = backup_schedule()
    change(schedule, Actor(Via.PAGE, alice), days_ago=5, params={"retention_days": 7, "cleanup_old": True})
    change(schedule, Actor(Via.API, bob), days_ago=4, name="Nightly")  # a rename
    change(schedule, Actor(Via.API, bob), days_ago=3, enabled=False)
    change(schedule, Actor(Via.API, bob), days_ago=2, params={"retention_days": 7, "cleanup_old": True,
                                                               "force_backup": True})  # not the rule
    change(schedule, Actor(Via.API, bob), days_ago=1, timezone="Europe/Berlin")  # days mode: the zone is no part

    assert selectors.retention_rule_set_by(ScheduledTask.objects.get()) == "alice"


def test_a_calendar_rules_zone_is_part_of_the_rule(alice, bob):
    schedule = backup_schedule(retention_mode="calendar", keep_last=3)
    change(schedule, Actor(Via.PAGE, alice), days_ago=5, params={**schedule.params, "keep_daily": 10})
    assert selectors.retention_rule_set_by(ScheduledTask.objects.get()) == "alice"

    change(schedule, Actor(Via.ADMIN, grant(bob, "delete_backup")), days_ago=1, timezone="Asia/Tokyo")

    assert selectors.retention_rule_set_by(ScheduledTask.objects.get()) == "bob"


def test_a_command_without_a_user_is_named_as_such(alice):
    schedule = backup_schedule()
    change(schedule, COMMAND, days_ago=1, params={"retention_days": 9, "cleanup_old": True})

    assert selectors.retention_rule_set_by(ScheduledTask.objects.get()) == "a command"


# --- the record on each deleted backup ----------------------------------------------------------------------

@sqlite_only
def test_each_deletion_names_the_schedule_and_who_set_its_rule(client, alice, bob, backup_dir,
                                                               django_capture_on_commit_callbacks):
    old = [with_file(BackupFactory(started_at=NOW - dt.timedelta(days=d)), backup_dir) for d in (20, 10)]
    kept = with_file(BackupFactory(started_at=NOW - dt.timedelta(days=2)), backup_dir)
    schedule = backup_schedule()
    change(schedule, Actor(Via.PAGE, alice), days_ago=3, params={"retention_days": 7, "cleanup_old": True})
    change(schedule, Actor(Via.API, bob), days_ago=1, name="Nightly backup")

    # Bob, who may not delete backups, presses Run now: the rule alice set deletes, and says so.
    run = services.schedule_run_now(schedule=ScheduledTask.objects.get(), now=NOW, actor=Actor(Via.PAGE, bob))
    with django_capture_on_commit_callbacks(execute=True):
        assert runner.execute(run.jobs.get().pk) == "completed"

    made = Backup.objects.get(job=run.jobs.get())
    for backup in old:
        backup.refresh_from_db()
        assert backup.status == BackupStatus.DELETED
        assert backup.note == (f"Deleted by retention of “Nightly backup” after backup #{made.pk}, rule set by alice: "
                               "older than the retention of 7 days.")
    assert Backup.objects.get(pk=kept.pk).status == BackupStatus.COMPLETED
    assert run.jobs.get().result["retention"] == "keeps 7 days"

    client.force_login(bob)
    page = client.get("/backups").content.decode()
    assert "Deleted by retention of “Nightly backup” after backup" in page and "rule set by alice" in page


@sqlite_only
def test_a_calendar_deletion_gives_the_calendar_reason(alice, backup_dir, django_capture_on_commit_callbacks):
    older = with_file(BackupFactory(started_at=NOW - dt.timedelta(days=3)), backup_dir)
    schedule = backup_schedule()
    change(schedule, Actor(Via.PAGE, alice), days_ago=1, params={
        "retention_mode": "calendar", "keep_last": 1, "keep_daily": 0, "keep_weekly": 0, "keep_monthly": 0,
        "cleanup_old": True})

    run = services.schedule_run_now(schedule=ScheduledTask.objects.get(), now=NOW, actor=Actor(Via.PAGE, alice))
    with django_capture_on_commit_callbacks(execute=True):
        runner.execute(run.jobs.get().pk)

    older.refresh_from_db()
    assert older.note.endswith(", rule set by alice: not among the backups the rule keeps (last 1).")
