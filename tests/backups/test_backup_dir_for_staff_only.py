"""BACKUP_DIR's absolute path is shown to staff only.

Messages written when a backup fails name the folder ("no space left for the backup in /srv/…"), job
results and tracebacks name files in it, and /backups shows the folder's space. A user who may read
backups or jobs but is not staff reads the path as "BACKUP_DIR"; staff read it as it is. Nothing
stored changes.
"""

import pytest
from django.utils import timezone

from common.access import for_viewer
from jobs.models import Job, JobStatus
from notifications import services as notification_services
from tests.api_clients import token_client
from tests.factories import BackupFactory, StaffFactory, UserFactory, grant

pytestmark = pytest.mark.django_db


@pytest.fixture
def folder(backup_dir):
    backup_dir.mkdir(parents=True)
    return str(backup_dir)


@pytest.fixture
def reader(client):
    """May read backups, jobs and alerts; not staff."""
    client.force_login(grant(UserFactory(), "view_backup", "view_job", "view_notificationchannel"))
    return client


@pytest.fixture
def failed_backup(folder):
    return BackupFactory(status="failed", size_bytes=None, sha256="",
                         error=f"The disk is full: no space left for the backup in {folder}. Free some space.")


def test_the_backups_page_names_the_folder_by_its_setting_for_a_user_who_is_not_staff(reader, folder, failed_backup):
    page = reader.get("/backups").content.decode()

    assert folder not in page
    assert '<code class="path">BACKUP_DIR</code>' in page  # the space panel
    assert "no space left for the backup in BACKUP_DIR. Free some space." in page
    failed_backup.refresh_from_db()
    assert folder in failed_backup.error  # what is stored stays


def test_staff_read_the_folders_path(client, folder, failed_backup):
    client.force_login(StaffFactory())

    page = client.get("/backups").content.decode()

    assert f'<code class="path">{folder}</code>' in page and f"the backup in {folder}." in page


def test_the_api_answers_a_backup_without_the_path_unless_staff(folder, failed_backup):
    reader = token_client(grant(UserFactory(), "view_backup"))

    detail = reader.get(f"/api/backups/{failed_backup.pk}").json()
    listed = reader.get("/api/backups").json()["items"][0]

    assert detail["error"] == listed["error"] == "The disk is full: no space left for the backup in BACKUP_DIR. " \
                                                 "Free some space."
    staff = token_client(StaffFactory())
    assert folder in staff.get(f"/api/backups/{failed_backup.pk}").json()["error"]


@pytest.fixture
def job_in_folder(folder):
    return Job.objects.create(
        job_type="DATABASE_BACKUP", status=JobStatus.FAILED, result={"partial": f"{folder}/db.sqlite3.partial"},
        error=f'Traceback (most recent call last):\n  File "x.py", line 1\nOSError: [Errno 28] No space left: '
              f"'{folder}/db.sqlite3.partial'",
        attempt_log=[{"attempt": 1, "outcome": "failed", "error": f"OSError: No space left: '{folder}/a'"}])


def test_a_jobs_page_and_its_api_hide_the_path_from_a_user_who_is_not_staff(reader, folder, job_in_folder):
    page = reader.get(f"/jobs/{job_in_folder.pk}").content.decode()
    body = token_client(grant(UserFactory(), "view_job")).get(f"/api/jobs/{job_in_folder.pk}").json()

    assert folder not in page and "BACKUP_DIR/db.sqlite3.partial" in page
    assert folder not in str(body)
    assert body["result"] == {"partial": "BACKUP_DIR/db.sqlite3.partial"}
    assert folder in str(token_client(StaffFactory()).get(f"/api/jobs/{job_in_folder.pk}").json())


def test_the_alert_log_hides_the_path_from_a_user_who_is_not_staff(reader, folder):
    notification_services.incident_open(key="backup_failed", kind="backup_failed", title="Backup failed",
                                        detail=f"Could not write the backup in {folder}.", link="/backups", now=timezone.now())

    page = reader.get("/notifications").content.decode()

    assert folder not in page and "Could not write the backup in BACKUP_DIR." in page


def test_only_an_absolute_folder_below_the_root_is_replaced_and_through_a_symlink_too(settings, tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    settings.BACKUP_DIR = tmp_path / "link"
    user = UserFactory()

    assert for_viewer(f"{real}/x and {tmp_path}/link/y", user) == "BACKUP_DIR/x and BACKUP_DIR/y"
    settings.BACKUP_DIR = "/"
    assert for_viewer("/etc/passwd", user) == "/etc/passwd"
