"""What follows a restore, and how the app notices a restore by hand (backups.services.aftermath).

A restored copy is made here the cheap way: a real backup (file and manifest in BACKUP_DIR), then its row
set back to what the copy inside it holds (running, its job running). That is the database a restore by
hand leaves; tests/backups/test_restore_by_hand.py does it for real with the stock tools.
"""

import datetime as dt
import json

import pytest
from django.core.cache import cache
from django.utils import timezone

from backups import files
from backups.errors import BackupBusy
from backups.models import Backup, BackupStatus
from backups.services.aftermath import restore_aftermath, restored_copy_settle
from backups.services.making import backup_create, backups_release_stale
from jobs.maintenance import jobs_maintain
from jobs.models import Job, JobStatus
from tests.backups.conftest import folder_names, sqlite_only
from tests.factories import JobFactory

pytestmark = [pytest.mark.django_db, sqlite_only]


def as_in_its_copy(backup: Backup, job: Job | None = None) -> Backup:
    """The row as the copy inside the backup holds it: running (its job too), nothing finished yet."""
    Backup.objects.filter(pk=backup.pk).update(status=BackupStatus.RUNNING, finished_at=None, verified_at=None,
                                               sha256="", size_bytes=None, job=job)
    backup.refresh_from_db()
    return backup


@pytest.fixture
def restored(backup_dir):
    """A database restored by hand from a backup made an hour ago: its backup job and another job were
    running, one was queued, one waited to retry; one had completed."""
    made = timezone.now() - dt.timedelta(hours=1)
    before = made - dt.timedelta(minutes=1)
    jobs = {
        "backup": JobFactory(status=JobStatus.RUNNING, attempts=1, created_at=before, started_at=made, followed=True),
        "running": JobFactory(job_type="TEST_OK", status=JobStatus.RUNNING, attempts=1, created_at=before,
                              started_at=before),
        "queued": JobFactory(job_type="TEST_OK", status=JobStatus.QUEUED, created_at=before),
        "retry_wait": JobFactory(job_type="TEST_OK", status=JobStatus.RETRY_WAIT, attempts=1, created_at=before),
        "completed": JobFactory(job_type="TEST_OK", status=JobStatus.COMPLETED, attempts=1, created_at=before),
    }
    backup = as_in_its_copy(backup_create(now=made), jobs["backup"])
    cache.set("from-the-copy", "stale")
    return backup, jobs


def statuses(jobs: dict) -> dict:
    return {name: Job.objects.get(pk=job.pk).status for name, job in jobs.items()}


def test_a_restore_by_hand_is_noticed_and_settled(restored, backup_dir):
    backup, jobs = restored
    now = timezone.now()
    after_the_restore = JobFactory(job_type="TEST_OK", status=JobStatus.QUEUED, created_at=now)

    aftermath = restored_copy_settle(now=now)

    assert aftermath is not None
    backup.refresh_from_db()
    assert backup.status == BackupStatus.COMPLETED and backup.restored_at == now
    manifest = json.loads((backup_dir / files.manifest_name(backup.file_name)).read_text())
    assert (backup.sha256, backup.size_bytes) == (manifest["sha256"], manifest["size_bytes"])
    assert Backup.objects.good().filter(pk=backup.pk).exists()
    assert backup.note == (f"Recorded from its manifest on {now:%Y-%m-%d %H:%M} UTC: the database was restored by "
                           "hand from this backup, a copy taken while it ran.")
    assert statuses(jobs) == {"backup": "cancelled", "running": "cancelled", "queued": "cancelled",
                              "retry_wait": "cancelled", "completed": "completed"}
    assert {item.was for item in aftermath.interrupted} == {"running", "queued", "retry_wait"}
    interrupted = Job.objects.get(pk=jobs["running"].pk)
    assert interrupted.error.startswith(f"Interrupted by a restore: the database was restored from backup #{backup.pk}")
    assert interrupted.attempt_log[-1]["outcome"] == "interrupted"
    # Made after the restore (the finished manifest's time): none of the copy's business.
    assert Job.objects.get(pk=after_the_restore.pk).status == JobStatus.QUEUED
    assert cache.get("from-the-copy") is None and aftermath.caches_emptied == ["django_cache"]
    # Noticed once: the row is no longer running.
    assert restored_copy_settle(now=now) is None


