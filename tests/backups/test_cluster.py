"""A DATABASE_BACKUP job on a real `manage.py qcluster`, writing into a temporary BACKUP_DIR."""

import os

import pytest
from django.utils import timezone

from backups.models import Backup, BackupStatus
from jobs.models import JobStatus
from jobs.services import job_enqueue
from tests.backups.conftest import folder_names, sqlite_only
from tests.jobs.conftest import Process, wait_for_job
from tests.servers import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True), sqlite_only]


@pytest.fixture
def cluster(backup_dir, tmp_path):
    from django.db import connection

    from jobs.queue import alive_clusters

    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.test_settings", "PYTHONUNBUFFERED": "1",
           "DATABASE_URL": f"sqlite:///{connection.settings_dict['NAME']}", "BACKUP_DIR": str(backup_dir)}
    process = Process("qcluster", ["qcluster"], env=env, log_path=tmp_path / "qcluster.log")
    try:
        wait_until(lambda: any(c.workers for c in alive_clusters() or []) or not process.running(), timeout=20,
                   message="the cluster did not start")
        assert process.running(), process.log()
        yield process
    finally:
        process.stop()
    assert "database is locked" not in process.log()


def test_a_backup_job_runs_on_a_real_worker(cluster, backup_dir):
    job = job_enqueue(job_type="DATABASE_BACKUP", now=timezone.now(), params={
        "backup_type": "full", "retention_days": 30, "cleanup_old": True, "force_backup": True})

    job = wait_for_job(job, lambda j: j.status in (JobStatus.COMPLETED, JobStatus.FAILED), timeout=30)

    assert job.status == JobStatus.COMPLETED, job.error
    backup = Backup.objects.get(job=job)
    assert backup.status == BackupStatus.COMPLETED
    assert int(backup.worker.rsplit(":", 1)[1]) not in (os.getpid(), cluster.pid)
    assert job.result["file"] == backup.file_name
    assert folder_names(backup_dir) == [backup.file_name, backup.file_name + ".json"]
