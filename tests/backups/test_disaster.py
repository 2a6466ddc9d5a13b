"""The whole disaster, end to end with real processes and the real settings (config.settings).

Install A (a folder of its own: database, BACKUP_DIR, var/) makes a backup through a real `qcluster`, which
copies it to a real rclone server on loopback. Then A's folder is deleted. A fresh install B, with only the
remote, runs the commands of docs/restore.md's "Only the off-site copy is left" (the block marked
`<!-- restore-test: offsite -->`, run as written) and gets A's data back; `list_backups` and `/backups` list
A's backup.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.backups.conftest import sqlite_only
from tests.backups.test_restore_by_hand import BLOCK, GUIDE
from tests.servers import MANAGE_PY, ROOT, Process, rclone_server, wait_until

pytestmark = [pytest.mark.integration, sqlite_only]


def install_env(folder: Path, server) -> dict[str, str]:
    """An install of its own in `folder`, as a user would set it up, pointed at the server's remote."""
    env = {key: value for key, value in os.environ.items() if key not in ("REDIS_URL", "DEBUG")}
    return {**env, **server.env(), "DJANGO_SETTINGS_MODULE": "config.settings", "PYTHONUNBUFFERED": "1",
            "VAR_DIR": str(folder / "var"), "DATABASE_URL": f"sqlite:///{folder / 'db.sqlite3'}",
            "BACKUP_DIR": str(folder / "backups"), "BACKUP_REMOTE": server.remote + "archive",
            "SECRET_KEY": "disaster-test-" + "x" * 40, "ALLOWED_HOSTS": "localhost,testserver",
            "Q_WORKERS": "1"}


def manage(env: dict, *args: str, timeout: float = 120) -> str:
    result = subprocess.run([*MANAGE_PY, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=timeout, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, f"manage.py {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def rows(database: Path, sql: str, *params) -> list[tuple]:
    """Read the install's database from here, read-only (its WAL included)."""
    connection = sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return connection.execute(sql, params).fetchall()
    finally:
        connection.close()


def documented_offsite_restore() -> str:
    blocks = [body for name, body in BLOCK.findall(GUIDE.read_text()) if name == "offsite"]
    assert len(blocks) == 1, "docs/restore.md has lost its commands for 'Only the off-site copy is left'"
    return blocks[0]


PAGE_CHECK = """
from django.contrib.auth import get_user_model
from django.test import Client
client = Client()
client.force_login(get_user_model().objects.get(username="admin"))
response = client.get("/backups")
print("status", response.status_code)
print("listed", "{name}" in response.content.decode())
"""


def install_a_makes_an_offsite_backup(folder: Path, server, log_dir: Path) -> str:
    """Install A: demo data, a backup through a real qcluster, copied off-site; the backup's file name."""
    env = install_env(folder, server)
    database = folder / "db.sqlite3"
    manage(env, "migrate", "--noinput")
    manage(env, "createcachetable")
    manage(env, "load_demo")
    [(schedule_id,)] = rows(database, "SELECT id FROM scheduled_tasks WHERE name = ?", "Daily database backup")

    cluster = Process("qcluster-A", ["qcluster"], env=env, log_path=log_dir / "qcluster-A.log")
    try:
        manage(env, "run_schedule", str(schedule_id))

        def copied() -> bool:
            return bool(rows(database, "SELECT 1 FROM backups_backup WHERE status = 'completed' AND "
                                       "offsite_copied_at IS NOT NULL"))

        wait_until(lambda: copied() or not cluster.running(), timeout=90, interval=0.5,
                   message="A's backup was not made and copied off-site within 90 s", details=cluster.log)
        assert cluster.running(), cluster.log()
    finally:
        cluster.stop(timeout=30)
    [(file_name,)] = rows(database, "SELECT file_name FROM backups_backup "
                                "WHERE offsite_copied_at IS NOT NULL")
    assert (server.folder / "archive" / file_name).is_file()
    return file_name


def test_a_fresh_install_with_only_the_remote_gets_everything_back(tmp_path):
    with rclone_server(tmp_path / "offsite-server") as server:
        a, b = tmp_path / "install-a", tmp_path / "install-b"
        a.mkdir()
        file_name = install_a_makes_an_offsite_backup(a, server, tmp_path)

        shutil.rmtree(a)  # the disaster: database, BACKUP_DIR and var/ are gone

        b.mkdir()
        env = install_env(b, server)
        restore = subprocess.run(["bash", "-c", "set -euo pipefail\n" + documented_offsite_restore()], cwd=ROOT,
                                 env=env, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
        assert restore.returncode == 0, f"{restore.stdout}\n{restore.stderr}"
        assert (b / "backups" / file_name).is_file()

        groups = {name for (name,) in rows(b / "db.sqlite3", "SELECT name FROM channels_channelgroup")}
        assert {"News", "Lawyers"} <= groups

        assert file_name in manage(env, "list_backups")

        manage(env, "collectstatic", "--noinput", "--verbosity", "0")
        manage({**env, "DJANGO_SUPERUSER_USERNAME": "admin", "DJANGO_SUPERUSER_PASSWORD": "a-long-pass-phrase"},
               "ensure_admin")
        page = manage(env, "shell", "-c", PAGE_CHECK.replace("{name}", file_name))
        assert "status 200" in page and "listed True" in page, page