def test_a_new_backup_is_not_refused_after_a_restore_by_hand(restored, backup_dir):
    backup, jobs = restored

    new = backup_create(now=timezone.now(), job=JobFactory(status=JobStatus.RUNNING, attempts=1))

    assert new.status == BackupStatus.COMPLETED
    backup.refresh_from_db()
    assert backup.status == BackupStatus.COMPLETED
    assert Job.objects.get(pk=jobs["queued"].pk).status == JobStatus.CANCELLED
    # The restored backup's file is kept: it is that backup, good.
    assert backup.file_name in folder_names(backup_dir)


def test_the_scheduler_step_notices_it(restored):
    backup, jobs = restored

    jobs_maintain(now=timezone.now())

    backup.refresh_from_db()
    assert backup.status == BackupStatus.COMPLETED
    assert statuses(jobs)["queued"] == JobStatus.CANCELLED


def test_a_backup_in_progress_is_no_restore(backup_dir):
    """While a backup runs its manifest does not exist yet: nothing to notice, nothing touched."""
    job = JobFactory(status=JobStatus.RUNNING, attempts=1)
    queued = JobFactory(job_type="TEST_OK", status=JobStatus.QUEUED)
    running = Backup.objects.create(status=BackupStatus.RUNNING, database_vendor="sqlite", job=job,
                                    started_at=timezone.now(), worker="elsewhere:1")
    running.file_name = files.file_name_for(vendor="sqlite", started_at=running.started_at, backup_id=running.pk)
    running.save()
    backup_dir.mkdir()
    (backup_dir / running.file_name).write_bytes(b"published, manifest not written yet")

    assert restored_copy_settle(now=timezone.now()) is None
    with pytest.raises(BackupBusy):
        backup_create(now=timezone.now())
    assert Backup.objects.get(pk=running.pk).status == BackupStatus.RUNNING
    assert Job.objects.get(pk=queued.pk).status == JobStatus.QUEUED


def test_the_row_is_recorded_completed_before_the_manifest_is_written(backup_dir, monkeypatch):
    """What makes the marker exact: a live database never has a running row beside a finished manifest."""
    seen = []
    write_manifest = files.write_manifest

    def spy(directory, file_name, manifest):
        seen.append(Backup.objects.get(file_name=file_name).status)
        return write_manifest(directory, file_name, manifest)

    monkeypatch.setattr(files, "write_manifest", spy)
    backup_create(now=timezone.now())

    assert seen == [BackupStatus.COMPLETED]


def test_a_manifest_that_fails_to_be_written_still_fails_the_backup_and_removes_its_file(backup_dir, monkeypatch):
    def full(directory, file_name, manifest):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files, "write_manifest", full)
    with pytest.raises(Exception, match="The disk is full"):
        backup_create(now=timezone.now())

    backup = Backup.objects.get()
    assert backup.status == BackupStatus.FAILED and "The disk is full" in backup.error
    assert folder_names(backup_dir) == []


def test_releasing_a_stale_backup_never_deletes_a_finished_file(restored, backup_dir):
    """Before: a copy's running row whose job had ended was failed, and its (good, restored) file deleted."""
    backup, jobs = restored
    Job.objects.filter(pk=jobs["backup"].pk).update(status=JobStatus.FAILED)

    backups_release_stale(now=timezone.now())

    backup.refresh_from_db()
    assert backup.status == BackupStatus.COMPLETED
    assert folder_names(backup_dir) == [backup.file_name, backup.file_name + ".json"]


def test_a_backup_that_finishes_while_it_is_looked_at_is_no_restore(backup_dir, monkeypatch):
    """The row read as running, then its manifest found: the live process may have completed it in between
    (it writes the manifest only after that). The compare-and-set on `running` tells; nothing is touched."""
    backup = backup_create(now=timezone.now())
    as_in_its_copy(backup)
    queued = JobFactory(job_type="TEST_OK", status=JobStatus.QUEUED, created_at=backup.started_at)
    finished_manifest = files.finished_manifest

    def finished_meanwhile(directory, *, file_name, backup_id):
        Backup.objects.filter(pk=backup_id).update(status=BackupStatus.COMPLETED)  # the live process's save
        return finished_manifest(directory, file_name=file_name, backup_id=backup_id)

    monkeypatch.setattr(files, "finished_manifest", finished_meanwhile)

    assert restored_copy_settle(now=timezone.now()) is None
    assert Job.objects.get(pk=queued.pk).status == JobStatus.QUEUED
    assert Backup.objects.get(pk=backup.pk).restored_at is None


