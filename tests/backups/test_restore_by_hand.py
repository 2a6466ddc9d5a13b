"""docs/restore.md, run as written: the code blocks marked `<!-- restore-test: sqlite -->` (or `postgresql`)
are the commands a person types, and this test types exactly those, with the real sha256sum, zstd, sqlite3
and pg_restore, on a real backup; then the app opens the result. The doc and the test cannot drift apart:
change a command there and this runs the new one.

The app then notices the restore by hand at its scheduler's first step (`manage.py schedule_tick`, one
pass): the backup lock freed, the copy's jobs interrupted, the cache emptied. PostgreSQL's pass, and
restore_backup --file into an empty PostgreSQL database, are in test_restore_postgres.py.
"""

import os
import re
import subprocess

import pytest
from django.core.cache import cache
from django.utils import timezone

from backups.services.making import backup_create
from jobs.models import JobStatus
from tests.backups.apps import manage, sqlite_rows, sqlite_url
from tests.backups.conftest import folder_names, sqlite_only
from tests.factories import ChannelGroupFactory, JobFactory, UserFactory, grant
from tests.servers import ROOT

GUIDE = ROOT / "docs" / "restore.md"
BLOCK = re.compile(r"<!-- restore-test: (\w+) -->\n```sh\n(.*?)```", re.S)


def documented(engine: str) -> str:
    """The guide's commands for `engine`, in order, as one script."""
    blocks = [body for name, body in BLOCK.findall(GUIDE.read_text()) if name == engine]
    assert len(blocks) >= 3, f"docs/restore.md has lost its {engine} commands"
    return "".join(blocks)


def run_by_hand(engine: str, **variables: str) -> subprocess.CompletedProcess:
    """bash runs the guide's commands (stopping at the first that fails), the variables set as the guide
    asks the reader to set them."""
    return subprocess.run(["bash", "-c", "set -euo pipefail\n" + documented(engine)], env={**os.environ, **variables},
                          capture_output=True, text=True, timeout=600, cwd="/")


@pytest.mark.django_db
def test_the_restore_help_links_the_guide_which_is_served_as_text(client, backup_dir):
    client.force_login(grant(UserFactory(), "view_backup"))
    content = client.get("/backups").content.decode()
    assert 'href="/backups/restore-guide"' in content

    response = client.get("/backups/restore-guide")
    assert response.status_code == 200 and response["Content-Type"] == "text/plain; charset=utf-8"
    assert response.content.decode() == GUIDE.read_text()
    client.logout()
    assert client.get("/backups/restore-guide").status_code in (302, 403)


def test_the_guide_marks_the_commands_of_both_engines():
    assert "sha256sum -c" in documented("sqlite") and "sha256sum -c" in documented("postgresql")
    assert "zstd -d" in documented("sqlite") and "PRAGMA integrity_check" in documented("sqlite")
    assert "pg_restore --clean --if-exists --no-owner" in documented("postgresql")


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
@sqlite_only
def test_the_documented_sqlite_restore_by_hand_brings_the_data_back(backup_dir, tmp_path):
    ChannelGroupFactory(name="In both backups")
    older = backup_create(now=timezone.now())
    ChannelGroupFactory(name="Only in the newest")
    running = JobFactory(job_type="TEST_OK", status=JobStatus.RUNNING, attempts=1, started_at=timezone.now())
    queued = JobFactory(job_type="TEST_OK", status=JobStatus.QUEUED)
    cache.set("cluster-status", "alive at backup time", timeout=None)
    newest = backup_create(now=timezone.now())
    folder = {name: (backup_dir / name).read_bytes() for name in folder_names(backup_dir)}
    # The lost database's leftovers, where the restored one goes: moved aside, never mixed with it.
    db = tmp_path / "var" / "db.sqlite3"
    db.parent.mkdir()
    db.write_bytes(b"the broken database")
    db.with_name("db.sqlite3-wal").write_bytes(b"its write-ahead log")

    result = run_by_hand("sqlite", BACKUP_DIR=str(backup_dir), DB=str(db))

    assert result.returncode == 0, result.stderr
    assert f"Restoring {newest.file_name}" in result.stdout and older.file_name != newest.file_name
    assert f"{newest.file_name}: OK" in result.stdout  # sha256sum -c
    assert "\nok\n" in result.stdout  # PRAGMA integrity_check
    assert db.with_name("db.sqlite3.before-restore").read_bytes() == b"the broken database"
    assert db.with_name("db.sqlite3-wal.before-restore").read_bytes() == b"its write-ahead log"
    assert not db.with_name("db.sqlite3-wal").exists() and not db.with_name("db.sqlite3.restored").exists()
    assert {name: (backup_dir / name).read_bytes() for name in folder_names(backup_dir)} == folder

    # The app opens it: all its migrations there, the newest data.
    url = sqlite_url(db)
    manage("migrate", "--check", database_url=url, backup_dir=backup_dir)
    assert sqlite_rows(db, "SELECT name FROM channels_channelgroup ORDER BY name") == [
        ("In both backups",), ("Only in the newest",)]
    # As restored: the copy's own backup still "running", its jobs active, the old cache.
    assert sqlite_rows(db, "SELECT status FROM backups_backup WHERE id = ?", newest.pk) == [("running",)]

    step = manage("schedule_tick", database_url=url, backup_dir=backup_dir)

    assert f"The database was restored by hand from backup #{newest.pk}" in step.stdout + step.stderr
    assert sqlite_rows(db, "SELECT status, sha256, restored_at IS NOT NULL FROM backups_backup WHERE id = ?",
                       newest.pk) == [("completed", newest.sha256, 1)]
    assert sqlite_rows(db, "SELECT id, status, substr(error, 1, 24) FROM jobs_job WHERE id IN (?, ?) ORDER BY id",
                       running.pk, queued.pk) == [(running.pk, "cancelled", "Interrupted by a restore"),
                                                  (queued.pk, "cancelled", "Interrupted by a restore")]
    assert sqlite_rows(db, "SELECT count(*) FROM django_cache WHERE cache_key LIKE '%cluster-status%'") == [(0,)]
    # A new backup is not refused as "Another backup is running", and the list has them all.
    listing = manage("list_backups", database_url=url, backup_dir=backup_dir).stdout
    assert newest.file_name in listing and older.file_name in listing and "Running" not in listing
