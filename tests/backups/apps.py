"""The app in processes of its own, on a database of their own: `manage.py` with DATABASE_URL and BACKUP_DIR
set, as a fresh install would run it (the restore tests: a restored database is opened by the app)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

from tests.servers import MANAGE_PY, ROOT


def app_env(*, database_url: str, backup_dir: Path) -> dict[str, str]:
    """A fresh install's environment: its own database, its cache in it (no REDIS_URL, even on the Redis pass:
    the suite's Redis belongs to the test database, and a restore must empty the copy's own cache table)."""
    inherited = {key: value for key, value in os.environ.items() if key != "REDIS_URL"}
    return {**inherited, "DJANGO_SETTINGS_MODULE": "config.test_settings", "PYTHONUNBUFFERED": "1",
            "DATABASE_URL": database_url, "BACKUP_DIR": str(backup_dir)}


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def manage(*args: str, database_url: str, backup_dir: Path, ok: bool = True,
           timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `manage.py ARGS` to its end; with `ok`, fail (showing its output) unless it exits 0."""
    result = subprocess.run([*MANAGE_PY, *args], cwd=ROOT, env=app_env(database_url=database_url, backup_dir=backup_dir),
                            capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if ok and result.returncode != 0:
        raise AssertionError(f"manage.py {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


def sqlite_rows(path: Path, sql: str, *params) -> list[tuple]:
    """Rows of a database file another process wrote (read-only, its WAL included)."""
    connection = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
    try:
        return connection.execute(sql, params).fetchall()
    finally:
        connection.close()
