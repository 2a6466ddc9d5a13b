"""Backups of the real test database (an SQLite file in WAL mode) into a temporary BACKUP_DIR.

The backup reads the database through its own sqlite3 connection, so it sees only what is
committed: tests whose data must be in the copy, and every restore (which needs the write lock the
`db` fixture's open transaction holds), use `transactional_db`.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest
from django.db import connection

from backups import files
from backups.models import Backup

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 12, 1, 2, 0, 5, tzinfo=UTC)

sqlite_only = pytest.mark.skipif(connection.vendor != "sqlite", reason="backs up the SQLite test database file")


@pytest.fixture
def backup_dir(settings, tmp_path) -> Path:
    settings.BACKUP_DIR = tmp_path / "backups"
    settings.BACKUP_LOCK_TIMEOUT_SECONDS = 2
    return settings.BACKUP_DIR


def live_db_path() -> Path:
    return Path(connection.settings_dict["NAME"])


def with_file(backup: Backup, directory: Path, content: bytes = b"backup bytes") -> Backup:
    """Give a factory-made backup row a file (and manifest) under its exact name."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / backup.file_name).write_bytes(content)
    (directory / files.manifest_name(backup.file_name)).write_text("{}")
    return backup


def folder_names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def rows_in_copy(path: Path, sql: str) -> list[tuple]:
    connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True)
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()
