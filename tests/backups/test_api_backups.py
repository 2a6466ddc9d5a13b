"""The backups API: /api/backups (list, run now), /api/backups/<id> (detail, delete), verify and download."""

import datetime as dt
import hashlib
import os

import pytest
from django.test import Client

from backups.models import Backup, BackupStatus
from backups.services.making import backup_create
from common.actors import Via
from jobs.models import Job, JobStatus
from scheduling import services
from scheduling.models import ScheduleAuditEntry, ScheduledTask, ScheduleRun
from tests.api_clients import queries_for, token_client, user_with, walk_pages
from tests.backups.conftest import NOW, folder_names, sqlite_only, with_file
from tests.factories import BackupFactory, JobFactory

pytestmark = pytest.mark.django_db

BACKUP_ACTIONS = ("view", "add", "change", "delete", "download")
FIELDS = {"id", "status", "purpose", "good", "backup_type", "database_vendor", "database_version", "tool",
          "file_name", "size_bytes", "database_size_bytes", "sha256", "compression", "duration_seconds", "started_at",
          "finished_at", "verified_at", "verify_error", "error", "note", "deleted_at", "restored_at", "drilled_at",
          "drill_outcome", "drill_detail", "offsite_state", "offsite_copied_at", "offsite_error", "job_id",
          "download_url"}
UTC = dt.timezone.utc


@pytest.fixture(autouse=True)
def frozen(time_machine):
    time_machine.move_to(NOW, tick=False)


def with_backups(*actions: str, username: str = "alice"):
    return user_with(*actions, model="backup", app="backups", username=username)


@pytest.fixture
def keeper(db):
    """May do everything with backups (and nothing with schedules)."""
    return with_backups(*BACKUP_ACTIONS)


@pytest.fixture
def api(keeper, backup_dir):
    return token_client(keeper)


@pytest.fixture
def schedule(db):
    return services.schedule_save(schedule=ScheduledTask(name="Nightly backup", task_type="DATABASE_BACKUP",
                                                         schedule_time="02:00", params={"cleanup_old": False}), now=NOW)


def errors_of(response, status=400) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    return response.json()["errors"]


def ids(api, query="") -> list[int]:
    response = api.get(f"/api/backups{query}")
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["items"]]


# --- reads ------------------------------------------------------------------------------------------

def test_it_shows_a_backup_with_the_tables_of_its_copy(api):
    backup = BackupFactory(table_rows={"jobs_job": 12, "auth_user": 2}, applied_migrations=["jobs.0001_initial"],
                           tool="sqlite3 online backup", duration_seconds=0.1)

    response = api.get(f"/api/backups/{backup.pk}")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == FIELDS | {"table_rows", "applied_migrations"}
    assert (body["status"], body["good"], body["file_name"]) == ("completed", True, backup.file_name)
    assert (body["size_bytes"], body["sha256"], body["started_at"]) == (1000, "0" * 64, "2026-11-01T02:00:00Z")
    assert body["download_url"] == f"/api/backups/{backup.pk}/download"
    assert body["table_rows"] == {"jobs_job": 12, "auth_user": 2}
    assert body["applied_migrations"] == ["jobs.0001_initial"]


@pytest.mark.parametrize("fields, good", [
    ({"verified_at": None}, False), ({"verify_error": "The checksum does not match."}, False),
    ({"status": "deleted"}, False), ({}, True)])
def test_it_says_whether_a_backup_is_good(api, fields, good):
    backup = BackupFactory(**fields)

    body = api.get(f"/api/backups/{backup.pk}").json()

    assert body["good"] is good
    assert (body["download_url"] is not None) is (body["status"] == "completed")


def test_it_lists_every_backup_oldest_first_and_filters_by_status_and_purpose(api):
    good = BackupFactory()
    skipped = BackupFactory(status="skipped", note="A verified backup of this window exists.")
    failed = BackupFactory(status="failed", error="Disk full.")
    before_restore = BackupFactory(purpose="pre_restore")
    deleted = BackupFactory(status="deleted")

    body = api.get("/api/backups").json()
    assert [item["id"] for item in body["items"]] == [good.pk, skipped.pk, failed.pk, before_restore.pk, deleted.pk]
    assert set(body["items"][0]) == FIELDS
    assert body["items"][2]["error"] == "Disk full." and body["items"][1]["note"].startswith("A verified backup")
    assert ids(api, "?status=completed") == [good.pk, before_restore.pk]
    assert ids(api, "?status=failed") == [failed.pk]
    assert ids(api, "?purpose=pre_restore") == [before_restore.pk]
    assert ids(api, "?purpose=regular&status=completed") == [good.pk]
    assert ids(api, "?status=running") == []


