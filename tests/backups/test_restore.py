"""restore_backup on the live SQLite test database, and a backup taken under a concurrent writer.

`transactional_db`: the restore needs the write lock, and the copy must see what the test wrote.
"""

import sqlite3
import threading
import time

import pytest
import zstandard
from django.core.management import CommandError, call_command
from django.db import connection

from backups import files, sqlite_engine
from backups.errors import BackupError, ChecksumMismatch, RestoredWithProblems, RestoreRefused
from backups.models import Backup, BackupPurpose, BackupStatus
from backups.services import restoring
from backups.services.making import backup_create
from backups.services.restoring import backup_restore
from backups.sources import Database
from channels.models import ChannelGroup
from tests.backups.conftest import NOW, folder_names, live_db_path, rows_in_copy, sqlite_only
from tests.factories import ChannelGroupFactory

pytestmark = [pytest.mark.django_db(transaction=True), sqlite_only]


def group_names() -> list[str]:
    return sorted(ChannelGroup.objects.values_list("name", flat=True))


def restore(backup_id: int, *flags: str) -> str:
    from io import StringIO

    out = StringIO()
    call_command("restore_backup", str(backup_id), *flags, stdout=out, stderr=out)
    return out.getvalue()


def test_it_restores_the_rows_of_the_backup_through_the_command(backup_dir):
    for name in ("News", "Lawyers", "Cooking"):
        ChannelGroupFactory(name=name)
    backup = backup_create(now=NOW)
    before = group_names()
    ChannelGroup.objects.filter(name="News").delete()
    ChannelGroupFactory(name="Written after the backup")

    output = restore(backup.pk, "--yes")

    assert f"Restored backup #{backup.pk} ({backup.file_name}) into " in output
    assert group_names() == before
    pre_restore = Backup.objects.get(purpose=BackupPurpose.PRE_RESTORE)
    assert f"The data from just before is in backup #{pre_restore.pk}" in output
    assert pre_restore.status == BackupStatus.COMPLETED
    # The backups' own records describe the files on disk: carried over, not rolled back.
    backup.refresh_from_db()
    assert backup.status == BackupStatus.COMPLETED and backup.restored_at is not None
    assert set(folder_names(backup_dir)) == {backup.file_name, backup.file_name + ".json",
                                             pre_restore.file_name, pre_restore.file_name + ".json"}
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA integrity_check")
        assert cursor.fetchall() == [("ok",)]
    # And the pre_restore backup puts the later data back.
    restore(pre_restore.pk, "--yes")
    assert group_names() == sorted(["Lawyers", "Cooking", "Written after the backup"])


def test_an_open_connection_sees_the_restored_data(backup_dir):
    ChannelGroupFactory(name="Kept")
    backup = backup_create(now=NOW)
    ChannelGroupFactory(name="Gone after the restore")
    reader = sqlite3.connect(live_db_path())
    try:
        assert reader.execute("SELECT count(*) FROM channels_channelgroup").fetchone() == (2,)

        restore(backup.pk, "--yes")

        assert reader.execute("SELECT name FROM channels_channelgroup").fetchall() == [("Kept",)]
    finally:
        reader.close()


def test_it_refuses_a_backup_whose_checksum_does_not_match_and_leaves_the_database_alone(backup_dir):
    ChannelGroupFactory(name="In the backup")
    backup = backup_create(now=NOW)
    ChannelGroupFactory(name="Written later")
    path = backup_dir / backup.file_name
    damaged = bytearray(path.read_bytes())
    damaged[-10] ^= 0xFF
    path.write_bytes(bytes(damaged))

    for flags in (["--yes"], ["--yes", "--force"]):  # --force overrides a migrations mismatch only
        with pytest.raises(CommandError, match="The checksum of .* does not match .* never restored, not even with "
                                               "--force.*The database was not changed"):
            restore(backup.pk, *flags)

    assert group_names() == ["In the backup", "Written later"]
    assert not Backup.objects.filter(purpose=BackupPurpose.PRE_RESTORE).exists()


def test_the_service_says_what_does_not_match_and_leaves_the_advice_to_the_command(backup_dir):
    backup = backup_create(now=NOW)
    path = backup_dir / backup.file_name
    path.write_bytes(path.read_bytes()[:-10])

    with pytest.raises(ChecksumMismatch) as refused:
        backup_restore(backup=backup, now=NOW, force=True)

    assert str(refused.value) == (
        f"The checksum of {backup.file_name} does not match the one recorded when it was made (recorded "
        f"{backup.sha256[:16]}…, the file now has {files.sha256_of(path)[:16]}…): the file is damaged or was replaced.")


