"""Every rule of a schedule, enforced by the model layer with a message naming the field."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from scheduling.models import ScheduledTask
from tests.factories import ChannelFactory, ChannelGroupFactory

pytestmark = pytest.mark.django_db


def errors_of(**fields) -> dict[str, list[str]]:
    base = {
        "name": "Nightly backup",
        "task_type": "DATABASE_BACKUP",
        "schedule_kind": "daily",
        "schedule_time": "02:00",
        "timezone": "UTC",
        "params": {},
    }
    schedule = ScheduledTask(**{**base, **fields})
    with pytest.raises(ValidationError) as exc_info:
        schedule.full_clean()
    return exc_info.value.message_dict


def valid(**fields) -> ScheduledTask:
    base = {"name": "Nightly backup", "task_type": "DATABASE_BACKUP", "schedule_kind": "daily",
            "schedule_time": "02:00", "timezone": "UTC", "params": {}}
    schedule = ScheduledTask(**{**base, **fields})
    schedule.full_clean()
    return schedule


def test_it_accepts_a_daily_backup_and_fills_default_params():
    schedule = valid()
    assert schedule.params == {"backup_type": "full", "retention_days": 30, "cleanup_old": True, "force_backup": False,
                               "copy_offsite": True}


def test_it_rejects_a_name_with_a_nul_character():
    """PostgreSQL cannot store NUL: the model refuses it, whatever the entrance (a command, an import)."""
    assert errors_of(name="Nightly\x00backup")["name"] == ["Null characters are not allowed."]


def test_it_rejects_an_unknown_kind():
    errors = errors_of(schedule_kind="hourly")
    assert "schedule_kind" in errors


@pytest.mark.parametrize("kind", ["daily", "weekly"])
def test_it_requires_a_time_for_daily_and_weekly(kind):
    errors = errors_of(schedule_kind=kind, schedule_time="", schedule_days=["mon"])
    assert errors["schedule_time"] == [f"A time (HH:MM) is required for {kind} schedules."]


@pytest.mark.parametrize("bad", ["24:00", "7:30", "07:60", "0730", "07:30:00", "noon", "7.30"])
def test_it_rejects_times_that_are_not_hh_mm(bad):
    errors = errors_of(schedule_time=bad)
    assert list(errors) == ["schedule_time"]
    assert "HH:MM" in errors["schedule_time"][0]


def test_it_requires_weekdays_for_weekly():
    errors = errors_of(schedule_kind="weekly", schedule_days=[])
    assert list(errors) == ["schedule_days"]


def test_it_rejects_an_unknown_weekday_naming_it():
    errors = errors_of(schedule_kind="weekly", schedule_days=["mon", "funday"])
    assert "funday" in errors["schedule_days"][0]


def test_it_stores_weekdays_canonically():
    schedule = valid(schedule_kind="weekly", schedule_days=["FRI", "mon", "wed", "mon"])
    assert schedule.schedule_days == ["mon", "wed", "fri"]


def test_it_requires_interval_minutes_for_interval():
    errors = errors_of(schedule_kind="interval", interval_minutes=None)
    assert errors["interval_minutes"] == ["A number of minutes is required for interval schedules."]


@pytest.mark.parametrize("minutes", [0, 1, 4])
def test_it_rejects_intervals_under_five_minutes(minutes):
    errors = errors_of(schedule_kind="interval", interval_minutes=minutes)
    assert list(errors) == ["interval_minutes"]
    assert "5" in errors["interval_minutes"][0]


def test_it_accepts_a_five_minute_interval():
    assert valid(schedule_kind="interval", interval_minutes=5).interval_minutes == 5


@pytest.mark.parametrize("expr", ["* * * *", "61 * * * *", "0 0 * * * *", "hello", "0 0 30 2 *"])
def test_it_rejects_invalid_or_never_firing_cron(expr):
    errors = errors_of(schedule_kind="cron", cron_expr=expr)
    assert list(errors) == ["cron_expr"]


def test_it_requires_a_cron_expression_for_cron():
    errors = errors_of(schedule_kind="cron", cron_expr="")
    assert errors["cron_expr"] == ["A cron expression is required for cron schedules."]


def test_it_normalises_cron_whitespace():
    assert valid(schedule_kind="cron", cron_expr="  */15   *  * * * ").cron_expr == "*/15 * * * *"


@pytest.mark.parametrize("zone", ["Mars/Olympus", "", "utc+2", "Europe/"])
def test_it_rejects_unknown_time_zones(zone):
    errors = errors_of(timezone=zone)
    assert "timezone" in errors


def test_it_accepts_iana_zones():
    assert valid(timezone="Europe/Berlin").timezone == "Europe/Berlin"


@pytest.mark.parametrize(("typed", "stored"), [("europe/berlin", "Europe/Berlin"), (" EUROPE/BERLIN ", "Europe/Berlin"),
                                               ("utc", "UTC"), ("america/argentina/buenos_aires",
                                                                "America/Argentina/Buenos_Aires")])
def test_it_matches_time_zones_whatever_their_case_and_stores_them_as_iana_spells_them(typed, stored):
    assert valid(timezone=typed).timezone == stored


def test_it_refuses_a_zone_that_matches_none_quoting_what_was_typed():
    assert errors_of(timezone="europe/berlinn")["timezone"] == [
        "Unknown time zone 'europe/berlinn'; use an IANA name such as 'Europe/Berlin' or 'UTC'."]


def test_every_entrance_stores_the_zone_as_iana_spells_it():
    """The rule lives in the model's cleaning, so the API and the services (the commands' way in) follow it."""
    from django.utils import timezone as django_timezone

    from scheduling import services
    from tests.api_clients import ALL_ACTIONS, token_client, user_with
    from tests.factories import grant

    schedule = services.schedule_save(schedule=ScheduledTask(
        name="By a command", task_type="DATABASE_BACKUP", schedule_kind="daily", schedule_time="02:00",
        timezone="europe/london"), now=django_timezone.now())
    assert ScheduledTask.objects.get(pk=schedule.pk).timezone == "Europe/London"

    api = token_client(grant(user_with(*ALL_ACTIONS), "delete_backup"))
    response = api.post("/api/schedules", {"name": "By a script", "task_type": "DATABASE_BACKUP",
                                           "schedule_kind": "daily", "schedule_time": "02:00",
                                           "timezone": "asia/tokyo"})
    assert response.status_code == 201, response.content
    assert response.json()["timezone"] == "Asia/Tokyo"
    assert api.patch(f"/api/schedules/{response.json()['id']}", {"timezone": "PACIFIC/AUCKLAND"}).json()[
        "timezone"] == "Pacific/Auckland"
    preview = api.post("/api/schedules/preview", {"schedule_kind": "daily", "schedule_time": "02:00",
                                                  "timezone": "america/new_york"})
    assert preview.json()["timezone"] == "America/New_York"


def test_it_rejects_an_unknown_task_type():
    errors = errors_of(task_type="MAKE_COFFEE")
    assert "MAKE_COFFEE" in errors["task_type"][0]


def test_it_requires_group_id_for_quick_sync_group():
    errors = errors_of(task_type="QUICK_SYNC_GROUP", params={})
    assert errors["params"] == ["Channel group: Choose the channel group to sync."]


def test_it_requires_an_existing_group():
    errors = errors_of(task_type="QUICK_SYNC_GROUP", params={"group_id": 9999})
    assert errors["params"] == ["Channel group: No such channel group; choose one from the list."]


def test_param_errors_name_their_param_for_the_api():
    from common.forms import errors_by_field

    with pytest.raises(ValidationError) as exc_info:
        ScheduledTask(name="Sync", task_type="QUICK_SYNC_GROUP", schedule_kind="daily", schedule_time="25:00",
                      params={"group_id": 9999, "colour": "blue"}).full_clean()

    assert errors_by_field(exc_info.value) == {
        "schedule_time": ["Enter the time as HH:MM in 24-hour format, 00:00 to 23:59 (got '25:00')."],
        "params.colour": ["colour: unknown parameter (allowed: group_id)."],
        "params.group_id": ["Channel group: No such channel group; choose one from the list."],
    }


def test_it_accepts_a_quick_sync_of_an_existing_group():
    group = ChannelGroupFactory(name="News")
    ChannelFactory(group=group)
    schedule = valid(task_type="QUICK_SYNC_GROUP", params={"group_id": str(group.pk)})
    assert schedule.params == {"group_id": group.pk}


def test_it_rejects_unknown_params():
    errors = errors_of(params={"retention_days": 7, "colour": "blue"})
    assert errors["params"][0].startswith("colour: unknown parameter")


@pytest.mark.parametrize(
    "params, message",
    [
        ({"retention_days": 0}, "Retention (days): Ensure this value is greater than or equal to 1."),
        ({"retention_days": 3651}, "Retention (days): Ensure this value is less than or equal to 3650."),
        ({"retention_days": 7.5}, "Retention (days): Enter a whole number."),
        ({"retention_days": True}, "Retention (days): Enter a whole number."),
        ({"backup_type": "partial"},
         "Backup type: Select a valid choice. partial is not one of the available choices."),
        ({"cleanup_old": "yes"}, "Delete old backups: must be true or false (got 'yes')."),
        ("not an object", "Parameters must be a JSON object."),
    ],
)
def test_it_validates_backup_params(params, message):
    assert errors_of(params=params)["params"] == [message]


def test_it_coerces_a_number_given_as_text():
    assert valid(params={"retention_days": "7"}).params["retention_days"] == 7


def test_it_reports_every_bad_field_at_once():
    errors = errors_of(schedule_time="25:00", timezone="Nowhere/Land", task_type="NOPE")
    assert {"schedule_time", "timezone", "task_type"} <= set(errors)


def test_it_clears_fields_that_do_not_belong_to_the_kind():
    schedule = valid(schedule_kind="interval", interval_minutes=15, schedule_time="04:00",
                     schedule_days=["mon"], cron_expr="0 4 * * *")
    assert (schedule.schedule_time, schedule.schedule_days, schedule.cron_expr) == ("", [], "")
    assert schedule.interval_minutes == 15


def test_it_requires_a_name():
    assert "name" in errors_of(name="")


@pytest.mark.parametrize("minutes", [0, 4])
def test_it_rejects_a_grace_period_too_short_to_ever_run(minutes):
    assert errors_of(grace_minutes=minutes)["grace_minutes"] == [
        "Ensure this value is greater than or equal to 5."]


def test_it_rejects_a_group_id_of_non_ascii_digits():
    errors = errors_of(task_type="QUICK_SYNC_GROUP", params={"group_id": "²"})
    assert errors["params"] == ["Channel group: No such channel group; choose one from the list."]


def test_a_free_key_is_found_past_keys_that_only_share_its_start():
    for name in ["News daily", "News daily", "News daily extra", "News dailyx"]:
        ScheduledTask(name=name, task_type="DATABASE_BACKUP", schedule_kind="interval", interval_minutes=60,
                      anchor_at=dt.datetime(2026, 5, 1, tzinfo=dt.timezone.utc)).save()

    keys = sorted(ScheduledTask.objects.values_list("key", flat=True))

    assert keys == ["news-daily", "news-daily-2", "news-daily-extra", "news-dailyx"]
    assert ScheduledTask(name="News daily").free_key("News daily") == "news-daily-3"


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's plan")
def test_finding_a_free_key_reads_the_key_index_not_every_schedule():
    """A LIKE (key__startswith) read all 100,000 schedules: 20-70 ms a save, and the scheduler benchmark's probes
    were created seconds after their windows (docs/benchmarks.md, the loop's lateness)."""
    with CaptureQueriesContext(connection) as captured:
        ScheduledTask(name="News daily").free_key("News daily")
    [query] = captured.captured_queries

    with connection.cursor() as cursor:
        plan = " ".join(str(row) for row in cursor.execute(f"EXPLAIN QUERY PLAN {query['sql']}").fetchall())

    assert "INDEX" in plan and "SCAN scheduled_tasks" not in plan, plan
