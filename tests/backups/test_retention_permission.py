"""Retention that deletes backups needs backups.delete_backup, at every entrance: the service, the schedule
editor, the API (create, patch), /api/backup_config and the admin. Without it: a 403 (API) or an error under
the param (pages, admin) naming the permission, and nothing saved. With it, or as the system or a command:
saved. Turning clean-up off, or keeping more, needs nothing more than editing the schedule."""

import datetime as dt

import pytest
from django.urls import reverse

from common.actors import COMMAND, SYSTEM, Actor, Via
from scheduling import services
from scheduling.models import ScheduleAuditEntry, ScheduledTask
from scheduling.registry import ParamsChangeRefused
from tests.api_clients import token_client
from tests.factories import BackupFactory, UserFactory, grant

pytestmark = pytest.mark.django_db

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
PERMISSION = "backups.delete_backup"
SCHEDULES = ("view_scheduledtask", "add_scheduledtask", "change_scheduledtask")
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def frozen(time_machine):
    time_machine.move_to(NOW, tick=False)


@pytest.fixture
def backups(db):
    """Good backups 40, 20, 10 and 1 days old (rows only: deciding reads no file)."""
    return {days: BackupFactory(started_at=NOW - dt.timedelta(days=days)) for days in (40, 20, 10, 1)}


@pytest.fixture
def editor(db):
    """May create and edit schedules, not delete backups."""
    return grant(UserFactory(username="eve"), *SCHEDULES)


@pytest.fixture
def keeper(db):
    """May create and edit schedules and delete backups."""
    return grant(UserFactory(username="alice"), *SCHEDULES, "delete_backup")


def backup_schedule(**params) -> ScheduledTask:
    """A backup schedule keeping 30 days, made by the system (as the data migration makes the default one)."""
    return services.schedule_save(schedule=ScheduledTask(
        name="Backups", task_type="DATABASE_BACKUP", schedule_kind="daily", schedule_time="02:00",
        params={"retention_days": 30, "cleanup_old": True, **params}), now=NOW)


def user_audit() -> list:
    return list(ScheduleAuditEntry.objects.exclude(via=Via.SYSTEM))


# --- the service -------------------------------------------------------------------------------------

def test_the_service_refuses_a_user_who_may_not_delete_backups_and_saves_nothing(editor, backups):
    schedule = backup_schedule()
    schedule.params = {"retention_days": 7, "cleanup_old": True}

    with pytest.raises(ParamsChangeRefused) as refused:
        services.schedule_save(schedule=schedule, now=NOW, actor=Actor(Via.PAGE, editor))

    assert refused.value.param == "retention_days"
    assert refused.value.permission == PERMISSION
    assert refused.value.message == (
        "This retention (keeps 7 days) would delete 2 backups that the current one (keeps 30 days) keeps "
        f"(#{backups[20].pk}, #{backups[10].pk}), which needs the permission “backups.delete_backup”; you do not "
        "have it. Keep the retention as it is, or ask an administrator to grant it.")
    schedule.refresh_from_db()
    assert schedule.params["retention_days"] == 30
    assert user_audit() == []


@pytest.mark.parametrize("actor", [SYSTEM, COMMAND], ids=["system", "command"])
def test_the_system_and_commands_without_a_user_are_not_asked(actor, backups):
    schedule = backup_schedule()
    schedule.params = {"retention_days": 1, "cleanup_old": True}

    services.schedule_save(schedule=schedule, now=NOW, actor=actor)

    schedule.refresh_from_db()
    assert schedule.params["retention_days"] == 1


def test_creating_a_schedule_that_cleans_up_is_turning_clean_up_on(editor):
    with pytest.raises(ParamsChangeRefused) as refused:
        services.schedule_save(schedule=ScheduledTask(name="Mine", task_type="DATABASE_BACKUP", schedule_time="03:00"),
                               now=NOW, actor=Actor(Via.API, editor))

    assert refused.value.param == "cleanup_old"
    assert "backups.delete_backup" in refused.value.message
    assert not ScheduledTask.objects.exists()


