"""The backups app's settings, with their defaults in one place (override any in Django settings)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from common.conf import AppSettings

SETTINGS = AppSettings({
    # How long a backup or restore waits for a lock (an SQLite writer, a PostgreSQL table lock)
    # before it fails with "the database is locked".
    "BACKUP_LOCK_TIMEOUT_SECONDS": 60.0,
    # pg_dump and pg_restore are stopped after this long (below the job's time limit of an hour).
    "BACKUP_PG_TIMEOUT_SECONDS": 3000.0,
    # Where pg_dump and pg_restore are; empty: PATH, then /usr/lib/postgresql/*/bin (newest first).
    "BACKUP_PG_BIN_DIR": "",
    "BACKUP_ZSTD_LEVEL": 3,
    # zstd worker threads; 0 compresses in the calling thread.
    "BACKUP_ZSTD_THREADS": 0,
    # Free space needed on BACKUP_DIR's disk, as a multiple of the database size (the uncompressed
    # copy and the compressed file exist side by side for a moment).
    "BACKUP_FREE_SPACE_FACTOR": 2.0,
    # The rclone program that makes the off-site copies (a name found on PATH, or a path).
    "BACKUP_RCLONE_BIN": "rclone",
    # An off-site copy (or fetch) of one file is stopped after this long (below the job's time limit).
    "BACKUP_RCLONE_COPY_TIMEOUT_SECONDS": 3000.0,
    # Listing, checking and deleting on the remote are stopped after this long.
    "BACKUP_RCLONE_TIMEOUT_SECONDS": 120.0,
})
get = SETTINGS.get


def backup_dir() -> Path:
    return Path(settings.BACKUP_DIR)