def test_it_never_restores_a_damaged_file_even_when_forced(backup_dir):
    backup = backup_create(now=NOW)
    ChannelGroupFactory(name="Written later")
    path = backup_dir / backup.file_name
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    # Damaged before its checksum was recorded: only the integrity check can tell.
    Backup.objects.filter(pk=backup.pk).update(sha256=files.sha256_of(path))

    with pytest.raises(CommandError, match="cannot be decompressed in full.*truncated.*The database was not changed"):
        restore(backup.pk, "--yes", "--force")

    assert group_names() == ["Written later"]
    assert folder_names(backup_dir) == [backup.file_name, backup.file_name + ".json"]  # no scratch copy left


@pytest.fixture
def future_migration():
    """A migration row the code does not have; removed again, as the forced restore brings it back."""
    yield "9999_from_the_future"
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM django_migrations WHERE name = '9999_from_the_future'")


def test_it_refuses_a_backup_whose_migrations_do_not_match_the_code_unless_forced(backup_dir, future_migration):
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO django_migrations (app, name, applied) VALUES ('backups', '9999_from_the_future', "
                       "'2026-12-01 00:00:00')")
    backup = backup_create(now=NOW)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM django_migrations WHERE name = '9999_from_the_future'")
    ChannelGroupFactory(name="Written later")

    with pytest.raises(CommandError, match="1 migration this code does not know \\(backups.9999_from_the_fut"):
        restore(backup.pk, "--yes")
    assert group_names() == ["Written later"]

    output = restore(backup.pk, "--yes", "--force")
    assert "Restored despite: The backup's migrations do not match the code" in output
    assert group_names() == []


def test_it_asks_before_restoring_and_refuses_without_a_terminal(backup_dir):
    backup = backup_create(now=NOW)

    with pytest.raises(CommandError, match="Not restoring without confirmation: run it in a terminal, or add --yes"):
        restore(backup.pk)


def test_it_says_which_backups_exist_for_an_unknown_id():
    with pytest.raises(CommandError, match="backup_id: there is no backup #404"):
        restore(404, "--yes")