@pytest.mark.parametrize("params", [
    {"retention_days": 60, "cleanup_old": True},  # keeps more
    {"retention_days": 25, "cleanup_old": True},  # keeps less, but no backup is between 25 and 30 days old
    {"retention_days": 1, "cleanup_old": False},  # clean-up off
    {"retention_mode": "calendar", "keep_last": 100},  # keeps more, by calendar
], ids=["more", "less-but-none-deleted", "off", "calendar-more"])
def test_what_deletes_no_backup_the_rule_in_force_keeps_needs_nothing_more(editor, backups, params):
    schedule = backup_schedule()
    schedule.params = params

    services.schedule_save(schedule=schedule, now=NOW, actor=Actor(Via.PAGE, editor))

    schedule.refresh_from_db()
    assert {key: schedule.params.get(key) for key in params} == params


@pytest.mark.parametrize("params", [
    {"retention_days": 1, "cleanup_old": True},
    {"retention_mode": "calendar", "keep_last": 1, "keep_daily": 0, "keep_weekly": 0, "keep_monthly": 0},
], ids=["days", "calendar"])
def test_a_user_who_may_delete_backups_may_set_any_retention(keeper, backups, params):
    schedule = backup_schedule()
    schedule.params = params

    services.schedule_save(schedule=schedule, now=NOW, actor=Actor(Via.PAGE, keeper))

    assert ScheduledTask.objects.get().params == {"backup_type": "full", "cleanup_old": True, "force_backup": False,
                                                  "copy_offsite": True, **params}


def test_turning_clean_up_on_is_refused_even_when_it_would_delete_nothing_yet(editor):
    schedule = backup_schedule(cleanup_old=False)
    schedule.params = {"retention_days": 3650, "cleanup_old": True}

    with pytest.raises(ParamsChangeRefused, match="Deleting old backups needs the permission “backups.delete_backup”"):
        services.schedule_save(schedule=schedule, now=NOW, actor=Actor(Via.PAGE, editor))


def test_a_calendar_zone_that_moves_backups_into_one_day_is_a_change_of_rule(editor):
    # Nov 30 22:30 and 23:30 UTC: in UTC, Nov 30's newest and the oldest backup, both kept. In Berlin the
    # second is Dec 1 00:30, the day of the run's own backup (Dec 1 13:00 there), which is newer.
    first, second = (BackupFactory(started_at=dt.datetime(2026, 11, 30, h, 30, tzinfo=UTC)) for h in (22, 23))
    schedule = backup_schedule(retention_mode="calendar", keep_last=0, keep_daily=3, keep_weekly=0, keep_monthly=0)
    schedule.timezone = "Europe/Berlin"

    with pytest.raises(ParamsChangeRefused) as refused:
        services.schedule_save(schedule=schedule, now=NOW, actor=Actor(Via.PAGE, editor))

    assert (refused.value.param, refused.value.field, refused.value.api_field) == (None, "timezone", "timezone")
    assert f"#{second.pk}" in refused.value.message and f"#{first.pk}" not in refused.value.message


# --- the editor page -------------------------------------------------------------------------------------

def form(**fields) -> dict:
    return {"name": "Backups", "task_type": "DATABASE_BACKUP", "_task_types": "DATABASE_BACKUP",
            "schedule_kind": "daily", "schedule_time": "02:00", "timezone": "UTC", "enabled": "on",
            "grace_minutes": "60", "overlap_policy": "skip", "database_backup-backup_type": "full",
            "database_backup-retention_mode": "days", "database_backup-retention_days": "30",
            "database_backup-cleanup_old": "on", **fields}


