"""/api/backup_config: the old auto-backup settings over the backup schedule the /backups page shows."""

import datetime as dt

import pytest

from common.actors import Via
from scheduling import services
from scheduling.models import ScheduleAuditEntry, ScheduledTask
from tests.api_clients import ALL_ACTIONS, token_client, user_with
from tests.factories import grant

pytestmark = pytest.mark.django_db

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen(time_machine):
    time_machine.move_to(NOW, tick=False)


@pytest.fixture
def api(db):
    # May delete backups too: the schedule it creates cleans up old backups, which needs it.
    return token_client(grant(user_with(*ALL_ACTIONS), "delete_backup"))


def backup_schedule(*, now=NOW, **fields) -> ScheduledTask:
    base = {"name": "Backups", "task_type": "DATABASE_BACKUP", "schedule_kind": "daily", "schedule_time": "03:00",
            "params": {"retention_days": 10}}
    return services.schedule_save(schedule=ScheduledTask(**{**base, **fields}), now=now)


def test_it_answers_defaults_when_there_is_no_backup_schedule(api):
    response = api.get("/api/backup_config")

    assert response.status_code == 200
    assert response.json() == {"enabled": False, "schedule_time": "02:00", "retention_days": 30,
                               "check_interval": 3600, "schedule_id": None, "timezone": "UTC",
                               "retention": "keeps 30 days", "description": "No backup schedule yet."}


def test_it_reads_the_oldest_backup_schedule(api):
    oldest = backup_schedule(now=NOW - dt.timedelta(days=2))
    backup_schedule(name="Newer", schedule_time="05:00", now=NOW - dt.timedelta(days=1))

    body = api.get("/api/backup_config").json()

    assert body == {"enabled": True, "schedule_time": "03:00", "retention_days": 10, "check_interval": 3600,
                    "schedule_id": oldest.pk, "timezone": "UTC", "retention": "keeps 10 days",
                    "description": "Every day at 03:00 (UTC)"}


def test_it_reads_the_schedule_the_backups_page_shows(api):
    backup_schedule(name="Old, off", enabled=False, now=NOW - dt.timedelta(days=2))
    running = backup_schedule(name="Running", schedule_time="05:00", now=NOW - dt.timedelta(days=1))

    assert api.get("/api/backup_config").json()["schedule_id"] == running.pk


def test_it_creates_the_daily_backup_schedule_when_there_is_none(api):
    response = api.post("/api/backup_config", {"enabled": True, "schedule_time": "02:30", "retention_days": 14,
                                               "check_interval": 600})

    assert response.status_code == 200
    schedule = ScheduledTask.objects.get()
    assert (schedule.name, schedule.task_type, schedule.schedule_kind, schedule.schedule_time, schedule.timezone) == \
        ("Daily database backup", "DATABASE_BACKUP", "daily", "02:30", "UTC")
    assert schedule.params["retention_days"] == 14
    assert schedule.params["cleanup_old"]  # as the page's "Configure Schedule" and the migration make it
    assert schedule.next_run_at == dt.datetime(2026, 5, 2, 2, 30, tzinfo=UTC)
    assert response.json() == {"enabled": True, "schedule_time": "02:30", "retention_days": 14, "check_interval": 600,
                               "schedule_id": schedule.pk, "timezone": "UTC", "retention": "keeps 14 days",
                               "description": "Every day at 02:30 (UTC)"}
    [entry] = ScheduleAuditEntry.objects.all()
    assert (entry.action, entry.via) == ("create", Via.API)


def test_it_changes_only_what_is_sent_and_keeps_a_weekly_schedule_weekly(api):
    schedule = backup_schedule(schedule_kind="weekly", schedule_days=["mon", "thu"], timezone="Europe/Berlin",
                               params={"retention_days": 10, "cleanup_old": True})

    body = api.post("/api/backup_config", {"schedule_time": "04:15"}).json()

    schedule.refresh_from_db()
    assert (schedule.schedule_kind, schedule.schedule_days, schedule.schedule_time, schedule.timezone) == \
        ("weekly", ["mon", "thu"], "04:15", "Europe/Berlin")
    assert schedule.params == {"backup_type": "full", "retention_days": 10, "cleanup_old": True, "force_backup": False,
                               "copy_offsite": True}
    assert body["description"] == "Every Mon, Thu at 04:15 (Europe/Berlin)"
    entry = ScheduleAuditEntry.objects.filter(via=Via.API).get()
    assert entry.changes == {"schedule_time": ["03:00", "04:15"]}


