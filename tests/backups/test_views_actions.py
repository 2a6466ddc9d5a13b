"""One backup's actions on /backups: Verify now, download, delete with its confirmation (works / validates /
permissions / method / bad id; a download of a foreign or missing file is refused)."""

import pytest
from django.utils import timezone

from backups.models import Backup, BackupStatus
from backups.services.making import backup_create
from tests.backups.conftest import NOW, folder_names, sqlite_only, with_file
from tests.factories import BackupFactory, UserFactory, grant

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def login(client, *codenames):
    client.force_login(grant(UserFactory(username="alice"), "view_backup", *codenames))
    return client


@pytest.fixture
def real_backup(backup_dir):
    """A real backup of the test database, made by the service."""
    return backup_create(now=NOW)


# --- Verify now -------------------------------------------------------------------------------

@sqlite_only
def test_it_verifies_a_backup_now_and_records_it(client, real_backup):
    login(client, "change_backup")
    Backup.objects.filter(pk=real_backup.pk).update(verified_at=None)
    response = client.post(f"/backups/{real_backup.pk}/verify", **HTMX)
    content = response.content.decode()
    assert response.status_code == 200 and "backups-changed" in response["HX-Trigger"]
    assert f"Backup #{real_backup.pk} verified: its checksum matches and the copy passes its integrity check" in content
    real_backup.refresh_from_db()
    assert real_backup.verified_at is not None and real_backup.verify_error == ""


@sqlite_only
def test_it_records_and_says_a_failed_verification(client, real_backup, backup_dir):
    login(client, "change_backup")
    path = backup_dir / real_backup.file_name
    path.write_bytes(path.read_bytes()[:-10])
    response = client.post(f"/backups/{real_backup.pk}/verify", **HTMX)
    content = response.content.decode()
    assert f"Backup #{real_backup.pk} failed its verification: The checksum of" in content
    assert 'role="alert"' in content  # an error toast stays until dismissed
    real_backup.refresh_from_db()
    assert "does not match" in real_backup.verify_error
    # Without JavaScript: a redirect and the same message.
    response = client.post(f"/backups/{real_backup.pk}/verify", follow=True)
    assert response.redirect_chain == [("/backups", 302)]
    assert "failed its verification" in response.content.decode()


def test_it_refuses_to_verify_a_backup_without_a_file(client, backup_dir):
    login(client, "change_backup")
    deleted = BackupFactory(status="deleted")
    content = client.post(f"/backups/{deleted.pk}/verify", **HTMX).content.decode()
    assert f"Backup #{deleted.pk} is deleted: only completed backups have a file to verify." in content
    assert "failed its verification" not in content  # it had nothing to verify
    deleted.refresh_from_db()
    assert deleted.verify_error == ""  # nothing recorded against it


def test_verify_needs_the_change_permission_post_and_a_real_id(client, backup_dir):
    backup = BackupFactory()
    login(client)
    assert client.post(f"/backups/{backup.pk}/verify").status_code == 403
    login(client, "change_backup")
    assert client.get(f"/backups/{backup.pk}/verify").status_code == 405
    assert client.post("/backups/999999/verify").status_code == 404


# --- download ---------------------------------------------------------------------------------

@sqlite_only
def test_it_streams_the_file_under_its_own_name(client, real_backup, backup_dir):
    login(client, "download_backup")
    response = client.get(f"/backups/{real_backup.pk}/download")
    assert response.status_code == 200 and response.streaming
    assert response["Content-Disposition"] == f'attachment; filename="{real_backup.file_name}"'
    assert response["Content-Type"] == "application/octet-stream"
    assert int(response["Content-Length"]) == real_backup.size_bytes
    assert b"".join(response.streaming_content) == (backup_dir / real_backup.file_name).read_bytes()


def test_download_needs_its_own_permission_not_just_view(client, backup_dir):
    backup = with_file(BackupFactory(), backup_dir)
    login(client, "change_backup", "delete_backup")
    assert client.get(f"/backups/{backup.pk}/download").status_code == 403
    content = client.get("/backups").content.decode()
    assert f"/backups/{backup.pk}/download" not in content


def test_it_refuses_to_download_a_file_the_app_did_not_make(client, backup_dir):
    login(client, "download_backup")
    backup_dir.mkdir(parents=True)
    (backup_dir / "secrets.txt").write_text("not a backup")
    foreign = BackupFactory()
    Backup.objects.filter(pk=foreign.pk).update(file_name="secrets.txt")
    other = with_file(BackupFactory(), backup_dir)
    borrowed = BackupFactory()
    Backup.objects.filter(pk=borrowed.pk).update(file_name=other.file_name)  # another backup's exact name
    escape = BackupFactory()
    Backup.objects.filter(pk=escape.pk).update(file_name=f"../{other.file_name}")
    for backup in (foreign, borrowed, escape):
        assert client.get(f"/backups/{backup.pk}/download").status_code == 404, backup.file_name