def test_the_editor_refuses_a_new_schedule_with_clean_up_under_its_checkbox(client, editor):
    client.force_login(editor)

    response = client.post("/schedules/new", form(), **HTMX)

    assert response.status_code == 200
    errors = response.context["form"].errors
    assert list(errors) == ["database_backup-cleanup_old"]
    assert "“backups.delete_backup”" in errors["database_backup-cleanup_old"][0]
    assert 'id="id_database_backup-cleanup_old_error"' in response.content.decode()
    assert not ScheduledTask.objects.exists()

    # Without clean-up, the same user creates it.
    assert client.post("/schedules/new", form(**{"database_backup-cleanup_old": ""})).status_code == 302
    assert ScheduledTask.objects.get().params["cleanup_old"] is False


def test_the_editor_refuses_a_retention_that_deletes_under_its_field(client, editor, backups):
    schedule = backup_schedule()
    client.force_login(editor)

    response = client.post(f"/schedules/{schedule.pk}/edit", form(**{"database_backup-retention_days": "7"}), **HTMX)

    errors = response.context["form"].errors
    assert list(errors) == ["database_backup-retention_days"]
    assert "would delete 2 backups" in errors["database_backup-retention_days"][0]
    assert "“backups.delete_backup”" in errors["database_backup-retention_days"][0]
    schedule.refresh_from_db()
    assert schedule.params["retention_days"] == 30
    assert user_audit() == []

    # Keeping more is the user's to decide.
    assert client.post(f"/schedules/{schedule.pk}/edit",
                       form(**{"database_backup-retention_days": "90"})).status_code == 302
    schedule.refresh_from_db()
    assert schedule.params["retention_days"] == 90


def test_the_editor_saves_a_retention_that_deletes_for_a_user_who_may_delete_backups(client, keeper, backups):
    schedule = backup_schedule()
    client.force_login(keeper)

    response = client.post(f"/schedules/{schedule.pk}/edit", form(**{"database_backup-retention_days": "7"}))

    assert response.status_code == 302
    schedule.refresh_from_db()
    assert schedule.params["retention_days"] == 7


def test_the_editor_says_it_when_the_backups_changed_between_the_form_and_the_save(client, editor, monkeypatch):
    """The form checked with the backups as they were; the service checks again, in its transaction."""
    schedule = backup_schedule()
    client.force_login(editor)
    from scheduling import forms

    monkeypatch.setattr(forms.ScheduleForm, "_check_change", lambda self: None)  # as if nothing was deletable then
    BackupFactory(started_at=NOW - dt.timedelta(days=20))

    response = client.post(f"/schedules/{schedule.pk}/edit", form(**{"database_backup-retention_days": "7"}), **HTMX)

    assert "would delete 1 backup that" in response.context["form"].errors["database_backup-retention_days"][0]
    schedule.refresh_from_db()
    assert schedule.params["retention_days"] == 30


# --- the API -------------------------------------------------------------------------------------------------

BACKUP = {"name": "Backups", "task_type": "DATABASE_BACKUP", "schedule_kind": "daily", "schedule_time": "02:00"}


def test_the_api_answers_403_naming_the_param_and_the_permission_on_create(editor):
    api = token_client(editor)

    response = api.post("/api/schedules", BACKUP)

    assert response.status_code == 403
    errors = response.json()["errors"]
    assert list(errors) == ["params.cleanup_old"]
    assert "“backups.delete_backup”" in errors["params.cleanup_old"][0]
    assert not ScheduledTask.objects.exists()
    assert api.post("/api/schedules", {**BACKUP, "params": {"cleanup_old": False}}).status_code == 201


def test_the_api_creates_it_for_a_user_who_may_delete_backups(keeper):
    assert token_client(keeper).post("/api/schedules", BACKUP).status_code == 201


