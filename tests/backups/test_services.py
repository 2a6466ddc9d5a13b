"""backup_create on the real SQLite test database: the published file, and every failure path."""

import datetime as dt
import errno
import hashlib
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
from contextlib import ExitStack

import pytest
import zstandard

from backups import files, sqlite_engine
from backups.errors import BackupBusy, BackupConfigError, BackupError
from backups.models import Backup, BackupPurpose, BackupStatus
from backups.services.making import backup_create, backups_release_stale, manifest_of
from backups.sources import Database
from jobs.models import JobStatus
from scheduling.models import ScheduleRun
from tests.backups.conftest import (
    CAP_KILL,
    NOW,
    folder_names,
    read_only_folder,
    rows_in_copy,
    sqlite_only,
    with_file,
    without_capability,
)
from tests.factories import BackupFactory, JobFactory, ScheduledTaskFactory

pytestmark = [pytest.mark.django_db, sqlite_only]


def decompressed(path, target):
    with open(path, "rb") as reader, open(target, "wb") as out:
        zstandard.ZstdDecompressor().copy_stream(reader, out)
    return target


def test_it_publishes_a_verified_compressed_copy_with_its_manifest(backup_dir, tmp_path):
    backup = backup_create(now=NOW)

    assert backup.status == BackupStatus.COMPLETED, backup.error
    assert backup.file_name == f"db-sqlite-20261201T020005Z-{backup.pk}.sqlite3.zst"
    published = backup_dir / backup.file_name
    assert folder_names(backup_dir) == [backup.file_name, backup.file_name + ".json"]
    assert backup.sha256 == hashlib.sha256(published.read_bytes()).hexdigest()
    assert backup.size_bytes == published.stat().st_size
    assert backup.database_size_bytes > backup.size_bytes
    assert backup.compression == "zstd level 3"
    assert backup.database_version == f"SQLite {sqlite3.sqlite_version}"
    assert backup.verified_at == backup.finished_at > backup.started_at == NOW
    assert "backups.0003_default_backup_schedule" in backup.applied_migrations

    # The manifest says all the row says: the backup still describes itself when the database is lost.
    manifest = json.loads((backup_dir / (backup.file_name + ".json")).read_text())
    assert manifest == {
        "format": 1, "id": backup.pk, "file": backup.file_name, "status": "completed", "purpose": "regular",
        "backup_type": "full", "database_vendor": "sqlite", "database_version": backup.database_version,
        "tool": backup.tool, "size_bytes": backup.size_bytes, "database_size_bytes": backup.database_size_bytes,
        "compression": "zstd level 3", "sha256": backup.sha256, "started_at": "2026-12-01T02:00:05+00:00",
        "finished_at": backup.finished_at.isoformat(), "duration_seconds": backup.duration_seconds,
        "verified_at": backup.verified_at.isoformat(), "applied_migrations": backup.applied_migrations,
        "tables": backup.table_rows, "job_id": None, "schedule_run_id": None, "schedule_name": None,
        "worker": f"{socket.gethostname()}:{os.getpid()}",
        "restore": files.restore_entry(vendor="sqlite", file_name=backup.file_name, sha256=backup.sha256, tool=backup.tool),
    }
    assert backup.table_rows["django_migrations"] == len(backup.applied_migrations)

    copy = decompressed(published, tmp_path / "copy.sqlite3")
    assert rows_in_copy(copy, "PRAGMA integrity_check") == [("ok",)]
    # journal_mode=DELETE in the header (bytes 18-19 are 2 for WAL): opening it leaves no side files
    assert copy.read_bytes()[18:20] == b"\x01\x01"
    assert rows_in_copy(copy, "SELECT count(*) FROM django_migrations")[0][0] == len(backup.applied_migrations)


def test_it_records_the_job_and_through_it_the_schedule_run(backup_dir):
    job = JobFactory(status=JobStatus.RUNNING, attempts=1)
    run = ScheduleRun.objects.create(schedule=ScheduledTaskFactory(name="Nightly"), schedule_name="Nightly",
                                     trigger="scheduled", due_at=NOW, outcome="dispatched")
    run.jobs.add(job)

    backup = backup_create(now=NOW, job=job)

    assert backup.job == job
    assert backup.worker.endswith(f":{os.getpid()}")
    manifest = json.loads((backup_dir / files.manifest_name(backup.file_name)).read_text())
    assert (manifest["job_id"], manifest["schedule_run_id"], manifest["schedule_name"]) == (job.pk, run.pk, "Nightly")


