"""list_backups and verify_backup (restore_backup: test_restore.py)."""

import re
import shutil
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from backups import files, sqlite_engine
from backups.models import Backup
from backups.services.making import backup_create
from backups.services.restoring import backup_verify
from tests.backups.conftest import NOW, folder_names, read_only_folder, sqlite_only
from tests.factories import BackupFactory

pytestmark = pytest.mark.django_db


def command(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_list_backups_says_when_there_are_none(backup_dir):
    output = command("list_backups")

    assert output.startswith("No backups yet.")
    assert f"BACKUP_DIR {backup_dir}: 0 B in 0 files" in output
    assert "Newest good backup: none." in output


def test_list_backups_counts_the_folders_files_in_words(backup_dir):
    backup_dir.mkdir()
    (backup_dir / "one").write_bytes(b"1")
    assert "1 B in 1 file, " in command("list_backups")
    (backup_dir / "two").write_bytes(b"2")
    assert "2 B in 2 files, " in command("list_backups")


def test_list_backups_shows_each_backup_and_why_a_run_made_no_file(backup_dir):
    good = BackupFactory(size_bytes=2_500_000, database_size_bytes=10_000_000, duration_seconds=1.25)
    BackupFactory(status="failed", error="The disk is full: no space left for the backup.\nmore")
    BackupFactory(status="skipped", note="Another backup is running.")

    output = command("list_backups")

    # The columns are as wide as their widest value (the ids' too, which depend on the database's sequence).
    assert re.search(rf"^{good.pk} +Completed +2026-11-01 02:00:00 +2\.5 MB +4\.0x +1\.2 s", output, re.M)
    assert good.file_name in output
    assert "The disk is full: no space left for the backup." in output
    assert "more" not in output
    assert "Another backup is running." in output
    assert "Another backup is running." not in command("list_backups", "--no-skipped")
    assert f"Newest good backup: #{good.pk}" in output


@sqlite_only
def test_verify_backup_checks_again_and_records_it(backup_dir):
    backup = backup_create(now=NOW)

    output = command("verify_backup", str(backup.pk))

    assert f"Backup #{backup.pk} ({backup.file_name}) is good" in output
    backup.refresh_from_db()
    assert backup.verified_at > NOW


@sqlite_only
def test_verify_backup_fails_on_a_damaged_file_and_records_why(backup_dir):
    backup = backup_create(now=NOW)
    path = backup_dir / backup.file_name
    path.write_bytes(path.read_bytes()[:-100])

    with pytest.raises(CommandError, match=f"Backup #{backup.pk} failed verification: The checksum of"):
        command("verify_backup", str(backup.pk))

    backup.refresh_from_db()
    assert backup.verify_error.startswith("The checksum of")
    assert not Backup.objects.good().filter(pk=backup.pk).exists()
    assert folder_names(backup_dir) == [backup.file_name, backup.file_name + ".json"]  # no scratch copy left


@sqlite_only
def test_verify_backup_catches_a_damaged_database_whose_checksum_was_recorded_after_the_damage(backup_dir):
    backup = backup_create(now=NOW)
    path = backup_dir / backup.file_name
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    Backup.objects.filter(pk=backup.pk).update(sha256=files.sha256_of(path))

    with pytest.raises(CommandError, match="truncated"):
        command("verify_backup", str(backup.pk))


@sqlite_only
def test_verify_backup_clears_an_earlier_failure_once_the_file_passes(backup_dir):
    backup = backup_create(now=NOW)
    Backup.objects.filter(pk=backup.pk).update(verify_error=f"The file of backup #{backup.pk} is missing.")  # back since

    command("verify_backup", str(backup.pk))

    backup.refresh_from_db()
    assert backup.verify_error == ""
    assert Backup.objects.good().filter(pk=backup.pk).exists()


@sqlite_only
def test_verify_backup_records_that_it_may_not_write_its_copy(backup_dir):
    backup = backup_create(now=NOW)

    with read_only_folder(backup_dir), pytest.raises(CommandError, match=f"Backup #{backup.pk} failed verification"):
        command("verify_backup", str(backup.pk))

    backup.refresh_from_db()
    assert backup.verify_error == (f"Not allowed to write the verification copy in {backup_dir}: Permission denied. "
                                   "Check the folder's owner and permissions.")


@sqlite_only
def test_two_verifications_of_one_backup_at_once_each_decompress_a_copy_of_their_own(backup_dir, monkeypatch):
    """The page's button and verify_backup, say: the second starts while the first decompresses."""
    backup = backup_create(now=NOW)
    decompress = sqlite_engine.decompress
    second = []

    def another_verification_meanwhile(path, target):
        decompress(path, target)
        if not second:
            second.append("started")
            second.append(backup_verify(backup=Backup.objects.get(pk=backup.pk), now=NOW))

    monkeypatch.setattr(sqlite_engine, "decompress", another_verification_meanwhile)

    assert f"Backup #{backup.pk} ({backup.file_name}) is good" in command("verify_backup", str(backup.pk))
    assert second[1].verify_error == ""
    assert folder_names(backup_dir) == [backup.file_name, backup.file_name + ".json"]  # no scratch copy left


def test_verify_backup_refuses_a_backup_without_a_file(backup_dir):
    failed = BackupFactory(status="failed")

    with pytest.raises(CommandError, match=f"^Backup #{failed.pk} is failed: only completed backups have a file to verify.$"):
        command("verify_backup", str(failed.pk))
    failed.refresh_from_db()
    assert failed.verify_error == ""  # a failed backup did not fail a verification
    with pytest.raises(CommandError, match="backup_id: there is no backup #999"):
        command("verify_backup", "999")


@pytest.mark.parametrize("file_name", ["../secret.txt", "{own}.bak"])
def test_verify_backup_opens_no_file_whose_name_the_app_did_not_give(backup_dir, file_name):
    (backup_dir.parent / "secret.txt").write_text("not a backup")
    backup = backup_create(now=NOW)
    file_name = file_name.format(own=backup.file_name)
    shutil.copy(backup_dir / backup.file_name, backup_dir / f"{backup.file_name}.bak")  # a person's copy, say
    Backup.objects.filter(pk=backup.pk).update(file_name=file_name)

    with pytest.raises(CommandError, match="not a name the app gives; it is not opened"):
        command("verify_backup", str(backup.pk))