def test_the_api_answers_403_on_a_patch_that_would_delete(editor, keeper, backups):
    schedule = backup_schedule()

    response = token_client(editor).patch(f"/api/schedules/{schedule.pk}",
                                          {"params": {"retention_days": 7, "cleanup_old": True}})

    assert response.status_code == 403
    assert list(response.json()["errors"]) == ["params.retention_days"]
    schedule.refresh_from_db()
    assert schedule.params["retention_days"] == 30
    allowed = token_client(keeper).patch(f"/api/schedules/{schedule.pk}",
                                         {"params": {"retention_days": 7, "cleanup_old": True}})
    assert allowed.status_code == 200
    assert allowed.json()["params_summary"] == "keeps 7 days"


def test_a_patch_of_other_fields_is_not_asked(editor, backups):
    schedule = backup_schedule(retention_days=1)  # set by the system: deletes much, but nobody changes it now

    response = token_client(editor).patch(f"/api/schedules/{schedule.pk}", {"name": "Renamed"})

    assert response.status_code == 200


# --- /api/backup_config ---------------------------------------------------------------------------------------

def test_backup_config_answers_403_naming_retention_days(editor, keeper, backups):
    backup_schedule()

    response = token_client(editor).post("/api/backup_config", {"retention_days": 7})

    assert response.status_code == 403
    errors = response.json()["errors"]
    assert list(errors) == ["retention_days"]
    assert "“backups.delete_backup”" in errors["retention_days"][0]
    assert ScheduledTask.objects.get().params["retention_days"] == 30
    assert token_client(keeper).post("/api/backup_config", {"retention_days": 7}).status_code == 200
    assert ScheduledTask.objects.get().params["retention_days"] == 7


def test_backup_config_refuses_to_create_the_schedule_that_cleans_up(editor, keeper):
    response = token_client(editor).post("/api/backup_config", {"enabled": True})

    assert response.status_code == 403
    assert "“backups.delete_backup”" in response.json()["errors"]["params.cleanup_old"][0]
    assert not ScheduledTask.objects.exists()
    assert token_client(keeper).post("/api/backup_config", {"enabled": True}).status_code == 200


def test_backup_config_lets_anyone_who_may_change_it_keep_more(editor, backups):
    backup_schedule()

    assert token_client(editor).post("/api/backup_config", {"retention_days": 365}).status_code == 200


# --- the admin -----------------------------------------------------------------------------------------------

def admin_form(**fields) -> dict:
    return {key: value for key, value in form(**fields).items() if key != "_task_types"}


@pytest.fixture
def staff_editor(db):
    """Staff who may edit schedules in the admin, not delete backups."""
    return grant(UserFactory(username="sam", is_staff=True), *SCHEDULES)


def test_the_admin_refuses_under_the_field_and_saves_nothing(client, staff_editor, backups):
    schedule = backup_schedule()
    client.force_login(staff_editor)
    url = reverse("admin:scheduling_scheduledtask_change", args=[schedule.pk])

    response = client.post(url, admin_form(**{"database_backup-retention_days": "7"}))

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == ["database_backup-retention_days"]
    assert "“backups.delete_backup”" in errors["database_backup-retention_days"][0]
    schedule.refresh_from_db()
    assert schedule.params["retention_days"] == 30
    assert user_audit() == []


def test_the_admin_refuses_a_new_schedule_that_cleans_up(client, staff_editor):
    client.force_login(staff_editor)

    response = client.post(reverse("admin:scheduling_scheduledtask_add"), admin_form())

    assert response.status_code == 200
    assert list(response.context["adminform"].form.errors) == ["database_backup-cleanup_old"]
    assert not ScheduledTask.objects.exists()


def test_the_admin_saves_it_for_staff_who_may_delete_backups(client, staff_editor, backups):
    schedule = backup_schedule()
    client.force_login(grant(staff_editor, "delete_backup"))
    url = reverse("admin:scheduling_scheduledtask_change", args=[schedule.pk])

    response = client.post(url, admin_form(**{"database_backup-retention_days": "7"}))

    assert response.status_code == 302
    schedule.refresh_from_db()
    assert schedule.params["retention_days"] == 7