def test_a_backup_taken_before_a_restore_says_so_in_its_row_and_manifest(backup_dir):
    backup = backup_create(now=NOW, purpose=BackupPurpose.PRE_RESTORE)

    assert Backup.objects.get(pk=backup.pk).purpose == BackupPurpose.PRE_RESTORE
    assert json.loads((backup_dir / files.manifest_name(backup.file_name)).read_text())["purpose"] == "pre_restore"


def test_a_postgresql_backups_manifest_names_the_pg_dump_that_made_it():
    """Restoring it by hand needs a pg_restore at least as new (made from a row: no server needed)."""
    backup = BackupFactory(database_vendor="postgresql", database_version="PostgreSQL 15.10", tool="pg_dump 15.10")

    restore = manifest_of(backup)["restore"]

    assert "A pg_dump archive in custom format (made by pg_dump 15.10)." in restore["in_words"]
    assert restore["commands"][1] == f"pg_restore -f /dev/null {backup.file_name}"


def fill_the_disk_after_the_first_write(monkeypatch):
    written = {"bytes": 0}
    real_write = files.HashingWriter.write

    def write_until_full(self, data):
        if written["bytes"] > 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        written["bytes"] += len(data)
        return real_write(self, data)

    monkeypatch.setattr(files.HashingWriter, "write", write_until_full)
    monkeypatch.setattr(files, "CHUNK_BYTES", 4096)  # several writes even for the small test database


def test_it_fails_when_the_disk_fills_up_and_leaves_no_partial_file(backup_dir, monkeypatch):
    older = with_file(BackupFactory(), backup_dir)
    fill_the_disk_after_the_first_write(monkeypatch)

    with pytest.raises(BackupError, match="The disk is full"):
        backup_create(now=NOW)

    failed = Backup.objects.exclude(pk=older.pk).get()
    assert failed.status == BackupStatus.FAILED
    assert "The disk is full" in failed.error
    # What it was copying, and when it gave up.
    assert (failed.database_version, failed.tool) == (f"SQLite {sqlite3.sqlite_version}",
                                                      f"SQLite online backup API, zstandard {zstandard.__version__}")
    assert failed.database_size_bytes > 0
    assert 0 < failed.duration_seconds < 60
    assert failed.finished_at == NOW + dt.timedelta(seconds=failed.duration_seconds)
    assert folder_names(backup_dir) == [older.file_name, older.file_name + ".json"]
    assert (backup_dir / older.file_name).read_bytes() == b"backup bytes"


def test_a_failed_backup_leaves_the_scratch_files_of_other_operations_alone(backup_dir, monkeypatch):
    # Verifying and restoring work on scratch copies beside the backups; one may run while a backup fails.
    older = with_file(BackupFactory(), backup_dir)
    others = [files.partial_path(backup_dir, older.file_name, ".verify-0a1b2c3d.sqlite3"),
              files.partial_path(backup_dir, older.file_name, ".restore-4e5f6a7b.sqlite3")]
    for scratch in others:
        scratch.write_bytes(b"another operation's copy")
    fill_the_disk_after_the_first_write(monkeypatch)

    with pytest.raises(BackupError, match="The disk is full"):
        backup_create(now=NOW)

    assert folder_names(backup_dir) == sorted([older.file_name, older.file_name + ".json", *(p.name for p in others)])
    assert all(scratch.read_bytes() == b"another operation's copy" for scratch in others)


def test_it_refuses_to_start_without_twice_the_database_size_free(backup_dir, monkeypatch):
    monkeypatch.setattr(files, "free_bytes", lambda directory: 1000)

    with pytest.raises(BackupConfigError) as refused:
        backup_create(now=NOW)

    assert re.fullmatch(rf"Not enough free space for a backup in {re.escape(str(backup_dir))}: 1.0 KB free, [0-9.]+ MB "
                        r"needed \(2x the database\)\. Free some space, delete old backups, or point BACKUP_DIR at a "
                        r"larger disk\.", str(refused.value))
    assert Backup.objects.get().status == BackupStatus.FAILED
    assert folder_names(backup_dir) == []


