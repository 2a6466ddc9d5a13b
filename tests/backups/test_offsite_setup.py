"""Off-site copies without a server: the remote's secrets never shown, a missing rclone said clearly
everywhere (the copy job, /backups, /healthz, the system checks), the alert after a failed copy, and
the off-site figures of /metrics."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from django.core.checks import run_checks
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from backups import alerts, offsite
from backups.models import Backup
from core import metrics
from core.health import health_status
from jobs import runner
from jobs.models import Job, JobStatus
from jobs.services import job_enqueue
from tests.backups.conftest import sqlite_only, with_file
from tests.factories import BackupFactory, JobFactory, NotificationChannelFactory, UserFactory, grant
from tests.notifications.conftest import send_all

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SFTP = ":sftp,host=backup.example.lan,port=2222,user=archive,pass=Zm9vYmFyLXNlY3JldC1vYnNjdXJlZA:nightly"
WEBDAV = ":webdav,url='https://me:hunter22@dav.example.lan/remote.php',user=me,pass=c2VjcmV0c2VjcmV0:archive/db"


# --- masking ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("remote, shown", [
    ("offsite:channel-archive", "offsite:channel-archive"),
    ("offsite:", "offsite:"),
    (SFTP, ":sftp,…:nightly"),
    (WEBDAV, ":webdav,…:archive/db"),
    ("b2,hard_delete=true:bucket/archive", "b2,…:bucket/archive"),
    ("/mnt/nas/backups", "/mnt/nas/backups"),
])
def test_a_remote_is_shown_without_its_parameters(remote, shown):
    assert offsite.mask(remote) == shown


def test_rclone_s_words_are_scrubbed_of_the_remote_s_secrets():
    said = (f'Failed to create file system for "{SFTP}": NewFs: couldn\'t connect SSH: dial tcp '
            'backup.example.lan:2222: connect: connection refused; pass=Zm9vYmFyLXNlY3JldC1vYnNjdXJlZA')

    scrubbed = offsite.scrub(said, SFTP)

    assert "Zm9vYmFy" not in scrubbed
    assert scrubbed.startswith('Failed to create file system for ":sftp,…:nightly"')
    mangled = 'Propfind "https/./me:hunter22@dav.example.lan/remote.php,user=me,pass=c2VjcmV0c2VjcmV0:archive/db/x"'
    assert "hunter22" not in offsite.scrub(mangled, WEBDAV) and "c2VjcmV0" not in offsite.scrub(mangled, WEBDAV)


# --- rclone missing ---------------------------------------------------------------------------------


@pytest.fixture
def no_rclone(settings, monkeypatch, tmp_path, backup_dir):
    """BACKUP_REMOTE set on a machine without rclone: PATH holds nothing but an empty folder."""
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    settings.BACKUP_REMOTE = SFTP
    assert offsite.rclone_path() is None


def test_without_a_remote_nothing_is_asked_of_rclone(settings, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    settings.BACKUP_REMOTE = ""

    assert offsite.remote_problem() == ""
    assert "archive.W001" not in [check.id for check in run_checks(tags=["backups"])]


def test_a_missing_rclone_is_a_warning_of_the_system_checks(no_rclone):
    [warning] = run_checks(tags=["backups"])

    assert warning.id == "archive.W001"
    assert "BACKUP_REMOTE is set (:sftp,…:nightly) but the rclone program (rclone) is not installed" in warning.msg
    assert "Zm9vYmFy" not in warning.msg


@pytest.mark.django_db
def test_a_missing_rclone_degrades_healthz(no_rclone):
    report = health_status(now=timezone.now())

    [problem] = [p for p in report["problems"] if p["what"] == "rclone missing"]
    assert problem["severity"] == "degraded" and problem["start"] == "apt-get install rclone"
    assert "BACKUP_REMOTE is set" in problem["effect"]


@pytest.mark.django_db
def test_a_missing_rclone_is_an_error_on_the_backups_page(no_rclone, client):
    client.force_login(grant(UserFactory(), "view_backup"))

    page = client.get("/backups").content.decode()

    assert "No off-site copies:" in page
    assert "BACKUP_REMOTE is set (:sftp,…:nightly) but the rclone program (rclone) is not installed" in page
    assert "Zm9vYmFy" not in page


@sqlite_only
@pytest.mark.django_db
def test_a_missing_rclone_fails_the_copy_at_once_and_the_backup_stays_good(no_rclone):
    job = job_enqueue(job_type="DATABASE_BACKUP", params={"force_backup": True}, now=timezone.now())
    runner.execute(job.pk)
    backup = Backup.objects.get()
    assert backup.offsite_job is not None

    runner.execute(backup.offsite_job.pk)

    copy_job = backup.offsite_job
    copy_job.refresh_from_db()
    backup.refresh_from_db()
    assert (copy_job.status, copy_job.failed_permanently) == (JobStatus.FAILED, True)
    assert "the rclone program (rclone) is not installed or not on PATH" in copy_job.error
    assert backup.offsite_error == copy_job.error and backup.offsite_state == "failed"
    assert list(Backup.objects.good()) == [backup]


# --- the copy job's params, and a folder for a remote -------------------------------------------------


def run_copy_job(params) -> Job:
    job = job_enqueue(job_type=offsite.JOB_TYPE, params=params, now=timezone.now())
    runner.execute(job.pk)
    job.refresh_from_db()
    return job


@pytest.mark.django_db
@pytest.mark.parametrize(("params", "named"), [({}, "None"), ({"backup_id": "3"}, "'3'"), ({"backup_id": True}, "True"),
                                               (["backup_id", 3], "None")])
def test_a_copy_job_that_names_no_backup_fails_at_once_saying_so(params, named, settings, tmp_path):
    settings.BACKUP_REMOTE = str(tmp_path / "remote")
    BackupFactory()  # one there is, which a param taken loosely could name

    job = run_copy_job(params)

    assert (job.status, job.failed_permanently, job.attempts) == (JobStatus.FAILED, True, 1)
    assert job.error == f"Invalid parameters: backup_id: {named} is not a backup's id."
    assert not (tmp_path / "remote").exists()


@pytest.mark.django_db
def test_a_copy_job_of_a_backup_deleted_since_fails_at_once_saying_so():
    backup = BackupFactory()
    backup_id = backup.pk
    backup.delete()

    job = run_copy_job({"backup_id": backup_id})

    assert (job.status, job.failed_permanently) == (JobStatus.FAILED, True)
    assert job.error == f"There is no backup #{backup_id} to copy off-site."


@pytest.mark.django_db
def test_a_folder_as_the_remote_gets_a_checked_copy_with_the_time_it_was_made(settings, backup_dir, tmp_path):
    # A mounted disk or NAS share: rclone copies to a local path without a server.
    settings.BACKUP_REMOTE = str(tmp_path / "nas")
    backup = with_file(BackupFactory(sha256=hashlib.sha256(b"backup bytes").hexdigest()), backup_dir)
    before = timezone.now()

    job = run_copy_job({"backup_id": backup.pk})

    assert job.status == JobStatus.COMPLETED, job.error
    assert (job.result["status"], job.result["backup_id"]) == ("copied", backup.pk)
    backup.refresh_from_db()
    assert before <= backup.offsite_copied_at <= timezone.now()
    assert (backup.offsite_remote, backup.offsite_error) == (str(tmp_path / "nas"), "")
    assert (tmp_path / "nas" / backup.file_name).read_bytes() == (backup_dir / backup.file_name).read_bytes()


# --- the alert --------------------------------------------------------------------------------------


@pytest.fixture
def hook(webhook, db):
    NotificationChannelFactory(name="Ops", target=webhook.url)
    return webhook


def watch(now: dt.datetime) -> None:
    alerts.watch_offsite(now=now, source="loop")
    send_all(now=now)


def copy_failed(started_at: dt.datetime, status: str = JobStatus.FAILED) -> Backup:
    job = JobFactory(job_type=offsite.JOB_TYPE, status=status, attempts=9, max_retries=8)
    return BackupFactory(started_at=started_at, offsite_job=job, offsite_error="rclone could not copy x: refused")


def copied(started_at: dt.datetime) -> Backup:
    job = JobFactory(job_type=offsite.JOB_TYPE, status=JobStatus.COMPLETED)
    return BackupFactory(started_at=started_at, offsite_job=job, offsite_copied_at=started_at + dt.timedelta(
        minutes=1), offsite_remote="offsite:archive", offsite_check="size and SHA-1 checked by the remote")


@pytest.mark.django_db
def test_a_failed_copy_alerts_once_and_a_later_copy_resolves_it(hook):
    copied(NOW - dt.timedelta(days=2))
    watch(NOW)
    assert hook.messages == []
    waiting = copy_failed(NOW - dt.timedelta(days=1), status=JobStatus.RETRY_WAIT)
    watch(NOW)
    assert hook.messages == []  # still being retried: nothing to say yet

    waiting.offsite_job.status = JobStatus.FAILED
    waiting.offsite_job.save()
    watch(NOW)
    watch(NOW + dt.timedelta(minutes=1))

    assert hook.titles == ["Channel archive: Off-site copy of a backup failed"]
    message = hook.messages[0]["message"]
    assert f"Backup #{waiting.pk} ({waiting.file_name}, made at 2026-11-30 12:00 UTC) could not be copied" in message
    assert "after 9 attempts: rclone could not copy x: refused" in message

    later = copied(NOW + dt.timedelta(hours=1))
    watch(NOW + dt.timedelta(hours=2))
    watch(NOW + dt.timedelta(hours=3))
    assert hook.titles[1:] == ["Channel archive: back to normal: Off-site copy of a backup failed"]
    assert f"Backup #{later.pk} was copied to offsite:archive at 2026-12-01 13:01 UTC" in hook.messages[1]["message"]


# --- /metrics ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_metrics_count_backups_by_off_site_state_and_say_when_the_last_copy_was_made(settings):
    settings.BACKUP_REMOTE = "offsite:archive"
    settings.BACKUP_RCLONE_BIN = "true"  # found on PATH: "installed"
    copied(NOW - dt.timedelta(days=2))
    copy_failed(NOW - dt.timedelta(days=1))
    copy_failed(NOW - dt.timedelta(hours=1), status=JobStatus.RETRY_WAIT)
    BackupFactory(started_at=NOW - dt.timedelta(days=9))  # before the remote was set
    deleted = copied(NOW - dt.timedelta(days=40))
    Backup.objects.filter(pk=deleted.pk).update(status="deleted", offsite_deleted_at=NOW)

    values = {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
              for family in text_string_to_metric_families(metrics.scrape(now=NOW).decode())
              for sample in family.samples}

    assert {state: values[("archive_backups_offsite", (("state", state),))]
            for state in ("copied", "waiting", "failed", "not_asked")} == {
        "copied": 1, "waiting": 1, "failed": 1, "not_asked": 1}
    assert values[("archive_backup_offsite_last_copy_timestamp_seconds", ())] == (
        NOW - dt.timedelta(days=2) + dt.timedelta(minutes=1)).timestamp()
    assert values[("archive_backup_remote_ready", ())] == 1

    settings.BACKUP_RCLONE_BIN = "no-such-rclone-here"
    assert ("archive_backup_remote_ready", ()) in values
    missing = metrics.scrape(now=NOW).decode()
    assert "archive_backup_remote_ready 0.0" in missing


# --- the page and the history ----------------------------------------------------------------------


@pytest.mark.django_db
def test_the_backups_page_shows_each_copy_and_where_copies_go(settings, client):
    settings.BACKUP_REMOTE = SFTP
    settings.BACKUP_RCLONE_BIN = "true"
    done = copied(NOW - dt.timedelta(days=2))
    failed = copy_failed(NOW - dt.timedelta(days=1))
    retrying = copy_failed(NOW - dt.timedelta(hours=1), status=JobStatus.RETRY_WAIT)
    client.force_login(grant(UserFactory(), "view_backup"))

    page = client.get("/backups").content.decode()

    assert "Each backup is copied with rclone to <code class=\"path\">:sftp,…:nightly</code>" in page
    assert "Zm9vYmFy" not in page
    row = page[page.index(f'id="backup-{done.pk}"'):]
    assert "Copied" in row[:3000] and "(offsite:archive, verified: size and SHA-1 checked by the remote)" in row[:3000]
    row = page[page.index(f'id="backup-{failed.pk}"'):]
    assert "Copy failed" in row[:3000] and f"Job #{failed.offsite_job_id}" in row[:3000]
    row = page[page.index(f'id="backup-{retrying.pk}"'):]
    assert "Retrying" in row[:3000] and "rclone could not copy x: refused" in row[:3000]


@pytest.mark.django_db
def test_the_history_prune_keeps_the_copy_jobs_of_backups_that_exist():
    from backups import selectors

    kept = copied(NOW)
    gone = copied(NOW - dt.timedelta(days=40))
    Backup.objects.filter(pk=gone.pk).update(status="deleted")

    assert selectors.jobs_with_backup_files([kept.offsite_job_id, gone.offsite_job_id]) == [kept.offsite_job_id]