def test_it_shows_the_offsite_state_of_each_backup(api):
    copied = BackupFactory(offsite_copied_at=NOW, offsite_job=JobFactory(status=JobStatus.COMPLETED))
    waiting = BackupFactory(offsite_job=JobFactory(status=JobStatus.RETRY_WAIT))
    failed = BackupFactory(offsite_job=JobFactory(status=JobStatus.FAILED), offsite_error="rclone: 403")

    states = {item["id"]: (item["offsite_state"], item["offsite_error"]) for item in api.get("/api/backups").json()["items"]}

    assert states == {copied.pk: ("copied", ""), waiting.pk: ("waiting", ""), failed.pk: ("failed", "rclone: 403")}


def test_it_pages_by_keyset_without_counting_and_keeps_the_filters(api):
    completed = [BackupFactory() for _ in range(5)]
    BackupFactory.create_batch(2, status="failed")

    items, pages, last = walk_pages(api, "/api/backups?limit=2&status=completed")
    seen = [item["id"] for item in items]

    assert seen == [backup.pk for backup in completed]
    assert pages == 3
    back = api.get(last["previous"]).json()
    assert [item["id"] for item in back["items"]] == [completed[2].pk, completed[3].pk]


def test_it_lists_in_a_constant_number_of_queries(api):
    def queries_for_list() -> int:
        return queries_for(api, "/api/backups?limit=200")

    BackupFactory(offsite_job=JobFactory(status=JobStatus.QUEUED))
    queries_for_list()  # the token's first use is noted once: not part of the count
    few = queries_for_list()
    for _ in range(20):
        BackupFactory(offsite_job=JobFactory(status=JobStatus.FAILED), job=JobFactory(status=JobStatus.COMPLETED))
        BackupFactory(status="skipped")

    assert queries_for_list() == few


# --- run now -----------------------------------------------------------------------------------------

def test_it_backs_up_now_through_the_backup_schedule(api, keeper, schedule):
    response = api.post("/api/backups")

    assert response.status_code == 202, response.content
    body = response.json()
    run = ScheduleRun.objects.get()
    job = Job.objects.get()
    assert body["run"] == {"id": run.pk, "trigger": "manual", "due_at": "2026-12-01T02:00:05Z", "outcome": "dispatched",
                           "message": "1 job created.", "job_ids": [job.pk]}
    assert body["schedule_id"] == schedule.pk
    assert body["message"].startswith("“Nightly backup” started: 1 job created.")
    assert (job.job_type, job.params["force_backup"]) == ("DATABASE_BACKUP", True)  # Run now always backs up
    assert job.origin_label.endswith("(Run now by alice)")
    [entry] = ScheduleAuditEntry.objects.filter(via=Via.API)
    assert (entry.action, entry.actor, entry.schedule_id) == ("run_now", keeper, schedule.pk)


def test_it_refuses_a_second_run_while_the_first_is_active_unless_forced(api, schedule):
    assert api.post("/api/backups").status_code == 202

    errors = errors_of(api.post("/api/backups"), status=409)

    assert errors == {"__all__": [
        "“Nightly backup” is still busy with an earlier run: 1 job queued (waiting for a worker). A second backup "
        'would be skipped anyway: backups never overlap. Send {"force": true} to run anyway.']}
    assert ScheduleRun.objects.count() == 1
    assert api.post("/api/backups", {"force": True}).status_code == 202
    assert ScheduleRun.objects.count() == 2


@pytest.mark.parametrize("force", [False, True])
def test_it_refuses_to_run_while_a_backup_is_being_made(api, schedule, force):
    running = BackupFactory(status="running", started_at=NOW - dt.timedelta(seconds=30))

    errors = errors_of(api.post("/api/backups", {"force": force}), status=409)

    assert errors == {"__all__": [f"Backup #{running.pk} is being made (started 2026-12-01 01:59:35 UTC); backups "
                                  "never overlap. Wait for it to finish."]}
    assert not ScheduleRun.objects.exists() and not Job.objects.exists()


def test_it_runs_again_once_the_previous_run_finished(api, schedule):
    api.post("/api/backups")
    Job.objects.update(status=JobStatus.COMPLETED)

    assert api.post("/api/backups", {"force": False}).status_code == 202


def test_it_says_there_is_no_backup_schedule_to_run(api):
    errors = errors_of(api.post("/api/backups"), status=409)

    assert errors == {"__all__": ["There is no backup schedule to run. Create one with POST /api/backup_config, or "
                                  "with Configure Schedule on /backups."]}
    assert not Job.objects.exists()


