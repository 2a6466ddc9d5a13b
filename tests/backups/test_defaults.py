"""One list of backup defaults (backups.tasks.DEFAULT_PARAMS): a new backup schedule keeps 30 days with
clean-up on, whether it comes from the schedule editor, /api/backup_config or the data migration, and the
summary, the params form and the job handler read the same values."""

import datetime as dt
import importlib

import pytest
from django.apps import apps

from backups import handlers
from backups.services.making import BackupParams
from backups.tasks import DEFAULT_NAME, DEFAULT_PARAMS, DEFAULT_TIME, TASK_TYPE, summarize_params
from scheduling import registry
from scheduling.models import ScheduledTask
from tests.api_clients import ALL_ACTIONS, token_client, user_with
from tests.factories import UserFactory, grant

migration = importlib.import_module("backups.migrations.0003_default_backup_schedule")
EDITOR = "/schedules/new?task_type=DATABASE_BACKUP"
HTMX = {"HTTP_HX_REQUEST": "true"}


def test_the_defaults_keep_30_days_with_clean_up_on():
    assert DEFAULT_PARAMS == {"backup_type": "full", "retention_days": 30, "cleanup_old": True, "force_backup": False,
                              "copy_offsite": True}


def test_the_params_form_completes_missing_params_with_the_defaults():
    assert registry.get(TASK_TYPE).clean_params({}) == DEFAULT_PARAMS


def test_the_job_handler_completes_missing_params_with_the_defaults():
    assert handlers.parse_params({}) == BackupParams(**DEFAULT_PARAMS, window_start=None)


def test_the_summary_reads_the_defaults():
    assert summarize_params([DEFAULT_PARAMS, {}, {"cleanup_old": False}]) == [
        "keeps 30 days", "keeps 30 days", "keeps all"]


def test_the_summary_says_one_day_in_the_singular():
    assert summarize_params([{"retention_days": 1}, {"retention_days": 2}]) == ["keeps 1 day", "keeps 2 days"]


@pytest.mark.django_db
def test_a_new_schedule_from_the_editor_starts_at_the_defaults(client):
    client.force_login(grant(UserFactory(), "view_scheduledtask", "add_scheduledtask", "delete_backup"))

    form = client.get(EDITOR, **HTMX).content.decode()

    assert 'name="database_backup-retention_days" value="30"' in form
    assert 'id="id_database_backup-cleanup_old" checked' in form
    # Saved as shown (a checked box is posted as "on"):
    response = client.post("/schedules/new", {
        "name": "Backups", "task_type": TASK_TYPE, "_task_types": TASK_TYPE, "enabled": "on",
        "schedule_kind": "daily", "schedule_time": "03:00", "timezone": "UTC", "grace_minutes": "60",
        "overlap_policy": "skip", "database_backup-backup_type": "full", "database_backup-retention_days": "30",
        "database_backup-cleanup_old": "on", "database_backup-copy_offsite": "on"})
    assert response.status_code == 302, response.content.decode()
    assert ScheduledTask.objects.get().params == DEFAULT_PARAMS


@pytest.mark.django_db
def test_backup_config_creates_the_schedule_with_the_defaults():
    api = token_client(grant(user_with(*ALL_ACTIONS), "delete_backup"))

    assert api.post("/api/backup_config", {"enabled": True}).status_code == 200

    schedule = ScheduledTask.objects.get()
    assert (schedule.name, schedule.schedule_time, schedule.timezone) == (DEFAULT_NAME, DEFAULT_TIME, "UTC")
    assert schedule.params == DEFAULT_PARAMS


# Added after migration 0003 was written: a schedule without it gets the form's initial (copy off-site, on).
LATER = {"copy_offsite"}


def test_the_migrations_frozen_copy_is_the_defaults():
    assert (migration.NAME, migration.TASK_TYPE, migration.AT.strftime("%H:%M"), migration.PARAMS) == (
        DEFAULT_NAME, TASK_TYPE, DEFAULT_TIME, {k: v for k, v in DEFAULT_PARAMS.items() if k not in LATER})
    assert registry.get(TASK_TYPE).clean_params(migration.PARAMS) == DEFAULT_PARAMS


@pytest.mark.django_db
def test_the_migration_creates_the_schedule_with_the_defaults():
    ScheduledTask.objects.all().delete()

    migration.create(apps, None)

    schedule = ScheduledTask.objects.get()
    assert (schedule.name, schedule.schedule_time, schedule.timezone) == (DEFAULT_NAME, DEFAULT_TIME, "UTC")
    assert registry.get(TASK_TYPE).clean_params(schedule.params) == DEFAULT_PARAMS
    assert schedule.next_run_at > dt.datetime.now(dt.timezone.utc)


@pytest.mark.django_db
def test_a_new_schedule_from_the_api_starts_at_the_defaults():
    api = token_client(grant(user_with(*ALL_ACTIONS), "delete_backup"))

    body = api.post("/api/schedules", {"name": "Backups", "task_type": TASK_TYPE, "schedule_time": "03:00"}).json()

    assert body["params"] == DEFAULT_PARAMS
    assert body["params_summary"] == "keeps 30 days"
    assert api.get("/api/backup_config").json()["retention"] == "keeps 30 days"


@pytest.mark.django_db
def test_a_new_schedule_from_the_admin_starts_at_the_defaults(staff_client):
    form = staff_client.get("/admin/scheduling/scheduledtask/add/").content.decode()

    assert 'name="database_backup-retention_days" value="30"' in form
    assert 'id="id_database_backup-cleanup_old" checked' in form
    assert 'name="database_backup-retention_mode" value="days" id="id_database_backup-retention_mode_0" checked' in form
