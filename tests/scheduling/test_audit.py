"""The audit trail: every write of a schedule leaves one entry saying who, when, through what, and the diff."""

import pytest

from common.actors import Actor, Via
from scheduling import services
from scheduling.models import ScheduleAuditEntry, ScheduledTask
from tests.factories import UserFactory
from tests.scheduling.conftest import at

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(db):
    return UserFactory(username="alice", permissions=["backups.delete_backup"])  # backup schedules clean up


def entries():
    return list(ScheduleAuditEntry.objects.order_by("pk").values_list("action", "via", "actor_name", "changes"))


def test_it_records_a_creation_with_every_field(alice):
    services.schedule_save(schedule=ScheduledTask(name="Nightly", task_type="DATABASE_BACKUP", schedule_time="02:00"),
                           now=at("2026-05-01 12:00"), actor=Actor(Via.PAGE, alice))

    [(action, via, who, changes)] = entries()
    assert (action, via, who) == ("create", "page", "alice")
    assert changes["name"] == [None, "Nightly"]
    assert changes["schedule_time"] == [None, "02:00"]
    assert changes["params"][1]["retention_days"] == 30


def test_it_records_an_edit_as_the_fields_that_changed(make_schedule, alice):
    schedule = make_schedule(now=at("2026-05-01 12:00"))
    schedule.schedule_kind, schedule.schedule_days, schedule.schedule_time = "weekly", ["mon", "wed", "fri"], "04:00"

    services.schedule_save(schedule=schedule, now=at("2026-05-01 12:05"), actor=Actor(Via.API, alice))

    entry = schedule.audit_entries.get(action="update")
    assert (entry.via, entry.actor, entry.at) == ("api", alice, at("2026-05-01 12:05"))
    assert entry.changes == {"schedule_kind": ["daily", "weekly"], "schedule_days": [[], ["mon", "wed", "fri"]],
                             "schedule_time": ["02:00", "04:00"]}


def test_a_save_that_changes_nothing_records_nothing(make_schedule):
    schedule = make_schedule(now=at("2026-05-01 12:00"))
    services.schedule_save(schedule=schedule, now=at("2026-05-01 12:05"))
    assert [e[0] for e in entries()] == ["create"]


def test_it_records_disable_and_enable(make_schedule, alice):
    schedule = make_schedule(now=at("2026-05-01 12:00"))
    admin = Actor(Via.ADMIN, alice)
    services.schedule_set_enabled(schedule=schedule, enabled=False, now=at("2026-05-01 12:01"), actor=admin)
    services.schedule_set_enabled(schedule=schedule, enabled=False, now=at("2026-05-01 12:02"), actor=admin)
    services.schedule_set_enabled(schedule=schedule, enabled=True, now=at("2026-05-01 12:03"), actor=admin)

    assert entries()[1:] == [("disable", "admin", "alice", {"enabled": [True, False]}),
                             ("enable", "admin", "alice", {"enabled": [False, True]})]


def test_a_system_disable_says_why(make_schedule):
    schedule = make_schedule(now=at("2026-05-01 12:00"))
    services.schedule_set_enabled(schedule=schedule, enabled=False, now=at("2026-05-01 12:01"),
                                  reason="Its channel group “News” was deleted.")
    assert entries()[-1] == ("disable", "system", "", {"enabled": [True, False],
                                                        "reason": "Its channel group “News” was deleted."})


def test_it_keeps_the_entries_of_a_deleted_schedule_with_its_name(make_schedule, alice):
    schedule = make_schedule(now=at("2026-05-01 12:00"), name="Nightly")
    services.schedule_delete(schedule=schedule, now=at("2026-05-01 13:00"), actor=Actor(Via.PAGE, alice))

    assert ScheduleAuditEntry.objects.count() == 2
    deleted = ScheduleAuditEntry.objects.get(action="delete")
    assert (deleted.schedule, deleted.schedule_name, deleted.actor_name) == (None, "Nightly", "alice")
    assert deleted.changes["name"] == ["Nightly", None]
    assert ScheduleAuditEntry.objects.get(action="create").schedule is None


def test_it_records_run_now(make_schedule, alice):
    schedule = make_schedule(now=at("2026-05-01 12:00"))
    services.schedule_run_now(schedule=schedule, now=at("2026-05-01 12:30"), actor=Actor(Via.PAGE, alice))
    assert entries()[-1] == ("run_now", "page", "alice", {})


def test_a_forced_run_now_says_it_was_forced(make_schedule, alice):
    schedule = make_schedule(now=at("2026-05-01 12:00"))
    services.schedule_run_now(schedule=schedule, now=at("2026-05-01 12:30"), force=True, actor=Actor(Via.API, alice))
    assert entries()[-1] == ("run_now", "api", "alice", {"forced": True})


def test_unticking_enabled_in_the_editor_records_a_disable(make_schedule, alice):
    schedule = make_schedule(now=at("2026-05-01 12:00"))
    schedule.enabled = False
    services.schedule_save(schedule=schedule, now=at("2026-05-01 12:05"), actor=Actor(Via.PAGE, alice))
    assert entries()[-1] == ("disable", "page", "alice", {"enabled": [True, False]})


def test_enabling_or_disabling_selected_schedules_records_who_did_it(make_schedule, alice):
    make_schedule(now=at("2026-05-01 12:00"), enabled=False)
    admin = Actor(Via.ADMIN, alice)
    for enabled in (True, False):
        services.schedule_set_enabled_many(schedules=ScheduledTask.objects.all(), enabled=enabled,
                                           now=at("2026-05-01 12:05"), actor=admin)
    assert [entry[:3] for entry in entries()[1:]] == [("enable", "admin", "alice"), ("disable", "admin", "alice")]
