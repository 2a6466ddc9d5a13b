"""Restoring a PostgreSQL backup from its file alone, on the throwaway PostgreSQL server (tests/servers.py):
by hand with the commands of docs/restore.md (pg_restore --clean --if-exists --no-owner), and with
restore_backup --file into an empty database, as on a fresh install.

The backup is of a real database of the app, migrated and written by the app in processes of its own
(`manage.py migrate`, `manage.py shell`), so the dump holds what a live one does: data, jobs queued and
running, a cache entry, and its own backup row, running while pg_dump read it.
"""

import uuid

import psycopg
import pytest

from tests.backups.apps import manage
from tests.backups.test_restore_by_hand import run_by_hand
from tests.servers import create_database

pytestmark = pytest.mark.integration

SOURCE = """
from django.core.cache import cache
from django.utils import timezone
from backups.services.making import backup_create
from channels.models import ChannelGroup
from jobs.models import Job

for name in ("News", "Lawyers"):
    ChannelGroup.objects.create(name=name)
queued = Job.objects.create(job_type="TEST_OK", status="queued")
running = Job.objects.create(job_type="TEST_OK", status="running", attempts=1, started_at=timezone.now())
cache.set("cluster-status", "alive at backup time", None)
backup = backup_create(now=timezone.now())
print("BACKUP", backup.pk, backup.file_name, backup.sha256, queued.pk, running.pk)
"""


@pytest.fixture(scope="module")
def pg_backup(postgres_url_template, tmp_path_factory):
    """A backup of an app database on PostgreSQL: (BACKUP_DIR, the backup's id, file name, SHA-256, the ids of
    the queued and the running job)."""
    backup_dir = tmp_path_factory.mktemp("pg-backups")
    url = create_database(postgres_url_template, f"app_{uuid.uuid4().hex[:8]}")
    manage("migrate", database_url=url, backup_dir=backup_dir)
    manage("createcachetable", database_url=url, backup_dir=backup_dir)
    output = manage("shell", "-c", SOURCE, database_url=url, backup_dir=backup_dir).stdout
    [line] = [line for line in output.splitlines() if line.startswith("BACKUP ")]
    backup_id, file_name, sha256, queued, running = line.split()[1:]
    return backup_dir, int(backup_id), file_name, sha256, int(queued), int(running)


def rows(url: str, sql: str, *params) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


def assert_opened_by_the_app(url: str, pg_backup) -> None:
    """The app starts on it (nothing to migrate), and its first scheduler step settles the copy."""
    backup_dir, backup_id, file_name, sha256, queued, running = pg_backup
    manage("migrate", "--check", database_url=url, backup_dir=backup_dir)
    assert rows(url, "SELECT name FROM channels_channelgroup ORDER BY name") == [("Lawyers",), ("News",)]
    manage("schedule_tick", database_url=url, backup_dir=backup_dir)
    assert rows(url, "SELECT status, sha256, restored_at IS NOT NULL FROM backups_backup WHERE id = %s",
                backup_id) == [("completed", sha256, True)]
    assert rows(url, "SELECT id, status, left(error, 24) FROM jobs_job ORDER BY id") == [
        (queued, "cancelled", "Interrupted by a restore"), (running, "cancelled", "Interrupted by a restore")]
    # (The step itself may write to the cache afterwards: only the copy's entry must be gone.)
    assert rows(url, "SELECT count(*) FROM django_cache WHERE cache_key LIKE '%%cluster-status%%'") == [(0,)]
    listing = manage("list_backups", database_url=url, backup_dir=backup_dir).stdout
    assert file_name in listing and "Running" not in listing


def test_the_documented_postgresql_restore_by_hand_brings_the_data_back(postgres_url_template, pg_backup):
    backup_dir, backup_id, file_name, *_ = pg_backup
    url = create_database(postgres_url_template, f"by_hand_{uuid.uuid4().hex[:8]}")  # empty, as the guide has it

    result = run_by_hand("postgresql", BACKUP_DIR=str(backup_dir), DATABASE_URL=url)

    assert result.returncode == 0, result.stderr
    assert f"Restoring {file_name}" in result.stdout and f"{file_name}: OK" in result.stdout
    assert rows(url, "SELECT status FROM backups_backup WHERE id = %s", backup_id) == [("running",)]  # as in the copy
    assert_opened_by_the_app(url, pg_backup)


def test_restore_backup_file_fills_an_empty_postgresql_database(postgres_url_template, pg_backup):
    backup_dir, backup_id, file_name, *_ = pg_backup
    url = create_database(postgres_url_template, f"fresh_{uuid.uuid4().hex[:8]}")

    output = manage("restore_backup", "--file", str(backup_dir / file_name), "--yes", database_url=url,
                    backup_dir=backup_dir).stdout

    assert f"Restored backup #{backup_id} ({file_name}) into the PostgreSQL database" in output
    assert "(it was empty)" in output and "Interrupted 2 jobs" in output
    assert_opened_by_the_app(url, pg_backup)
    # The id sequence goes on after the restored rows: the next backup gets a new id.
    manage("shell", "-c", "from django.utils import timezone; from backups.services.making import backup_create; "
           "print(backup_create(now=timezone.now()).pk)", database_url=url, backup_dir=backup_dir)


def test_restore_backup_file_says_to_create_a_database_that_does_not_exist(postgres_url_template, pg_backup):
    backup_dir, _, file_name, *_ = pg_backup
    url = postgres_url_template.format(name=f"missing_{uuid.uuid4().hex[:8]}")

    result = manage("restore_backup", "--file", str(backup_dir / file_name), "--yes", database_url=url,
                    backup_dir=backup_dir, ok=False)

    assert result.returncode != 0
    assert "does not exist" in result.stderr and "Create it first, empty" in result.stderr


def test_restore_backup_file_over_the_postgresql_database_in_use_keeps_its_data_first(postgres_url_template,
                                                                                       pg_backup):
    backup_dir, backup_id, file_name, *_ = pg_backup
    url = create_database(postgres_url_template, f"in_use_{uuid.uuid4().hex[:8]}")
    manage("restore_backup", "--file", str(backup_dir / file_name), "--yes", database_url=url, backup_dir=backup_dir)
    manage("shell", "-c", "from channels.models import ChannelGroup; ChannelGroup.objects.create(name='Written later')",
           database_url=url, backup_dir=backup_dir)

    output = manage("restore_backup", "--file", str(backup_dir / file_name), "--yes", database_url=url,
                    backup_dir=backup_dir).stdout

    assert rows(url, "SELECT name FROM channels_channelgroup ORDER BY name") == [("Lawyers",), ("News",)]
    [(pre_restore_id, pre_restore_file)] = rows(url, "SELECT id, file_name FROM backups_backup WHERE purpose = "
                                                     "'pre_restore'")
    assert f"The data from just before is in backup #{pre_restore_id} ({pre_restore_file})" in output
    # It puts the data from just before back, by its number now.
    manage("restore_backup", str(pre_restore_id), "--yes", database_url=url, backup_dir=backup_dir)
    assert rows(url, "SELECT name FROM channels_channelgroup ORDER BY name") == [
        ("Lawyers",), ("News",), ("Written later",)]
