"""The DATABASE_BACKUP job through the real runner (jobs.runner.execute): params, skips, results, failures."""

import datetime as dt
import errno
import hashlib

import pytest
from django.db import connection
from django.utils import timezone

from backups import files, handlers, offsite
from backups.models import Backup, BackupStatus
from backups.services.making import BackupParams
from jobs import maintenance, registry, runner
from jobs.models import JobStatus
from jobs.services import job_enqueue
from scheduling import tick
from scheduling.models import RunOutcome
from tests.backups.conftest import folder_names, read_only_folder, sqlite_only, with_file
from tests.factories import BackupFactory, JobFactory

pytestmark = pytest.mark.django_db

PARAMS = {"backup_type": "full", "retention_days": 30, "cleanup_old": False, "force_backup": False}


def run_job(params: dict):
    job = job_enqueue(job_type="DATABASE_BACKUP", params=params, now=timezone.now())
    runner.execute(job.pk)
    job.refresh_from_db()
    return job


def test_it_is_registered_with_a_time_limit_below_django_q2s_timeout(settings):
    handler = registry.get("DATABASE_BACKUP")
    assert handler is handlers.HANDLER
    assert handler.time_limit_seconds <= settings.Q_CLUSTER["timeout"]


@sqlite_only
def test_it_backs_up_and_reports_file_size_ratio_and_duration(backup_dir):
    job = run_job({**PARAMS, "force_backup": True})

    assert job.status == JobStatus.COMPLETED, job.error
    backup = Backup.objects.get()
    assert backup.size_bytes == (backup_dir / backup.file_name).stat().st_size
    # The job page shows the result as it is; no remote is set, and this run cleans nothing up.
    assert job.result == {
        "status": "completed", "backup_id": backup.pk, "file": backup.file_name, "size_bytes": backup.size_bytes,
        "size": files.human_size(backup.size_bytes), "database_size_bytes": backup.database_size_bytes,
        "ratio": round(backup.database_size_bytes / backup.size_bytes, 2), "sha256": backup.sha256,
        "duration_seconds": round(backup.duration_seconds, 3), "deleted": [], "retention": "keeps all",
    }
    assert job.result["ratio"] > 1 and 0 < job.result["duration_seconds"] < 30
    assert backup.job == job


@pytest.mark.parametrize("params, message", [
    ({**PARAMS, "retention_days": 0}, "Retention (days): Ensure this value is greater than or equal to 1."),
    ({**PARAMS, "backup_type": "incremental"}, "Backup type: Select a valid choice."),
    ({**PARAMS, "cleanup_old": "yes"}, "Delete old backups: must be true or false (got 'yes')."),
    ({**PARAMS, "compress": False}, "compress: unknown parameter"),
    ({**PARAMS, "window_start": "last night"}, "window_start: 'last night' is not an ISO-8601 instant."),
    ({**PARAMS, "window_start": "2026-12-01T02:00:00"}, "has no time zone offset"),
    (["full", 30], "Invalid parameters: they must be a JSON object."),  # a job made by hand
    # Every problem at once, each in the form's words.
    ({**PARAMS, "retention_days": 0, "cleanup_old": "yes"}, "Invalid parameters: Delete old backups: must be true "
     "or false (got 'yes'). Retention (days): Ensure this value is greater than or equal to 1."),
])
def test_it_fails_at_once_on_bad_params(params, message, backup_dir):
    job = run_job(params)

    assert job.status == JobStatus.FAILED
    assert job.failed_permanently
    assert job.error.startswith("Invalid parameters: ")
    assert message in job.error
    assert not Backup.objects.exists()


def test_it_fills_in_defaults_for_missing_params():
    assert handlers.parse_params({}) == BackupParams(
        backup_type="full", retention_days=30, cleanup_old=True, force_backup=False, window_start=None)


def test_it_skips_when_a_verified_backup_of_the_window_exists(backup_dir):
    window = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.timezone.utc)
    made = BackupFactory(started_at=window + dt.timedelta(seconds=3))

    job = run_job({**PARAMS, "window_start": window.isoformat()})

    assert job.status == JobStatus.COMPLETED
    assert f"A verified backup of this window exists already: #{made.pk}" in job.result["reason"]
    skipped = Backup.objects.get(status=BackupStatus.SKIPPED)
    assert job.result == {"status": "skipped", "skipped": True, "reason": job.result["reason"], "backup_id": skipped.pk}
    assert (skipped.job, skipped.note, skipped.database_vendor, skipped.worker) == (
        job, job.result["reason"], connection.vendor, job.worker)
    assert skipped.started_at == skipped.finished_at and skipped.finished_at is not None
    assert folder_names(backup_dir) == []