def test_exactly_twice_the_database_size_free_is_enough(backup_dir, monkeypatch):
    monkeypatch.setattr(files, "free_bytes", lambda directory: 2 * sqlite_engine.database_size(Database.default()))

    assert backup_create(now=NOW).status == BackupStatus.COMPLETED


def test_it_fails_clearly_when_the_folder_cannot_be_created(settings, tmp_path):
    # CI runs as root, which may write anywhere: a path under a regular file fails for root too.
    (tmp_path / "a-file").write_text("not a folder")
    settings.BACKUP_DIR = tmp_path / "a-file" / "backups"

    with pytest.raises(BackupConfigError, match="cannot be used: a part of the path is a file"):
        backup_create(now=NOW)

    assert "Set BACKUP_DIR to a folder this app can write to" in Backup.objects.get().error


def test_it_fails_clearly_when_the_folder_is_read_only(backup_dir):
    older = with_file(BackupFactory(), backup_dir)
    message = (f"The backup folder {backup_dir} cannot be used: Permission denied. Set BACKUP_DIR to a folder this "
               "app can write to.")

    with read_only_folder(backup_dir):
        with pytest.raises(BackupConfigError) as raised:
            backup_create(now=NOW)

    assert str(raised.value) == message
    failed = Backup.objects.exclude(pk=older.pk).get()
    assert (failed.status, failed.error, failed.size_bytes, failed.sha256) == (BackupStatus.FAILED, message, None, "")
    assert folder_names(backup_dir) == [older.file_name, older.file_name + ".json"]
    assert (backup_dir / older.file_name).read_bytes() == b"backup bytes"


def test_a_folder_that_turns_read_only_during_the_backup_is_named_as_the_cause(backup_dir, monkeypatch):
    """SQLite itself says only "unable to open database file" when the copy cannot be created."""
    real_copy = sqlite_engine.copy_database
    folder_turns_read_only = ExitStack()

    def copy_once_the_folder_is_read_only(db, copy_path):
        folder_turns_read_only.enter_context(read_only_folder(copy_path.parent))
        real_copy(db, copy_path)

    monkeypatch.setattr(sqlite_engine, "copy_database", copy_once_the_folder_is_read_only)

    with folder_turns_read_only, pytest.raises(BackupConfigError) as raised:
        backup_create(now=NOW)

    assert str(raised.value) == (f"The backup folder {backup_dir} cannot be used: Permission denied. Set BACKUP_DIR "
                                 "to a folder this app can write to.")
    assert Backup.objects.get().error == str(raised.value)
    assert folder_names(backup_dir) == []


def test_a_copy_that_fails_in_a_usable_folder_keeps_sqlites_words(backup_dir, monkeypatch):
    def copy_that_fails(db, copy_path):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(sqlite_engine, "copy_database", copy_that_fails)

    with pytest.raises(BackupError) as raised:
        backup_create(now=NOW)

    assert not isinstance(raised.value, BackupConfigError)  # the job's retries may do better
    assert str(raised.value) == "SQLite failed while making the backup: disk I/O error."


def test_an_unexpected_error_is_named_with_its_kind(backup_dir, monkeypatch):
    def copy_that_breaks(db, copy_path):
        raise ValueError("a bug")

    monkeypatch.setattr(sqlite_engine, "copy_database", copy_that_breaks)

    with pytest.raises(BackupError) as raised:
        backup_create(now=NOW)

    assert str(raised.value) == "The backup failed unexpectedly: ValueError: a bug"
    assert Backup.objects.get().error == str(raised.value)


def test_a_permission_refused_in_a_usable_folder_is_setup_to_fix(backup_dir, monkeypatch):
    """Publishing onto a name a file of another user holds, say: no retry gets past it, the job fails at once."""
    def publish_refused(partial, target):
        raise PermissionError(errno.EACCES, "Permission denied", str(target))

    monkeypatch.setattr(files, "publish", publish_refused)

    with pytest.raises(BackupConfigError) as raised:
        backup_create(now=NOW)

    assert str(raised.value) == (f"Not allowed to write the backup in {backup_dir}: Permission denied. Check the "
                                 "folder's owner and permissions.")
    assert folder_names(backup_dir) == []


