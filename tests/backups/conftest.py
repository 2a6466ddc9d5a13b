"""Backups of the real test database (an SQLite file in WAL mode) into a temporary BACKUP_DIR.

The backup reads the database through its own sqlite3 connection, so it sees only what is
committed: tests whose data must be in the copy, and every restore (which needs the write lock the
`db` fixture's open transaction holds), use `transactional_db`.
"""

from __future__ import annotations

import ctypes
import datetime as dt
import os
import sqlite3
from contextlib import contextmanager, nullcontext
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


@contextmanager
def read_only_folder(folder: Path):
    """Make `folder` one this process really cannot write in: the kernel refuses, nothing is patched.

    Its permission bits become r-x. They do not stop root (CI runs as root), who writes anywhere
    through the CAP_DAC_OVERRIDE capability; so as root the calling thread drops it from its
    effective set until the block ends (capset(2) acts on one thread, and the permitted set keeps
    it to take back). It is still root otherwise, so it still writes the database files it owns.
    """
    mode = folder.stat().st_mode
    folder.chmod(0o555)
    try:
        with without_capability(CAP_DAC_OVERRIDE) if os.geteuid() == 0 else nullcontext():
            try:
                (folder / ".write-probe").touch()
            except PermissionError:
                pass
            else:
                raise AssertionError(f"{folder} could still be written to; the test would prove nothing")
            yield folder
    finally:
        folder.chmod(mode)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


_CAPABILITY_VERSION_3 = 0x20080522  # linux/capability.h: two _CapData, for capabilities 0-31 and 32-63
CAP_DAC_OVERRIDE = 1  # writes where the permission bits say no
CAP_KILL = 5  # signals (and asks about) another user's processes


@contextmanager
def without_capability(capability: int):
    """The calling thread without one capability of root's until the block ends (capset(2) acts on one
    thread; the permitted set keeps it to take back)."""
    take_back = drop_capability(capability)
    try:
        yield
    finally:
        take_back()


def _drop_dac_override():
    """Drop CAP_DAC_OVERRIDE from this thread's effective capabilities; return what puts it back."""
    return drop_capability(CAP_DAC_OVERRIDE)


def drop_capability(capability: int):
    """Drop one capability (0-31) from this thread's effective set; return what puts it back."""
    libc = ctypes.CDLL(None, use_errno=True)

    def capabilities():
        header, data = _CapHeader(_CAPABILITY_VERSION_3, 0), (_CapData * 2)()
        if libc.capget(ctypes.byref(header), data) != 0:
            raise OSError(ctypes.get_errno(), "capget failed")
        return header, data

    def set_effective(effective: int) -> None:
        header, data = capabilities()
        data[0].effective = effective
        if libc.capset(ctypes.byref(header), data) != 0:
            raise OSError(ctypes.get_errno(), "capset failed")

    before = capabilities()[1][0].effective
    set_effective(before & ~(1 << capability))
    return lambda: set_effective(before)
