"""What each database engine's backup code hands back, and which engine serves a database."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from backups.errors import BackupConfigError


@dataclass
class Made:
    """A finished, verified, fsynced backup file still under its temporary name."""

    partial: Path
    size_bytes: int
    sha256: str
    compression: str
    applied_migrations: list[str] = field(default_factory=list)


def engine_for(vendor: str):
    if vendor == "sqlite":
        from backups import sqlite_engine

        return sqlite_engine
    if vendor == "postgresql":
        from backups import postgres_engine

        return postgres_engine
    raise BackupConfigError(f"Backups of {vendor} databases are not supported; only SQLite and PostgreSQL are.")