def test_a_disk_that_fills_up_during_the_backup_is_no_setup_error(backup_dir, monkeypatch):
    """A full disk is not the folder's setup: the error stays one the job's retries may get past.
    (The disk cannot be filled here: the copy fails as SQLite does on a full disk, and the folder's
    second check, after it, finds no room.)"""
    real_check = files.ensure_writable_dir
    checks = []

    def check_then_find_the_disk_full(directory):
        checks.append(directory)
        if len(checks) == 1:  # the preflight, before the copy
            return real_check(directory)
        raise BackupConfigError(f"The backup folder {directory} cannot be used: No space left on device.") from (
            OSError(errno.ENOSPC, "No space left on device"))

    def copy_onto_a_full_disk(db, copy_path):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(files, "ensure_writable_dir", check_then_find_the_disk_full)
    monkeypatch.setattr(sqlite_engine, "copy_database", copy_onto_a_full_disk)

    with pytest.raises(BackupError) as raised:
        backup_create(now=NOW)

    assert len(checks) == 2
    assert not isinstance(raised.value, BackupConfigError)
    assert str(raised.value) == "SQLite failed while making the backup: database or disk is full."


def test_it_refuses_a_truncated_copy_and_removes_it(backup_dir, monkeypatch):
    real_copy = sqlite_engine.copy_database

    def truncated_copy(db, copy_path):
        real_copy(db, copy_path)
        with open(copy_path, "r+b") as fh:
            fh.truncate(copy_path.stat().st_size // 2)

    monkeypatch.setattr(sqlite_engine, "copy_database", truncated_copy)

    with pytest.raises(BackupError, match="The copy (is damaged|failed SQLite's integrity check)"):
        backup_create(now=NOW)

    assert Backup.objects.get().status == BackupStatus.FAILED
    assert folder_names(backup_dir) == []


def test_it_gives_up_on_a_locked_database(backup_dir, tmp_path):
    # A rollback-journal database (not WAL) whose writer holds the exclusive lock: readers must wait.
    path = tmp_path / "locked.sqlite3"
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("CREATE TABLE t (x)")
    writer.execute("BEGIN EXCLUSIVE")
    writer.execute("INSERT INTO t VALUES (1)")
    try:
        with pytest.raises(BackupError, match="The database is locked: the copy waited 2 s"):
            backup_create(now=NOW, database=Database(vendor="sqlite", name=str(path)))
    finally:
        writer.close()
    assert folder_names(backup_dir) == []


def test_it_refuses_a_database_without_applied_migrations(backup_dir, tmp_path):
    path = tmp_path / "other.sqlite3"
    other = sqlite3.connect(path)
    other.execute("CREATE TABLE django_migrations (id INTEGER PRIMARY KEY, app TEXT, name TEXT, applied TEXT)")
    other.commit()
    other.close()

    with pytest.raises(BackupError, match="django_migrations is empty"):
        backup_create(now=NOW, database=Database(vendor="sqlite", name=str(path)))
    assert folder_names(backup_dir) == []


@pytest.mark.parametrize(("worker", "on"), [("elsewhere:1", "elsewhere:1"), ("", "a worker")],
                         ids=["its-worker", "from-before-workers-were-recorded"])
def test_it_never_overlaps_a_running_backup(backup_dir, worker, on):
    running_job = JobFactory(status=JobStatus.RUNNING, attempts=1)
    running = Backup.objects.create(status=BackupStatus.RUNNING, database_vendor="sqlite", job=running_job,
                                    started_at=NOW, worker=worker)

    with pytest.raises(BackupBusy) as busy:
        backup_create(now=NOW + dt.timedelta(minutes=1), job=JobFactory(status=JobStatus.RUNNING, attempts=1))

    assert str(busy.value) == (f"Another backup is running: #{running.pk} (job #{running_job.pk}), started 2026-12-01 "
                               f"02:00:05 UTC on {on}. Backups never overlap.")
    assert Backup.objects.count() == 1


def test_a_backup_released_meanwhile_by_another_process_keeps_that_record(backup_dir, monkeypatch):
    """Its job was taken for lost and a later attempt released the row while this process still copied: the
    failure that follows writes over nothing, the row is no longer this process's to settle."""
    def released_meanwhile_then_the_disk_fills_up(db, copy_path):
        Backup.objects.filter(status=BackupStatus.RUNNING).update(status=BackupStatus.FAILED,
                                                                   error="Interrupted: released meanwhile.")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(sqlite_engine, "copy_database", released_meanwhile_then_the_disk_fills_up)

    with pytest.raises(BackupError, match="The disk is full"):
        backup_create(now=NOW)

    assert Backup.objects.get().error == "Interrupted: released meanwhile."


def test_it_releases_a_backup_whose_job_ended_and_removes_its_leftovers(backup_dir):
    dead_job = JobFactory(status=JobStatus.RETRY_WAIT, attempts=1)
    stale = Backup.objects.create(status=BackupStatus.RUNNING, database_vendor="sqlite", job=dead_job,
                                  started_at=NOW, worker="elsewhere:1")
    stale.file_name = files.file_name_for(vendor="sqlite", started_at=NOW, backup_id=stale.pk)
    stale.save()
    backup_dir.mkdir()
    files.partial_path(backup_dir, stale.file_name, ".copy.sqlite3").write_bytes(b"half a copy")

    backup = backup_create(now=NOW)

    stale.refresh_from_db()
    assert (stale.status, stale.finished_at) == (BackupStatus.FAILED, NOW)
    assert stale.error == f"Interrupted: its job #{dead_job.pk} is waiting to retry and the backup never finished."
    assert backup.status == BackupStatus.COMPLETED
    assert folder_names(backup_dir) == [backup.file_name, backup.file_name + ".json"]


def a_commands_backup(*, worker: str, started_at: dt.datetime, directory) -> Backup:
    """A backup made without a job (restore_backup's backup before a restore), still running, with
    its copy under way; `worker` names its process as host:pid."""
    backup = Backup.objects.create(status=BackupStatus.RUNNING, purpose=BackupPurpose.PRE_RESTORE,
                                   database_vendor="sqlite", started_at=started_at, worker=worker)
    backup.file_name = files.file_name_for(vendor="sqlite", started_at=started_at, backup_id=backup.pk)
    backup.save()
    directory.mkdir(exist_ok=True)
    files.partial_path(directory, backup.file_name, ".copy.sqlite3").write_bytes(b"half a copy")
    return backup


@pytest.mark.parametrize(("worker", "age"), [
    (f"{socket.gethostname()}:{os.getpid()}", dt.timedelta(hours=1)),  # alive on this machine
    ("another-machine:4242", dt.timedelta(hours=1)),  # whose process cannot be asked: only its age tells
    ("another-machine:4242", dt.timedelta(days=1)),  # a day is not more than a day yet
], ids=["on-this-machine", "on-another-machine", "on-another-machine-for-a-day"])
def test_it_leaves_a_live_commands_backup_running_and_says_it_is_busy(backup_dir, worker, age):
    live = a_commands_backup(worker=worker, started_at=NOW - age, directory=backup_dir)

    with pytest.raises(BackupBusy, match=f"Another backup is running: #{live.pk} \\(taken before a restore\\)"):
        backup_create(now=NOW, job=JobFactory(status=JobStatus.RUNNING, attempts=1))

    live.refresh_from_db()
    assert (live.status, live.error) == (BackupStatus.RUNNING, "")
    assert folder_names(backup_dir) == [files.partial_path(backup_dir, live.file_name, ".copy.sqlite3").name]


def test_another_process_on_this_machine_is_asked_whether_it_lives_not_signalled(backup_dir):
    # SIGHUP (signal 1) as the kernel has it, even under nohup: a signal sent by mistake would end it.
    sleeper = subprocess.Popen(["sleep", "60"], preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL))
    try:
        live = a_commands_backup(worker=f"{socket.gethostname()}:{sleeper.pid}",
                                 started_at=NOW - dt.timedelta(minutes=5), directory=backup_dir)

        with pytest.raises(BackupBusy, match=f"Another backup is running: #{live.pk} "):
            backup_create(now=NOW)

        with pytest.raises(subprocess.TimeoutExpired):  # it lives on
            sleeper.wait(timeout=0.2)
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_commands_backup_whose_process_belongs_to_another_user_is_left_running(backup_dir):
    """Asking another user's process whether it lives is refused (EPERM), which still says that it does (a
    command run as root beside the app's user, say). Root is never refused: here it gives up CAP_KILL."""
    with ExitStack() as stack:
        if os.geteuid() == 0:
            sleeper = subprocess.Popen(["sleep", "60"], user="nobody")
            stack.callback(sleeper.wait)
            stack.callback(sleeper.kill)
            pid = sleeper.pid
            stack.enter_context(without_capability(CAP_KILL))
        else:
            if os.stat("/proc/1").st_uid == os.getuid():
                pytest.skip("no process of another user to ask")
            pid = 1
        live = a_commands_backup(worker=f"{socket.gethostname()}:{pid}", started_at=NOW - dt.timedelta(minutes=5),
                                 directory=backup_dir)

        with pytest.raises(BackupBusy, match=f"Another backup is running: #{live.pk} "):
            backup_create(now=NOW)

    live.refresh_from_db()
    assert (live.status, live.error) == (BackupStatus.RUNNING, "")


