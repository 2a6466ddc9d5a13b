"""The retention params of a backup schedule: by age or by calendar, their bounds and messages, what is
stored, the summary in words, and what reaches the job (the schedule's zone for a calendar rule)."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from backups import handlers, retention, tasks
from backups.services.making import BackupParams
from jobs.registry import PermanentJobError
from scheduling import registry
from scheduling.models import RunTrigger, ScheduledTask, ScheduleRun

UTC = dt.timezone.utc
CALENDAR = {"retention_mode": "calendar", "keep_last": 3, "keep_daily": 7, "keep_weekly": 4, "keep_monthly": 6}


def clean(params: dict) -> dict:
    return registry.get("DATABASE_BACKUP").clean_params(params)


def errors(params: dict) -> dict:
    with pytest.raises(ValidationError) as raised:
        clean(params)
    return {error.param: error.message for error in raised.value.error_list}


def test_by_age_stores_what_it_always_stored():
    assert clean({"retention_days": 14}) == {"backup_type": "full", "retention_days": 14, "cleanup_old": True,
                                             "force_backup": False, "copy_offsite": True}
    assert clean({"retention_mode": "days", "keep_last": 9}) == tasks.DEFAULT_PARAMS


def test_by_calendar_stores_its_own_keys_completed_with_their_defaults():
    assert clean({"retention_mode": "calendar"}) == {
        "backup_type": "full", "retention_mode": "calendar", "keep_last": 3, "keep_daily": 7, "keep_weekly": 4,
        "keep_monthly": 6, "cleanup_old": True, "force_backup": False, "copy_offsite": True}
    assert clean({**CALENDAR, "keep_daily": 0})["keep_daily"] == 0


@pytest.mark.parametrize("params, param, message", [
    ({"retention_mode": "hourly"}, "retention_mode", "Retention: Select a valid choice. hourly is not one of the "
                                                     "available choices."),
    ({**CALENDAR, "keep_last": -1}, "keep_last", "Keep the last: Ensure this value is greater than or equal to 0."),
    ({**CALENDAR, "keep_daily": 3651}, "keep_daily", "Daily: Ensure this value is less than or equal to 3650."),
    ({**CALENDAR, "keep_weekly": 521}, "keep_weekly", "Weekly: Ensure this value is less than or equal to 520."),
    ({**CALENDAR, "keep_monthly": 121}, "keep_monthly", "Monthly: Ensure this value is less than or equal to 120."),
    ({**CALENDAR, "keep_monthly": "6"}, "keep_monthly", None),  # the API's JSON: coerced like every form input
    ({"retention_mode": "calendar", "keep_last": 0, "keep_daily": 0, "keep_weekly": 0, "keep_monthly": 0},
     "keep_last", "Keep the last: A calendar retention must keep something: set at least one of Keep the last, "
                  "Daily, Weekly or Monthly above 0."),
])
def test_each_bound_is_checked_and_named(params, param, message):
    if message is None:
        assert clean(params)["keep_monthly"] == 6
        return
    assert errors(params) == {param: message}


def test_the_summary_says_the_rule():
    assert tasks.summarize_params([
        {"retention_days": 30, "cleanup_old": True}, CALENDAR, {**CALENDAR, "keep_last": 0, "keep_weekly": 0},
        {**CALENDAR, "cleanup_old": False}, {"retention_mode": "calendar", "keep_last": 0, "keep_daily": 0,
                                             "keep_weekly": 0, "keep_monthly": 0},
    ]) == ["keeps 30 days", "keeps last 3, 7 daily, 4 weekly, 6 monthly", "keeps 7 daily, 6 monthly", "keeps all", ""]


def test_the_rule_of_the_params_is_in_the_schedules_zone():
    assert tasks.retention_rule({"retention_days": 9}, zone="Asia/Tokyo") == retention.days_rule(9)
    assert tasks.retention_rule(CALENDAR, zone="Asia/Tokyo") == retention.calendar_rule(
        last=3, daily=7, weekly=4, monthly=6, zone="Asia/Tokyo")


@pytest.mark.django_db
def test_a_calendar_schedules_jobs_carry_its_zone_and_a_days_schedules_do_not():
    now = dt.datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    calendar = ScheduledTask(task_type="DATABASE_BACKUP", timezone="Europe/Berlin", params=clean(CALENDAR))
    by_age = ScheduledTask(task_type="DATABASE_BACKUP", timezone="Europe/Berlin", params=clean({}))

    [request] = tasks.job_requests(ScheduleRun(schedule=calendar, due_at=now, trigger=RunTrigger.MANUAL), now=now)
    assert request.params["timezone"] == "Europe/Berlin"
    assert handlers.parse_params(request.params).rule == retention.calendar_rule(
        last=3, daily=7, weekly=4, monthly=6, zone="Europe/Berlin")
    [request] = tasks.job_requests(ScheduleRun(schedule=by_age, due_at=now, trigger=RunTrigger.MANUAL), now=now)
    assert "timezone" not in request.params
    assert handlers.parse_params(request.params).rule == retention.days_rule(30)


@pytest.mark.parametrize("zone", ["Mars/Olympus", 5, ""])
def test_a_job_with_a_zone_that_does_not_exist_fails_at_once(zone):
    with pytest.raises(PermanentJobError, match="timezone: .* is not a known IANA time zone"):
        handlers.parse_params({**CALENDAR, "timezone": zone})


def test_the_job_fills_in_the_defaults_of_either_rule():
    assert handlers.parse_params({}) == BackupParams(backup_type="full", retention_days=30, cleanup_old=True,
                                                     force_backup=False)
    assert handlers.parse_params({"retention_mode": "calendar"}).rule == retention.calendar_rule(
        last=3, daily=7, weekly=4, monthly=6, zone="UTC")


@pytest.mark.django_db
def test_an_emptied_count_in_the_editor_keeps_none_of_that_kind(client):
    from tests.factories import UserFactory, grant

    client.force_login(grant(UserFactory(), "add_scheduledtask", "delete_backup"))
    response = client.post("/schedules/new", {
        "name": "Backups", "task_type": "DATABASE_BACKUP", "_task_types": "DATABASE_BACKUP", "schedule_kind": "daily",
        "schedule_time": "02:00", "timezone": "UTC", "grace_minutes": "60", "overlap_policy": "skip",
        "database_backup-backup_type": "full", "database_backup-retention_mode": "calendar",
        "database_backup-retention_days": "30", "database_backup-keep_last": "2", "database_backup-keep_daily": "",
        "database_backup-keep_weekly": "", "database_backup-keep_monthly": "12", "database_backup-cleanup_old": "on"})

    assert response.status_code == 302
    params = ScheduledTask.objects.get().params
    assert {key: params[key] for key in ("keep_last", "keep_daily", "keep_weekly", "keep_monthly")} == {
        "keep_last": 2, "keep_daily": 0, "keep_weekly": 0, "keep_monthly": 12}
    assert "retention_days" not in params