class Writer(threading.Thread):
    """Inserts one row per transaction through its own connection, as another process would,
    and records the longest a commit took."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.path, self.stop, self.committed, self.longest = path, threading.Event(), 0, 0.0

    def run(self):
        db = sqlite3.connect(self.path, timeout=20, isolation_level=None)
        try:
            while not self.stop.is_set():
                started = time.monotonic()
                db.execute("BEGIN IMMEDIATE")
                # Django's own auth_group: a table whose columns our migrations never change.
                db.execute("INSERT INTO auth_group (name) VALUES (?)", (f"row {self.committed + 1:06d}",))
                db.execute("COMMIT")
                self.longest = max(self.longest, time.monotonic() - started)
                self.committed += 1
                # A breath between transactions, as a real writer has: without it this thread took the
                # lock again at once, and on a loaded machine the backup's own BEGIN IMMEDIATE, whose
                # busy handler sleeps between tries, waited out its 20 s timeout ("database is locked").
                self.stop.wait(0.001)
        finally:
            db.close()


def test_a_backup_under_a_concurrent_writer_holds_a_consistent_moment_and_restores_to_it(backup_dir, tmp_path):
    ChannelGroupFactory.create_batch(2000, description="x" * 500)  # enough pages for the copy to take a while
    writer = Writer(live_db_path())
    writer.start()
    try:
        while writer.committed < 20:
            time.sleep(0.01)
        committed_before = writer.committed
        backup = backup_create(now=NOW)
        committed_after = writer.committed
        while writer.committed < committed_after + 20:  # the writer carries on after the backup too
            time.sleep(0.01)
    finally:
        writer.stop.set()
        writer.join()

    copy = tmp_path / "copy.sqlite3"
    with open(backup_dir / backup.file_name, "rb") as reader, open(copy, "wb") as out:
        zstandard.ZstdDecompressor().copy_stream(reader, out)
    assert rows_in_copy(copy, "PRAGMA integrity_check") == [("ok",)]
    rows = [name for (name,) in rows_in_copy(copy, "SELECT name FROM auth_group WHERE name LIKE 'row %' "
                                                   "ORDER BY name")]
    # A snapshot: every row up to some moment during the backup, none after it, no gaps.
    assert committed_before <= len(rows) <= committed_after
    assert rows == [f"row {n:06d}" for n in range(1, len(rows) + 1)]
    assert writer.longest < 1.0, f"a writer waited {writer.longest:.3f} s"

    restore(backup.pk, "--yes")

    from django.contrib.auth.models import Group

    assert Group.objects.filter(name__startswith="row ").count() == len(rows)
    assert ChannelGroup.objects.count() == 2000


def test_a_restore_by_id_empties_the_cache_and_interrupts_the_copys_jobs(backup_dir):
    from django.core.cache import cache

    from jobs.models import Job, JobStatus
    from tests.factories import JobFactory

    queued = JobFactory(job_type="TEST_OK", status=JobStatus.QUEUED)
    cache.set("cluster-status", "alive at backup time", timeout=None)
    backup = backup_create(now=NOW)
    Job.objects.filter(pk=queued.pk).update(status=JobStatus.COMPLETED)  # it ran meanwhile, in the lost timeline

    output = restore(backup.pk, "--yes")

    assert Job.objects.get(pk=queued.pk).status == JobStatus.CANCELLED
    assert f"#{queued.pk} TEST_OK (was queued)" in output and "Emptied the cache table django_cache." in output
    assert cache.get("cluster-status") is None


def test_a_restore_by_id_keeps_the_records_links_to_the_jobs_the_restored_database_has(backup_dir):
    from jobs.models import JobStatus
    from tests.factories import JobFactory

    earlier_job = JobFactory(status=JobStatus.COMPLETED)
    backup = backup_create(now=NOW, job=earlier_job)
    later_job = JobFactory(status=JobStatus.COMPLETED)  # not in the backup
    later = backup_create(now=NOW, job=later_job)

    restore(backup.pk, "--yes")

    assert Backup.objects.get(pk=backup.pk).job_id == earlier_job.pk
    assert Backup.objects.get(pk=later.pk).job_id is None  # its record carried over; its job is gone with the data


def test_a_backup_is_restored_only_into_a_database_of_its_kind(backup_dir):
    backup = backup_create(now=NOW)

    with pytest.raises(RestoreRefused) as refused:  # refused before any connection is made
        backup_restore(backup=backup, now=NOW, database=Database(vendor="postgresql", name="app"))

    assert str(refused.value) == f"Backup #{backup.pk} is a sqlite backup; the database is postgresql."


def test_a_failure_after_a_restore_by_id_says_the_data_is_back_and_where_the_data_from_before_is(
        backup_dir, monkeypatch):
    ChannelGroupFactory(name="In the backup")
    backup = backup_create(now=NOW)

    def aftermath_fails(**kwargs):
        raise BackupError("the cache table could not be emptied.")

    monkeypatch.setattr(restoring, "restore_aftermath", aftermath_fails)

    with pytest.raises(RestoredWithProblems) as raised:
        backup_restore(backup=backup, now=NOW)

    pre_restore = Backup.objects.get(purpose=BackupPurpose.PRE_RESTORE)
    assert str(raised.value) == (
        f"Backup #{backup.pk} ({backup.file_name}), made 2026-12-01 02:00 UTC was restored, but then: the cache table "
        f"could not be emptied. The data from just before the restore is in backup #{pre_restore.pk} "
        f"({pre_restore.file_name}).")
    assert group_names() == ["In the backup"]


def test_a_restore_whose_database_then_fails_its_check_says_so_and_where_the_data_from_before_is(
        backup_dir, monkeypatch):
    backup = backup_create(now=NOW)

    def check_fails(target):
        raise BackupError("The restored database failed SQLite's integrity check: page 3 is never used.")

    monkeypatch.setattr(sqlite_engine, "check_restored", check_fails)

    with pytest.raises(RestoredWithProblems) as raised:
        backup_restore(backup=backup, now=NOW)

    # The restored database has not got the records back yet: the pre_restore backup is in the folder.
    [pre_restore] = [name for name in folder_names(backup_dir) if name.endswith(".zst") and name != backup.file_name]
    assert str(raised.value) == (
        f"Backup #{backup.pk} ({backup.file_name}), made 2026-12-01 02:00 UTC was restored, but then: The restored "
        "database failed SQLite's integrity check: page 3 is never used. The data from just before the restore is in "
        f"backup #{files.FILE_NAME.fullmatch(pre_restore)['id']} ({pre_restore}).")
