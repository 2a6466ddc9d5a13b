"""A symbolic link in BACKUP_DIR carrying a backup's name is never followed: not by download (page and
API), verify, adopt_backups, restore_backup --file or the off-site copy.

Anyone who can write to the folder could plant one; followed, it would serve /etc/passwd (or the
secrets file) as a download, or copy it off-site. The links here point at /etc/passwd and at a real,
good backup moved out of the folder: the second proves it is the link that is refused, not the
content (followed, it would pass every check).
"""

from __future__ import annotations

import os
import shutil
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from backups import files, offsite
from backups.errors import BackupError
from backups.models import Backup
from backups.offsite import OffsiteConfigError
from backups.services import restoring
from backups.services.making import backup_create
from tests.api_clients import token_client, user_with
from tests.backups.conftest import NOW, sqlite_only
from tests.factories import BackupFactory

PASSWD = Path("/etc/passwd")
LINK_WORDS = "is a symbolic link, not a file the app made: it is not opened"


def plant_link(backup: Backup, directory: Path, target: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    link = directory / backup.file_name
    link.unlink(missing_ok=True)
    link.symlink_to(target)
    return link


def moved_out(backup: Backup, directory: Path, elsewhere: Path) -> Path:
    """Move a real backup's file out of the folder and leave a link to it under its name."""
    elsewhere.mkdir(parents=True, exist_ok=True)
    outside = elsewhere / backup.file_name
    shutil.move(directory / backup.file_name, outside)
    plant_link(backup, directory, outside)
    return outside


@pytest.fixture
def downloader(db):
    return user_with("view", "download", model="backup", app="backups", username="dora")


# --- download ---------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("target", ["passwd", "outside"])
def test_the_api_refuses_to_download_through_a_link_with_409_in_words(downloader, backup_dir, tmp_path, target):
    backup = BackupFactory()
    secret = PASSWD if target == "passwd" else tmp_path / "secret.txt"
    if target == "outside":
        secret.write_text("not for download")
    plant_link(backup, backup_dir, secret)

    response = token_client(downloader).get(f"/api/backups/{backup.pk}/download")

    assert response.status_code == 409
    assert response.json() == {"errors": {"__all__": [f"{backup.file_name} in BACKUP_DIR {LINK_WORDS}. Remove the "
                                                      "link, or put the real file there."]}}
    assert str(backup_dir) not in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("target", ["passwd", "outside"])
def test_the_page_refuses_to_download_through_a_link(client, downloader, backup_dir, tmp_path, target):
    backup = BackupFactory()
    secret = PASSWD if target == "passwd" else tmp_path / "secret.txt"
    if target == "outside":
        secret.write_text("not for download")
    plant_link(backup, backup_dir, secret)
    client.force_login(downloader)

    response = client.get(reverse("backup_download", args=[backup.pk]))

    assert response.status_code == 404
    assert b"root:" not in response.content and b"not for download" not in response.content


@pytest.mark.django_db
def test_a_fifo_carrying_a_backups_name_is_refused_without_waiting(downloader, backup_dir):
    backup = BackupFactory()
    backup_dir.mkdir(parents=True)
    os.mkfifo(backup_dir / backup.file_name)

    response = token_client(downloader).get(f"/api/backups/{backup.pk}/download")

    assert response.status_code == 409
    assert "is not a regular file: it is not opened" in response.json()["errors"]["__all__"][0]


@pytest.mark.django_db
def test_a_regular_file_still_downloads(downloader, backup_dir):
    backup = BackupFactory()
    backup_dir.mkdir(parents=True)
    (backup_dir / backup.file_name).write_bytes(b"the backup")

    response = token_client(downloader).get(f"/api/backups/{backup.pk}/download")

    assert response.status_code == 200 and b"".join(response.streaming_content) == b"the backup"


def test_a_link_swapped_in_after_the_check_is_not_opened(tmp_path):
    link = tmp_path / "db-sqlite-20261101T020000Z-1.sqlite3.zst"
    link.symlink_to(PASSWD)

    with pytest.raises(OSError):
        files.open_regular(link)


# --- verify, adopt, restore --file, off-site: a real backup behind the link -------------------------


@pytest.fixture
def linked_backup(backup_dir, tmp_path) -> Backup:
    """A real, good backup whose file was moved out of BACKUP_DIR, a link to it left under its name."""
    backup = backup_create(now=NOW)
    moved_out(backup, backup_dir, tmp_path / "elsewhere")
    return backup


@sqlite_only
@pytest.mark.django_db(transaction=True)
def test_verify_refuses_a_link_and_records_why(linked_backup):
    with pytest.raises(BackupError, match=LINK_WORDS):
        restoring.backup_verify(backup=linked_backup, now=NOW)

    linked_backup.refresh_from_db()
    assert LINK_WORDS in linked_backup.verify_error


@sqlite_only
@pytest.mark.django_db(transaction=True)
def test_adopt_backups_does_not_adopt_a_link(linked_backup):
    Backup.objects.all().delete()
    out = StringIO()

    call_command("adopt_backups", stdout=out, stderr=out)

    assert not Backup.objects.exists()  # followed, the link is a good backup with its manifest: it would be adopted


@sqlite_only
@pytest.mark.django_db(transaction=True)
def test_restore_file_refuses_a_link_in_the_folder(linked_backup, backup_dir):
    out = StringIO()

    with pytest.raises(CommandError, match=f"Not restored: {linked_backup.file_name} in BACKUP_DIR {LINK_WORDS}"):
        call_command("restore_backup", "--file", str(backup_dir / linked_backup.file_name), "--yes",
                     stdout=out, stderr=out)

    assert Backup.objects.filter(pk=linked_backup.pk).exists()  # the database was not replaced


@sqlite_only
@pytest.mark.django_db(transaction=True)
def test_the_off_site_copy_refuses_a_link(linked_backup, backup_dir, settings):
    settings.BACKUP_REMOTE = str(backup_dir.parent / "remote")  # a local folder: rclone would copy to it

    with pytest.raises(OffsiteConfigError, match=f"Not copied off-site: {linked_backup.file_name} in BACKUP_DIR"):
        offsite.backup_offsite_copy(backup=linked_backup, now=NOW)

    assert LINK_WORDS in Backup.objects.get(pk=linked_backup.pk).offsite_error
    assert not (backup_dir.parent / "remote").exists()


def test_a_name_leading_out_of_the_folder_is_refused(tmp_path):
    (tmp_path / "inside").mkdir()
    with pytest.raises(files.UnsafeBackupFile, match="leads outside BACKUP_DIR"):
        files.regular_file(tmp_path / "inside", "../outside.sqlite3.zst")


def test_a_missing_name_is_for_the_caller_to_judge(tmp_path):
    assert files.regular_file(tmp_path, "db-sqlite-20261101T020000Z-1.sqlite3.zst") == \
        tmp_path / "db-sqlite-20261101T020000Z-1.sqlite3.zst"