def test_it_runs_now_with_no_body_and_no_content_type(api, schedule):
    """`curl -X POST …/api/backups`."""
    response = api.generic("POST", "/api/backups", b"", content_type="")

    assert response.status_code == 202, response.content


@pytest.mark.parametrize("body, field", [('{"force": "yes"}', "force"), ("[]", "body"), ('{"when": "now"}', "when"),
                                         ("{not json", "body"), ('{"force": NaN}', "body")])
def test_it_refuses_a_run_now_body_it_does_not_understand(api, schedule, body, field):
    assert list(errors_of(api.post("/api/backups", body))) == [field]
    assert not ScheduleRun.objects.exists()


# --- verify ---------------------------------------------------------------------------------------------

@pytest.fixture
def real_backup(backup_dir):
    return backup_create(now=NOW)


@sqlite_only
def test_it_verifies_a_backup_and_records_it(api, real_backup):
    Backup.objects.filter(pk=real_backup.pk).update(verified_at=None)

    response = api.post(f"/api/backups/{real_backup.pk}/verify")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["verified"] is True
    assert body["message"].startswith(f"Backup #{real_backup.pk} verified: its checksum matches and the copy passes "
                                      "its integrity check (")
    assert (body["backup"]["verified_at"], body["backup"]["good"]) == ("2026-12-01T02:00:05Z", True)
    real_backup.refresh_from_db()
    assert real_backup.verified_at == NOW and real_backup.verify_error == ""


@sqlite_only
def test_it_records_and_says_a_failed_verification_in_a_200(api, real_backup, backup_dir):
    path = backup_dir / real_backup.file_name
    path.write_bytes(path.read_bytes()[:-10])

    response = api.post(f"/api/backups/{real_backup.pk}/verify")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["verified"] is False
    assert body["message"].startswith(f"Backup #{real_backup.pk} failed its verification: The checksum of")
    assert "does not match" in body["backup"]["verify_error"] and body["backup"]["good"] is False
    real_backup.refresh_from_db()
    assert "does not match" in real_backup.verify_error


def test_it_says_a_missing_file_failed_its_verification(api, backup_dir):
    backup = BackupFactory()  # a row whose file is not on disk

    body = api.post(f"/api/backups/{backup.pk}/verify").json()

    assert body["verified"] is False and f"The file of backup #{backup.pk} is missing" in body["message"]
    assert Backup.objects.get(pk=backup.pk).verify_error.startswith(f"The file of backup #{backup.pk} is missing")


@pytest.mark.parametrize("status", ["deleted", "failed", "running", "skipped"])
def test_it_refuses_to_verify_a_backup_without_a_file_and_records_nothing(api, status):
    backup = BackupFactory(status=status)

    errors = errors_of(api.post(f"/api/backups/{backup.pk}/verify"), status=409)

    label = Backup(status=status).get_status_display().lower()
    assert errors == {"__all__": [f"Backup #{backup.pk} is {label}: only completed backups have a file to verify."]}
    assert Backup.objects.get(pk=backup.pk).verify_error == ""


def test_it_verifies_with_no_body_and_no_content_type(api, backup_dir):
    backup = with_file(BackupFactory(), backup_dir)

    response = api.generic("POST", f"/api/backups/{backup.pk}/verify", b"", content_type="")

    assert response.status_code == 200, response.content


@pytest.mark.parametrize("body, field", [('{"deep": true}', "deep"), ("[]", "body"), ('"now"', "body")])
def test_it_refuses_a_verify_body_it_does_not_understand(api, backup_dir, body, field):
    backup = with_file(BackupFactory(), backup_dir)

    assert list(errors_of(api.post(f"/api/backups/{backup.pk}/verify", body))) == [field]
    assert Backup.objects.get(pk=backup.pk).verify_error == ""


# --- download -------------------------------------------------------------------------------------------

def test_it_streams_the_file_byte_for_byte_under_its_own_name(api, backup_dir):
    content = os.urandom(3 * 1024 * 1024 + 17)  # several of FileResponse's blocks, and a ragged end
    backup = with_file(BackupFactory(size_bytes=len(content), sha256=hashlib.sha256(content).hexdigest()), backup_dir,
                       content)

    response = api.get(f"/api/backups/{backup.pk}/download")

    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"] == f'attachment; filename="{backup.file_name}"'
    assert int(response["Content-Length"]) == len(content)
    chunks = list(response.streaming_content)
    assert len(chunks) > 1  # streamed in blocks, never read whole
    downloaded = b"".join(chunks)
    assert downloaded == content
    assert hashlib.sha256(downloaded).hexdigest() == api.get(f"/api/backups/{backup.pk}").json()["sha256"]