@sqlite_only
def test_a_retried_window_whose_first_attempt_made_the_backup_makes_no_second(
        backup_dir, make_schedule, time_machine, django_capture_on_commit_callbacks):
    # The case the window check is for: attempt 1 made a real backup, then its worker died before
    # the job recorded it, so the job is reaped and retried.
    window = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.timezone.utc)
    schedule = make_schedule(now=window - dt.timedelta(days=1), params=PARAMS)
    time_machine.move_to(window + dt.timedelta(seconds=5), tick=False)
    tick.run_pass(now=timezone.now())
    run = schedule.runs.get()
    job = run.jobs.get()
    assert job.params["window_start"] == window.isoformat()

    handlers.run(runner.claim(job.pk, worker="lost-worker:1", now=timezone.now()))  # and nothing recorded after
    first = Backup.objects.get()
    assert first.status == BackupStatus.COMPLETED, first.error
    made = (backup_dir / first.file_name).read_bytes()

    time_machine.move_to(window + dt.timedelta(hours=2), tick=False)
    assert maintenance.jobs_reap_lost(now=timezone.now()) == 1
    time_machine.move_to(window + dt.timedelta(hours=3), tick=False)
    assert maintenance.jobs_release_due_retries(now=timezone.now()) == 1
    with django_capture_on_commit_callbacks(execute=True):  # the run follows its job on commit
        assert runner.execute(job.pk) == "completed"

    job.refresh_from_db()
    assert (job.status, job.attempts, job.result["status"]) == (JobStatus.COMPLETED, 2, "skipped")
    assert job.result["reason"] == (
        f"A verified backup of this window exists already: #{first.pk} ({first.file_name}, made 2026-12-01 "
        "02:00:05 UTC), and force_backup is off.")
    skipped = Backup.objects.exclude(pk=first.pk).get()
    assert (skipped.status, skipped.job, skipped.note, skipped.file_name) == (
        BackupStatus.SKIPPED, job, job.result["reason"], "")
    assert folder_names(backup_dir) == [first.file_name, first.file_name + ".json"]
    assert (backup_dir / first.file_name).read_bytes() == made
    assert hashlib.sha256(made).hexdigest() == first.sha256
    assert Backup.objects.good().filter(pk=first.pk).exists()
    # The run follows its job, which did its work: the skip is on record on the backup row and the result.
    run.refresh_from_db()
    assert run.outcome == RunOutcome.SUCCEEDED


@sqlite_only
def test_it_backs_up_when_the_verified_backup_is_from_an_earlier_window(backup_dir):
    window = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.timezone.utc)
    BackupFactory(started_at=window - dt.timedelta(days=1))
    BackupFactory(started_at=window + dt.timedelta(seconds=3), verified_at=None)  # never verified: not good

    job = run_job({**PARAMS, "window_start": window.isoformat()})

    assert job.result["status"] == "completed", job.result


@sqlite_only
def test_it_backs_up_despite_a_backup_of_the_window_when_forced(backup_dir):
    window = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.timezone.utc)
    BackupFactory(started_at=window + dt.timedelta(seconds=3))

    job = run_job({**PARAMS, "window_start": window.isoformat(), "force_backup": True})

    assert job.result["status"] == "completed"


def test_it_skips_while_another_backup_runs(backup_dir):
    other_job = JobFactory(status=JobStatus.RUNNING, attempts=1)
    Backup.objects.create(status=BackupStatus.RUNNING, database_vendor="sqlite", job=other_job,
                          started_at=timezone.now(), worker="elsewhere:1")

    job = run_job({**PARAMS, "force_backup": True})

    assert job.status == JobStatus.COMPLETED
    assert job.result["status"] == "skipped"
    assert "Another backup is running" in job.result["reason"]
    assert Backup.objects.filter(status=BackupStatus.SKIPPED, job=job).exists()
    assert Backup.objects.filter(status=BackupStatus.RUNNING).count() == 1


