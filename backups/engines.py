"""What each database engine's backup code hands back, and which engine serves a database.

Each engine module has the same functions: `prepare_backup(database) -> Source`, then
`create(source, directory=, file_name=) -> Made`; `verify`, `prepare_restore`, `restore` and
`check_restored` for the way back; `drill(path, scratch=, server_major=, database=) -> Restored` restores
a backup into a scratch database of its own, counts its rows and removes it (restore drills), and
`drill_leftovers_remove` removes what a killed drill left behind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from backups.errors import BackupConfigError
from backups.sources import Database


@dataclass(frozen=True)
class Source:
    """The database a backup copies, as its engine found it just before the copy.

    Looked up once per backup and handed to `create`, so the record names the versions of what
    really made the file (PostgreSQL's engine adds the pg_dump it chose for the server).
    """

    database: Database
    database_version: str  # "SQLite 3.46.1", "PostgreSQL 15.10"
    tool: str  # what makes the copy: "pg_dump 15.10"
    size_bytes: int  # of the live database, for the free-space check and the compression ratio


@dataclass
class Made:
    """A finished, verified, fsynced backup file still under its temporary name."""

    partial: Path
    size_bytes: int
    sha256: str
    compression: str
    applied_migrations: list[str] = field(default_factory=list)
    # {"table": rows} of the copy, counted in the same snapshot the file holds.
    tables: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Restored:
    """What a restore drill found in the scratch database it restored a backup into (already removed)."""

    applied_migrations: list[str]
    tables: dict[str, int]


def engine_for(vendor: str):
    if vendor == "sqlite":
        from backups import sqlite_engine

        return sqlite_engine
    if vendor == "postgresql":
        from backups import postgres_engine

        return postgres_engine
    raise BackupConfigError(f"Backups of {vendor} databases are not supported; only SQLite and PostgreSQL are.")
