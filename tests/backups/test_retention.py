"""Retention: what it deletes, and the files it must never touch."""

import datetime as dt

import pytest

from backups import files
from backups.errors import BackupError
from backups.models import Backup, BackupStatus
from backups.retention import days_rule
from backups.services.making import backup_delete, backups_prune
from tests.backups.conftest import folder_names, with_file
from tests.factories import BackupFactory

pytestmark = pytest.mark.django_db

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 12, 1, 2, 5, tzinfo=UTC)


def day(n: int) -> dt.datetime:
    """n days before NOW."""
    return NOW - dt.timedelta(days=n)


def retention(days: int):
    return backups_prune(rule=days_rule(days), now=NOW, by="the test")


def test_it_deletes_backups_older_than_the_retention_and_records_each_deletion(backup_dir):
    old = [with_file(BackupFactory(started_at=day(n)), backup_dir) for n in (40, 31)]
    recent = [with_file(BackupFactory(started_at=day(n)), backup_dir) for n in (29, 1)]

    report = retention(30)

    assert sorted(report.deleted, key=lambda b: b.pk) == old
    assert report.errors == []
    for backup in old:
        backup.refresh_from_db()
        assert backup.status == BackupStatus.DELETED
        assert backup.deleted_at == NOW
        assert backup.note == "Deleted by the test: older than the retention of 30 days."
    assert folder_names(backup_dir) == sorted([b.file_name for b in recent] + [b.file_name + ".json" for b in recent])


def test_the_newest_verified_backup_survives_a_retention_of_one_day(backup_dir):
    backups = [with_file(BackupFactory(started_at=day(n)), backup_dir) for n in (9, 5, 3)]

    retention(1)

    assert list(Backup.objects.filter(status=BackupStatus.COMPLETED)) == [backups[-1]]
    assert (backup_dir / backups[-1].file_name).exists()
    assert Backup.objects.get(pk=backups[0].pk).note == "Deleted by the test: older than the retention of 1 day."


def test_the_newest_good_backup_survives_even_behind_newer_bad_ones(backup_dir):
    good = with_file(BackupFactory(started_at=day(9)), backup_dir)
    with_file(BackupFactory(started_at=day(5), verified_at=None), backup_dir)
    with_file(BackupFactory(started_at=day(3), verify_error="checksum mismatch"), backup_dir)

    retention(1)

    assert list(Backup.objects.filter(status=BackupStatus.COMPLETED)) == [good]


def test_it_keeps_everything_when_no_backup_is_verified(backup_dir):
    unverified = [with_file(BackupFactory(started_at=day(n), verified_at=None), backup_dir) for n in (9, 5)]

    assert retention(1).deleted == []
    assert Backup.objects.filter(status=BackupStatus.COMPLETED).count() == len(unverified)


def test_it_never_touches_files_the_app_did_not_make(backup_dir):
    with_file(BackupFactory(started_at=day(1)), backup_dir)
    # An old row whose file name is not the one the app gives that row (edited by hand, say).
    renamed = BackupFactory(started_at=day(60))
    renamed.file_name = "db-sqlite-20261001T020000Z-999999.sqlite3.zst"
    renamed.save()
    with_file(renamed, backup_dir)
    foreign = ["notes.txt", "db-sqlite-20260101T020000Z-424242.sqlite3.zst", "db-sqlite-latest.sqlite3.zst",
               "db-sqlite-20260101T020000Z-7.sqlite3.zst.bak"]
    for name in foreign:
        (backup_dir / name).write_text("not ours")

    report = retention(1)

    assert report.deleted == []
    assert report.errors == [f"#{renamed.pk}: {renamed.file_name!r} is not a name this app gives; left alone."]
    for name in foreign + [renamed.file_name]:
        assert (backup_dir / name).exists(), name
    renamed.refresh_from_db()
    assert renamed.status == BackupStatus.COMPLETED


@pytest.mark.parametrize("suffix", [".bak", "~", ".sqlite3.zst"])
def test_it_never_deletes_a_file_whose_name_only_begins_like_the_rows_own(backup_dir, suffix):
    with_file(BackupFactory(started_at=day(1)), backup_dir)
    # A row pointed at a person's copy of its file (edited by hand, say): the copy is not the app's.
    copied = BackupFactory(started_at=day(60))
    copied.file_name += suffix
    copied.save()
    with_file(copied, backup_dir, b"a person's copy")

    report = retention(1)

    assert report.deleted == []
    assert report.errors == [f"#{copied.pk}: {copied.file_name!r} is not a name this app gives; left alone."]
    assert (backup_dir / copied.file_name).read_bytes() == b"a person's copy"
    copied.refresh_from_db()
    assert copied.status == BackupStatus.COMPLETED


def test_it_never_touches_rows_or_files_of_failed_runs(backup_dir):
    with_file(BackupFactory(started_at=day(1)), backup_dir)
    failed = BackupFactory(status=BackupStatus.FAILED, started_at=day(60), error="disk full")
    failed.file_name = files.file_name_for(vendor="sqlite", started_at=failed.started_at, backup_id=failed.pk)
    failed.save()
    (backup_dir / failed.file_name).write_text("whatever a failed run may have left")

    retention(1)

    failed.refresh_from_db()
    assert failed.status == BackupStatus.FAILED
    assert (backup_dir / failed.file_name).exists()


def test_a_deletion_whose_file_is_already_gone_says_so(backup_dir):
    with_file(BackupFactory(started_at=day(1)), backup_dir)
    gone = BackupFactory(started_at=day(60))

    retention(30)

    gone.refresh_from_db()
    assert gone.status == BackupStatus.DELETED
    assert gone.note.endswith("Note: the file was already gone.")


def test_deleting_by_hand_refuses_a_running_backup(backup_dir):
    running = Backup.objects.create(status=BackupStatus.RUNNING, database_vendor="sqlite")

    with pytest.raises(BackupError, match="is running: only completed backups have a file to delete"):
        backup_delete(backup=running, now=NOW, by="alice")