@sqlite_only
def test_it_streams_a_real_backup(api, real_backup, backup_dir):
    response = api.get(f"/api/backups/{real_backup.pk}/download")

    assert b"".join(response.streaming_content) == (backup_dir / real_backup.file_name).read_bytes()


@pytest.mark.parametrize("status", ["running", "failed", "skipped"])
def test_it_answers_409_for_a_backup_that_has_no_file_yet_or_never_had_one(api, status):
    backup = BackupFactory(status=status)

    errors = errors_of(api.get(f"/api/backups/{backup.pk}/download"), status=409)

    label = Backup(status=status).get_status_display().lower()
    assert errors == {"__all__": [f"Backup #{backup.pk} is {label}: only completed backups have a file to download."]}


def test_it_answers_410_for_a_deleted_backup_saying_when_and_by_whom(api, backup_dir):
    backup = with_file(BackupFactory(), backup_dir)
    assert api.delete(f"/api/backups/{backup.pk}").status_code == 200

    errors = errors_of(api.get(f"/api/backups/{backup.pk}/download"), status=410)

    assert errors == {"__all__": [f"Backup #{backup.pk} is deleted: only completed backups have a file to download. "
                                  "Deleted by alice: through the API."]}


def test_it_answers_410_for_a_file_missing_from_the_folder(api, backup_dir):
    backup = BackupFactory()  # completed, but its file is not on disk

    errors = errors_of(api.get(f"/api/backups/{backup.pk}/download"), status=410)

    assert errors["__all__"][0].startswith(f"The file of backup #{backup.pk} is missing: ")


def test_it_never_serves_a_file_the_app_did_not_make(api, backup_dir):
    backup_dir.mkdir(parents=True)
    (backup_dir / "secrets.txt").write_text("not a backup")
    other = with_file(BackupFactory(), backup_dir)
    for name in ("secrets.txt", other.file_name, f"../{other.file_name}"):
        foreign = BackupFactory()
        Backup.objects.filter(pk=foreign.pk).update(file_name=name)

        response = api.get(f"/api/backups/{foreign.pk}/download")

        assert "is not a name the app gives" in errors_of(response, status=404)["__all__"][0], name


# --- delete ---------------------------------------------------------------------------------------------

def test_it_deletes_the_file_and_keeps_the_record(api, backup_dir):
    older = with_file(BackupFactory(started_at=NOW.replace(month=10)), backup_dir)
    newest = with_file(BackupFactory(), backup_dir)

    response = api.delete(f"/api/backups/{older.pk}")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["message"] == f"Backup #{older.pk} deleted ({older.file_name}). Its record stays in the list."
    assert (body["backup"]["status"], body["backup"]["note"]) == ("deleted", "Deleted by alice: through the API.")
    assert (body["backup"]["deleted_at"], body["backup"]["download_url"]) == ("2026-12-01T02:00:05Z", None)
    assert folder_names(backup_dir) == [newest.file_name, newest.file_name + ".json"]
    assert api.get(f"/api/backups/{older.pk}").json()["status"] == "deleted"


def test_it_says_a_file_that_was_already_gone(api, backup_dir):
    backup = BackupFactory()  # no file on disk

    body = api.delete(f"/api/backups/{backup.pk}").json()

    assert body["backup"]["note"] == "Deleted by alice: through the API. Note: the file was already gone."


@pytest.mark.parametrize("status", ["deleted", "failed", "running", "skipped"])
def test_it_refuses_to_delete_a_backup_without_a_file(api, status):
    backup = BackupFactory(status=status)

    errors = errors_of(api.delete(f"/api/backups/{backup.pk}"), status=409)

    label = Backup(status=status).get_status_display().lower()
    assert errors == {"__all__": [f"Not deleted: Backup #{backup.pk} is {label}: only completed backups have a file "
                                  "to delete."]}
    assert Backup.objects.get(pk=backup.pk).status == status


def test_it_refuses_to_delete_a_file_the_app_did_not_make(api, backup_dir):
    backup_dir.mkdir(parents=True)
    (backup_dir / "notes.txt").write_text("mine")
    foreign = BackupFactory()
    Backup.objects.filter(pk=foreign.pk).update(file_name="notes.txt")

    errors = errors_of(api.delete(f"/api/backups/{foreign.pk}"), status=409)

    assert errors == {"__all__": [f"Not deleted: 'notes.txt' is not a name this app gives backup #{foreign.pk}; it "
                                  "is left alone."]}
    assert (backup_dir / "notes.txt").read_text() == "mine"
    assert Backup.objects.get(pk=foreign.pk).status == BackupStatus.COMPLETED