def test_it_fails_at_once_with_a_message_when_the_folder_is_unusable(settings, tmp_path):
    (tmp_path / "a-file").write_text("")
    settings.BACKUP_DIR = tmp_path / "a-file" / "backups"

    job = run_job({**PARAMS, "force_backup": True})

    assert job.status == JobStatus.FAILED
    assert job.failed_permanently
    assert job.error.startswith(f"The backup folder {settings.BACKUP_DIR} cannot be used")


def test_a_read_only_folder_fails_at_once_naming_it_and_writes_nothing(backup_dir):
    older = with_file(BackupFactory(), backup_dir)

    with read_only_folder(backup_dir):
        job = run_job({**PARAMS, "force_backup": True})

    assert (job.status, job.failed_permanently, job.attempts) == (JobStatus.FAILED, True, 1)
    assert job.error == (f"The backup folder {backup_dir} cannot be used: Permission denied. Set BACKUP_DIR to a "
                         "folder this app can write to.")
    assert Backup.objects.get(job=job).status == BackupStatus.FAILED
    assert list(Backup.objects.filter(status=BackupStatus.COMPLETED)) == [older]
    assert folder_names(backup_dir) == [older.file_name, older.file_name + ".json"]


@sqlite_only
def test_a_failed_run_prunes_nothing_and_is_retried_with_its_message(backup_dir, monkeypatch):
    old = [with_file(BackupFactory(started_at=dt.datetime(2026, 1, d, tzinfo=dt.timezone.utc)), backup_dir)
           for d in (1, 2)]

    def disk_full(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.HashingWriter, "write", disk_full)

    job = run_job({**PARAMS, "force_backup": True, "cleanup_old": True, "retention_days": 1})

    assert job.status == JobStatus.RETRY_WAIT
    assert "The disk is full: no space left for the backup" in job.error.strip().splitlines()[-1]
    assert set(Backup.objects.filter(status=BackupStatus.COMPLETED)) == set(old)
    assert folder_names(backup_dir) == sorted([b.file_name for b in old] + [b.file_name + ".json" for b in old])


@sqlite_only
def test_a_successful_run_applies_retention_when_asked(backup_dir):
    old = with_file(BackupFactory(started_at=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)), backup_dir)

    job = run_job({**PARAMS, "force_backup": True, "cleanup_old": True, "retention_days": 30})

    assert job.result["deleted"] == [old.file_name]
    old.refresh_from_db()
    assert old.status == BackupStatus.DELETED
    assert old.note == f"Deleted by retention after backup #{job.result['backup_id']}: older than the retention of 30 days."


@sqlite_only
def test_a_successful_run_keeps_old_backups_without_cleanup(backup_dir):
    with_file(BackupFactory(started_at=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)), backup_dir)

    job = run_job({**PARAMS, "force_backup": True, "retention_days": 1})

    assert job.result["deleted"] == []
    assert Backup.objects.filter(status=BackupStatus.COMPLETED).count() == 2


@sqlite_only
def test_with_a_remote_each_backup_queues_its_off_site_copy_unless_told_not_to(backup_dir, settings):
    settings.BACKUP_REMOTE = "offsite:archive"  # nothing runs rclone here: the copy is a job of its own

    job = run_job({**PARAMS, "force_backup": True})

    backup = Backup.objects.get(job=job)
    assert job.result["offsite_job_id"] == backup.offsite_job.pk
    copy = backup.offsite_job
    assert (copy.job_type, copy.params, copy.status, copy.created_at) == (
        offsite.JOB_TYPE, {"backup_id": backup.pk}, JobStatus.QUEUED, backup.finished_at)

    job = run_job({**PARAMS, "force_backup": True, "copy_offsite": False})

    assert "offsite_job_id" not in job.result
    assert Backup.objects.get(job=job).offsite_job is None


@sqlite_only
def test_a_run_reports_the_backups_its_retention_left_alone(backup_dir):
    renamed = BackupFactory(started_at=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))
    renamed.file_name = "db-sqlite-20260101T000000Z-999999.sqlite3.zst"  # edited by hand: not the name it was given
    renamed.save()
    with_file(renamed, backup_dir)

    job = run_job({**PARAMS, "force_backup": True, "cleanup_old": True, "retention_days": 1})

    assert job.result["deleted"] == []
    assert job.result["retention_errors"] == [f"#{renamed.pk}: {renamed.file_name!r} is not a name this app gives; "
                                              "left alone."]