def test_it_releases_a_commands_backup_whose_process_on_this_machine_is_gone(backup_dir):
    ended = subprocess.Popen(["true"])
    ended.wait()
    dead = a_commands_backup(worker=f"{socket.gethostname()}:{ended.pid}", started_at=NOW - dt.timedelta(minutes=5),
                             directory=backup_dir)

    backup = backup_create(now=NOW)

    dead.refresh_from_db()
    assert (dead.status, dead.error) == (BackupStatus.FAILED,
                                         f"Interrupted: the process that made it ({dead.worker}) is gone.")
    assert folder_names(backup_dir) == [backup.file_name, backup.file_name + ".json"]


def test_it_releases_a_commands_backup_from_another_machine_after_a_day(backup_dir):
    old = a_commands_backup(worker="another-machine:4242", started_at=NOW - dt.timedelta(days=1, minutes=1),
                            directory=backup_dir)

    backup = backup_create(now=NOW)

    old.refresh_from_db()
    assert old.status == BackupStatus.FAILED
    assert old.error == "Interrupted: still running after 1 day; its process (another-machine:4242) is gone."
    assert folder_names(backup_dir) == [backup.file_name, backup.file_name + ".json"]


def test_it_releases_the_backup_of_an_earlier_attempt_of_the_same_job(backup_dir):
    job = JobFactory(status=JobStatus.RUNNING, attempts=2)
    Backup.objects.create(status=BackupStatus.RUNNING, database_vendor="sqlite", job=job, started_at=NOW)

    backup = backup_create(now=NOW, job=job)

    assert backup.status == BackupStatus.COMPLETED
    assert Backup.objects.get(status=BackupStatus.FAILED).error == (
        f"Interrupted: attempt 1 of job #{job.pk} stopped before the backup finished (its worker died or was stopped).")