def test_it_makes_an_interval_schedule_daily_when_given_a_time(api):
    schedule = backup_schedule(schedule_kind="interval", interval_minutes=60, schedule_time="")

    api.post("/api/backup_config", {"schedule_time": "01:00"})

    schedule.refresh_from_db()
    assert (schedule.schedule_kind, schedule.schedule_time, schedule.interval_minutes) == ("daily", "01:00", None)


def test_it_disables_and_sets_the_retention(api):
    schedule = backup_schedule()

    body = api.post("/api/backup_config", {"enabled": False, "retention_days": 3}).json()

    schedule.refresh_from_db()
    assert (schedule.enabled, schedule.next_run_at, schedule.params["retention_days"]) == (False, None, 3)
    assert (body["enabled"], body["retention_days"]) == (False, 3)


@pytest.mark.parametrize("payload, field", [
    ({"schedule_time": "25:00"}, "schedule_time"),
    ({"retention_days": 0}, "retention_days"),
    ({"retention_days": "30"}, "retention_days"),
    ({"check_interval": 0}, "check_interval"),
    ({"check_interval": -5}, "check_interval"),
    ({"check_interval": "hourly"}, "check_interval"),
    ({"enabled": "yes"}, "enabled"),
    ({"backup_hour": 2}, "backup_hour"),
])
@pytest.mark.parametrize("existing", [True, False])
def test_it_rejects_invalid_settings_naming_the_field(api, payload, field, existing):
    if existing:
        backup_schedule()

    response = api.post("/api/backup_config", payload)

    assert response.status_code == 400
    assert list(response.json()["errors"]) == [field]
    assert ScheduledTask.objects.count() == int(existing)
    assert not ScheduleAuditEntry.objects.filter(via=Via.API).exists()


def test_it_answers_malformed_bodies_like_the_schedules_api(api):
    assert api.post("/api/backup_config", "[]").json() == {"errors": {"body": ["The body must be a JSON object."]}}
    assert api.post("/api/backup_config", "x=1", content_type="application/x-www-form-urlencoded").status_code == 415


def test_it_needs_view_to_read_and_add_or_change_to_write(db):
    assert token_client(user_with("add", "change")).get("/api/backup_config").status_code == 403
    assert token_client(user_with("view")).post("/api/backup_config", {"enabled": True}).status_code == 403
    assert token_client(user_with("change")).post("/api/backup_config", {"enabled": True}).status_code == 403
    # The schedule it creates deletes old backups: that needs backups.delete_backup too.
    assert token_client(grant(user_with("add"), "delete_backup")).post(
        "/api/backup_config", {"enabled": True}).status_code == 200
    # The schedule exists now: changing it needs change, not add.
    assert token_client(user_with("add")).post("/api/backup_config", {"enabled": False}).status_code == 403
    assert token_client(user_with("change")).post("/api/backup_config", {"enabled": False}).status_code == 200


def test_it_answers_401_to_anonymous_requests(client):
    assert client.get("/api/backup_config").status_code == 401
    assert client.post("/api/backup_config", {}, content_type="application/json").status_code == 401


# --- check_interval: kept for old scripts, explained as what it is ----------------------------------------

def test_it_still_takes_check_interval_from_old_scripts_and_stores_nothing_of_it(api):
    schedule = backup_schedule()
    before = ScheduledTask.objects.get(pk=schedule.pk).updated_at

    response = api.post("/api/backup_config", {"check_interval": 600})

    assert response.status_code == 200 and response.json()["check_interval"] == 600
    assert ScheduledTask.objects.get(pk=schedule.pk).updated_at == before  # nothing to save
    assert not ScheduleAuditEntry.objects.filter(via=Via.API).exists()
    assert api.get("/api/backup_config").json()["check_interval"] == 3600  # never stored


def test_the_document_explains_check_interval_as_deprecated(user_client):
    schemas = user_client.get("/api/openapi.json").json()["components"]["schemas"]

    sent = schemas["BackupConfigIn"]["properties"]["check_interval"]
    answered = schemas["BackupConfigOut"]["properties"]["check_interval"]

    assert sent["deprecated"] is True and answered["deprecated"] is True
    assert sent["description"].startswith("Deprecated, and has no effect.")
    assert "The scheduler now fires each window at its time" in sent["description"]
    assert "never stored" in sent["description"]
    assert "else 3600 (the old default)" in answered["description"]
