"""Retention: what it deletes, and the files it must never touch."""

import datetime as dt

import pytest

from backups import files, selectors
from backups.errors import BackupError
from backups.models import Backup, BackupStatus
from backups.retention import days_rule
from backups.services.making import backup_delete, backups_prune
from tests.backups.conftest import folder_names, read_only_folder, with_file
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


def test_a_backup_deleted_by_hand_meanwhile_is_reported_and_not_deleted_again(backup_dir, monkeypatch):
    with_file(BackupFactory(started_at=day(1)), backup_dir)
    old = with_file(BackupFactory(started_at=day(40)), backup_dir)
    plan = selectors.retention_plan

    def deleted_by_hand_after_the_plan(**kwargs):
        planned = plan(**kwargs)
        Backup.objects.filter(pk=old.pk).update(status=BackupStatus.DELETED, note="Deleted by alice: from /backups.")
        return planned

    monkeypatch.setattr(selectors, "retention_plan", deleted_by_hand_after_the_plan)

    report = retention(30)

    assert report.deleted == []
    assert report.errors == [f"#{old.pk}: Backup #{old.pk} is deleted now; nothing was deleted."]
    old.refresh_from_db()
    assert old.note == "Deleted by alice: from /backups."


# --- deleting by hand (the page and the API call backup_delete so) ------------------------------------


def test_a_deletion_whose_manifest_is_already_gone_deletes_the_file_and_says_nothing_of_it(backup_dir):
    backup = with_file(BackupFactory(), backup_dir)
    (backup_dir / files.manifest_name(backup.file_name)).unlink()

    deleted = backup_delete(backup=backup, now=NOW, by="alice", reason="from /backups")

    assert (deleted.status, deleted.deleted_at, deleted.note) == (BackupStatus.DELETED, NOW,
                                                                  "Deleted by alice: from /backups.")
    assert folder_names(backup_dir) == []


def test_a_deletion_the_folder_refuses_keeps_the_files_and_says_why(backup_dir):
    backup = with_file(BackupFactory(), backup_dir)

    with read_only_folder(backup_dir):
        deleted = backup_delete(backup=backup, now=NOW, by="alice", reason="from /backups")

    assert deleted.status == BackupStatus.DELETED  # a file left behind is harmless, a row claiming a lost one is not
    assert deleted.note == (f"Deleted by alice: from /backups. Note: {backup.file_name} could not be deleted "
                            f"(Permission denied); {backup.file_name}.json could not be deleted (Permission denied).")
    assert folder_names(backup_dir) == [backup.file_name, backup.file_name + ".json"]


def test_a_deletion_says_when_the_off_site_copy_stays(backup_dir, settings):
    settings.BACKUP_REMOTE = ""
    backup = with_file(BackupFactory(offsite_copied_at=NOW, offsite_remote="offsite:archive"), backup_dir)

    deleted = backup_delete(backup=backup, now=NOW, by="alice", reason="from /backups")

    assert deleted.note == ("Deleted by alice: from /backups. Note: its off-site copy on offsite:archive stays: "
                            "BACKUP_REMOTE is no longer set.")
    assert folder_names(backup_dir) == []