def test_it_releases_a_commands_backup_still_running_after_a_day(backup_dir):
    # Made by a command on another machine: only its age tells that its process is gone.
    stale = Backup.objects.create(status=BackupStatus.RUNNING, database_vendor="sqlite", worker="elsewhere:1",
                                  started_at=NOW - dt.timedelta(days=1, seconds=1))

    backup_create(now=NOW)

    stale.refresh_from_db()
    assert (stale.status, stale.error) == (
        BackupStatus.FAILED, "Interrupted: still running after 1 day; its process (elsewhere:1) is gone.")


def test_a_backup_that_completes_while_it_is_judged_stale_keeps_its_file(backup_dir, monkeypatch):
    """Its process, on another machine, completes it between the read of the running rows and the release:
    the release is a compare-and-set on "running", so the completed backup and its file stay."""
    slow = a_commands_backup(worker="another-machine:4242", started_at=NOW - dt.timedelta(days=2), directory=backup_dir)
    (backup_dir / slow.file_name).write_bytes(b"published")
    real_gethostname = socket.gethostname

    def completed_meanwhile():
        Backup.objects.filter(pk=slow.pk).update(status=BackupStatus.COMPLETED)
        return real_gethostname()

    monkeypatch.setattr(socket, "gethostname", completed_meanwhile)

    backups_release_stale(now=NOW)

    slow.refresh_from_db()
    assert (slow.status, slow.error) == (BackupStatus.COMPLETED, "")
    assert (backup_dir / slow.file_name).read_bytes() == b"published"