# --- hostile input -------------------------------------------------------------------------------------

@pytest.mark.parametrize("query, field", [
    ("status=nope", "status"), ("status=", "status"), ("purpose=daily", "purpose"), ("limit=0", "limit"),
    ("limit=201", "limit"), ("cursor=%00", "cursor"), ("cursor=not-base64!", "cursor"), ("cursor=cD1hYmM=", "cursor"),
    ("cursor=cD05OTk5OTk5OTk5OTk5OTk5OTk5OTk5OQ==", "cursor")])
def test_it_names_a_bad_query_parameter(api, query, field):
    BackupFactory()

    assert list(errors_of(api.get(f"/api/backups?{query}"))) == [field]


@pytest.mark.parametrize("method, suffix", [("get", ""), ("delete", ""), ("post", "/verify"), ("get", "/download")])
@pytest.mark.parametrize("backup_id", ["999", "0", "-1", "abc", "99999999999999999999999"])
def test_it_answers_404_for_an_unknown_id(api, method, suffix, backup_id):
    response = getattr(api, method)(f"/api/backups/{backup_id}{suffix}")

    assert list(errors_of(response, status=404)) == ["id"]


def test_it_names_the_id_it_does_not_know(api):
    assert errors_of(api.get("/api/backups/999"), status=404) == {"id": ["No backup with id 999."]}


@pytest.mark.parametrize("method, path", [("put", "/api/backups/{id}"), ("patch", "/api/backups/{id}"),
                                          ("get", "/api/backups/{id}/verify"), ("post", "/api/backups/{id}/download"),
                                          ("delete", "/api/backups")])
def test_it_refuses_a_method_the_endpoint_does_not_have(api, backup_dir, method, path):
    backup = with_file(BackupFactory(), backup_dir)

    assert getattr(api, method)(path.format(id=backup.pk)).status_code == 405
    assert Backup.objects.get(pk=backup.pk).status == BackupStatus.COMPLETED


# --- who may do what -----------------------------------------------------------------------------------

OPERATIONS = [
    ("get", "/api/backups", "view"),
    ("get", "/api/backups/{id}", "view"),
    ("post", "/api/backups", "add"),
    ("post", "/api/backups/{id}/verify", "change"),
    ("get", "/api/backups/{id}/download", "download"),
    ("delete", "/api/backups/{id}", "delete"),
]


def call(client, method, path, backup):
    return getattr(client, method)(path.format(id=backup.pk))


def untouched(backup: Backup) -> bool:
    backup.refresh_from_db()
    return (backup.status, backup.verify_error, ScheduleRun.objects.exists()) == (BackupStatus.COMPLETED, "", False)


@pytest.mark.parametrize("method, path, needed", OPERATIONS)
def test_it_needs_the_model_permission_of_each_operation(method, path, needed, backup_dir, schedule):
    backup = with_file(BackupFactory(), backup_dir)  # its checksum does not match: a verify would record that
    others = [action for action in BACKUP_ACTIONS if action != needed]

    refused = call(token_client(with_backups(*others, username="others")), method, path, backup)

    errors = errors_of(refused, status=403)
    assert errors["__all__"][0].startswith(f"You do not have the permission “backups.{needed}_backup”")
    assert errors_of(call(token_client(with_backups(username="nobody")), method, path, backup), status=403)
    assert untouched(backup)

    allowed = call(token_client(with_backups(needed, username="allowed")), method, path, backup)
    assert allowed.status_code in (200, 202), allowed.content


@pytest.mark.parametrize("method, path, needed", OPERATIONS)
def test_it_answers_401_json_to_anonymous_requests(method, path, needed, backup_dir, schedule):
    backup = with_file(BackupFactory(), backup_dir)

    response = call(Client(), method, path, backup)

    errors = errors_of(response, status=401)
    assert "Authorization: Bearer" in errors["__all__"][0]
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert untouched(backup)


def test_running_a_backup_needs_no_schedule_permission(schedule, backup_dir):
    """The backups API speaks of backups: making one is adding one (backups.add_backup), whoever may edit the
    schedule that makes it."""
    client = token_client(with_backups("add", username="runner"))

    assert client.post("/api/backups").status_code == 202
    assert client.post(f"/api/schedules/{schedule.pk}/run_now", {"force": True}).status_code == 403


def test_it_refuses_a_filter_given_twice_rather_than_taking_one(api):
    BackupFactory()

    assert errors_of(api.get("/api/backups?status=completed&status=failed")) == {
        "status": ["Give this parameter once: it takes one value."]}