def test_a_restore_by_hand_is_logged_for_the_operator(restored, caplog):
    backup, jobs = restored

    restored_copy_settle(now=timezone.now())

    [line] = [record for record in caplog.records if getattr(record, "event", "") == "restore_noticed"]
    assert line.levelname == "WARNING"
    assert line.getMessage() == (f"The database was restored by hand from backup #{backup.pk}: recorded it as "
                                 "completed, interrupted 4 job(s) active in the copy, emptied 1 cache table(s).")
    assert line.backup_id == backup.pk
    assert sorted(line.jobs_interrupted) == sorted(jobs[name].pk for name in ("backup", "running", "queued",
                                                                              "retry_wait"))


# --- the aftermath of a restore made by the app (restore_backup, both ways) ------------------------------


RESTORED = "backup #7 (db-sqlite-20261201T020005Z-7.sqlite3.zst), made 2026-12-01 02:00 UTC"


def in_words(instant: dt.datetime) -> str:
    return f"{instant:%Y-%m-%d %H:%M} UTC"


def running_without_its_file(backup_dir) -> Backup:
    """The copy's running backup row, its file not in BACKUP_DIR (made elsewhere, or deleted since)."""
    backup_dir.mkdir(exist_ok=True)
    backup = Backup.objects.create(status=BackupStatus.RUNNING, database_vendor="sqlite",
                                   started_at=timezone.now() - dt.timedelta(hours=1), worker="gone:1")
    backup.file_name = files.file_name_for(vendor="sqlite", started_at=backup.started_at, backup_id=backup.pk)
    backup.save()
    return backup


def test_the_copys_backup_with_its_file_is_recorded_from_its_manifest(restored):
    backup, jobs = restored
    now = timezone.now()

    aftermath = restore_aftermath(now=now, jobs_until=now, restored=RESTORED)

    assert [(b.pk, b.status) for b in aftermath.completed] == [(backup.pk, BackupStatus.COMPLETED)]
    assert aftermath.completed[0].note == (f"Recorded from its manifest on {in_words(now)}: the database was "
                                           f"restored from {RESTORED}, a copy taken while this backup ran.")
    assert Job.objects.get(pk=jobs["queued"].pk).error == (
        f"Interrupted by a restore: the database was restored from {RESTORED} on {in_words(now)}. This job was "
        "active in the restored copy, and the worker that had it is gone.")


def test_the_copys_backup_without_its_file_is_recorded_interrupted_and_the_lock_is_free(backup_dir):
    running = running_without_its_file(backup_dir)
    now = timezone.now()

    aftermath = restore_aftermath(now=now, jobs_until=now, restored=RESTORED)

    assert [(b.pk, b.status) for b in aftermath.released] == [(running.pk, BackupStatus.FAILED)]
    running.refresh_from_db()
    assert (running.status, running.finished_at) == (BackupStatus.FAILED, now)
    assert running.error == (f"Interrupted by a restore: the database was restored from {RESTORED} on "
                             f"{in_words(now)}, a copy taken while this backup ran; its file is not in {backup_dir}.")
    assert backup_create(now=now).status == BackupStatus.COMPLETED  # "Another backup is running" no more


def test_a_backup_that_finishes_while_the_aftermath_looks_is_left_to_its_process(backup_dir, monkeypatch):
    """Read as running, its manifest not there yet, then completed by its live process: not interrupted."""
    running = running_without_its_file(backup_dir)
    finished_manifest = files.finished_manifest

    def finished_meanwhile(directory, *, file_name, backup_id):
        found = finished_manifest(directory, file_name=file_name, backup_id=backup_id)
        Backup.objects.filter(pk=backup_id).update(status=BackupStatus.COMPLETED)  # the live process's save
        return found

    monkeypatch.setattr(files, "finished_manifest", finished_meanwhile)

    aftermath = restore_aftermath(now=timezone.now(), jobs_until=timezone.now(), restored=RESTORED)

    assert aftermath.released == []
    running.refresh_from_db()
    assert (running.status, running.error) == (BackupStatus.COMPLETED, "")


def test_a_cache_table_that_cannot_be_emptied_is_named_and_the_others_are_emptied(backup_dir, settings):
    default = settings.CACHES["default"]
    settings.CACHES = {"local": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
                       "missing": {"BACKEND": default["BACKEND"], "LOCATION": "no_such_table"},
                       "default": default}
    cache.set("from-the-copy", "stale")

    aftermath = restore_aftermath(now=timezone.now(), jobs_until=timezone.now(), restored=RESTORED)

    assert aftermath.caches_emptied == ["django_cache"] and cache.get("from-the-copy") is None
    [problem] = aftermath.problems
    assert problem.startswith("The cache table no_such_table could not be emptied (")
    assert "no_such_table" in problem.removeprefix("The cache table no_such_table")  # the database's words
    assert problem.endswith("); run manage.py createcachetable.")