def test_it_refuses_to_download_a_missing_file_or_one_of_a_backup_that_has_none(client, backup_dir):
    login(client, "download_backup")
    missing = BackupFactory()  # a row, no file on disk
    assert client.get(f"/backups/{missing.pk}/download").status_code == 404
    deleted = with_file(BackupFactory(), backup_dir)
    Backup.objects.filter(pk=deleted.pk).update(status=BackupStatus.DELETED)
    assert client.get(f"/backups/{deleted.pk}/download").status_code == 404
    assert client.get("/backups/999999/download").status_code == 404
    assert client.post(f"/backups/{missing.pk}/download").status_code == 405


# --- delete -----------------------------------------------------------------------------------

def test_it_asks_first_then_deletes_the_file_and_keeps_the_record(client, backup_dir):
    login(client, "delete_backup")
    older = with_file(BackupFactory(started_at=NOW.replace(day=1, month=10)), backup_dir)
    newest = with_file(BackupFactory(), backup_dir)
    confirm = client.get(f"/backups/{older.pk}/delete", **HTMX).content.decode()
    assert f'<h2 id="dialog-title">Delete backup #{older.pk}?</h2>' in confirm and "<html" not in confirm
    assert older.file_name in confirm and "newest good backup" not in confirm
    assert "autofocus>Keep it</button>" in confirm
    assert Backup.objects.get(pk=older.pk).status == BackupStatus.COMPLETED  # GET changes nothing

    response = client.post(f"/backups/{older.pk}/delete", **HTMX)
    assert response.status_code == 200 and "close-dialog" in response["HX-Trigger"]
    assert f"Backup #{older.pk} deleted ({older.file_name})." in response.content.decode()
    older.refresh_from_db()
    assert older.status == BackupStatus.DELETED and older.note == "Deleted by alice: from /backups."
    assert folder_names(backup_dir) == [newest.file_name, newest.file_name + ".json"]


def test_the_confirmation_warns_about_the_newest_good_backup(client, backup_dir):
    login(client, "delete_backup")
    only = with_file(BackupFactory(), backup_dir)
    confirm = client.get(f"/backups/{only.pk}/delete", **HTMX).content.decode()
    assert "This is the newest good backup." in confirm and "No other good backup exists" in confirm
    page = client.get(f"/backups/{only.pk}/delete").content.decode()  # without JavaScript: a page of its own
    assert "<html" in page and f'<h1 id="dialog-title">Delete backup #{only.pk}?</h1>' in page


def test_it_says_why_a_backup_cannot_be_deleted(client, backup_dir):
    login(client, "delete_backup")
    foreign = BackupFactory()
    Backup.objects.filter(pk=foreign.pk).update(file_name="notes.txt")
    content = client.post(f"/backups/{foreign.pk}/delete", **HTMX).content.decode()
    assert "Not deleted: &#x27;notes.txt&#x27; is not a name this app gives" in content
    assert Backup.objects.get(pk=foreign.pk).status == BackupStatus.COMPLETED
    failed = BackupFactory(status="failed")
    assert client.get(f"/backups/{failed.pk}/delete").status_code == 404
    content = client.post(f"/backups/{failed.pk}/delete", **HTMX).content.decode()
    assert f"Not deleted: Backup #{failed.pk} is failed: only completed backups have a file to delete." in content


def test_delete_needs_the_delete_permission_and_a_real_id(client, backup_dir):
    backup = with_file(BackupFactory(), backup_dir)
    login(client, "change_backup", "download_backup")
    assert client.get(f"/backups/{backup.pk}/delete").status_code == 403
    assert client.post(f"/backups/{backup.pk}/delete").status_code == 403
    assert Backup.objects.get(pk=backup.pk).status == BackupStatus.COMPLETED
    login(client, "delete_backup")
    assert client.post("/backups/999999/delete").status_code == 404
    assert client.put(f"/backups/{backup.pk}/delete").status_code == 405


def test_it_deletes_without_javascript(client, backup_dir):
    login(client, "delete_backup")
    backup = with_file(BackupFactory(), backup_dir)
    response = client.post(f"/backups/{backup.pk}/delete")
    assert response.status_code == 302 and response["Location"] == "/backups"
    assert Backup.objects.get(pk=backup.pk).deleted_at <= timezone.now()
