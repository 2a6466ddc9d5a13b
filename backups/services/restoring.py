"""Writes that check backups and bring them back: verify one again (recording the result), restore one
into the live database after a pre-restore backup.

The /backups page and the commands parse their input and call these. A verification records its result
on the backup; a restore refuses (RestoreRefused) before touching the live database when the backup does
not match, and says so (RestoredWithProblems) when something failed after it was replaced.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from django.db import connections, transaction
from django.db.migrations.loader import MigrationLoader
from django.utils.translation import ngettext

from backups import conf, files, selectors
from backups.engines import engine_for
from backups.errors import BackupError, NoBackupFile, RestoredWithProblems, RestoreMismatch, RestoreRefused
from backups.models import Backup, BackupPurpose, BackupStatus
from backups.services.making import backup_create
from backups.sources import Database
from jobs.models import Job


def _server_major(backup: Backup) -> int | None:
    version = backup.database_version.removeprefix("PostgreSQL ").split(".")[0]
    return int(version) if version.isdigit() else None


def _checksum_problem(backup: Backup, path: Path) -> str:
    actual = files.sha256_of(path)
    if actual == backup.sha256:
        return ""
    return (f"The checksum of {path.name} does not match the one recorded when it was made (recorded "
            f"{backup.sha256[:16]}…, the file now has {actual[:16]}…): the file is damaged or was replaced.")


def _scratch(backup: Backup, purpose: str) -> Path:
    return files.partial_path(conf.backup_dir(), backup.file_name, f".{purpose}-{uuid.uuid4().hex[:8]}.sqlite3")


def backup_verify(*, backup: Backup, now: datetime) -> Backup:
    """Check the file again (checksum, then integrity) and record the result; raise BackupError if bad."""
    if not backup.has_file:  # nothing to verify, and nothing to record
        raise NoBackupFile(backup.no_file_reason(to="verify"))
    problem = ""
    try:
        path = selectors.backup_file_path(backup=backup)
        problem = _checksum_problem(backup, path)
        if not problem:
            scratch = _scratch(backup, "verify")
            try:
                engine_for(backup.database_vendor).verify(path, scratch=scratch, server_major=_server_major(backup))
            finally:
                scratch.unlink(missing_ok=True)
    except BackupError as exc:
        problem = str(exc)
    except OSError as exc:
        problem = files.describe_os_error(exc, what=f"the verification copy in {conf.backup_dir()}")
    if problem:
        Backup.objects.filter(pk=backup.pk).update(verify_error=problem)
        backup.refresh_from_db()
        raise BackupError(problem)
    Backup.objects.filter(pk=backup.pk).update(verified_at=now, verify_error="")
    backup.refresh_from_db()
    return backup


@dataclass
class RestoreReport:
    backup: Backup
    pre_restore: Backup
    warnings: list[str] = field(default_factory=list)


def _code_migrations() -> set[str]:
    """The migrations the code on disk has, as "app.name"."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    return {f"{app}.{name}" for app, name in loader.graph.nodes}


def _migrations(count: int) -> str:
    return ngettext("%(n)d migration", "%(n)d migrations", count) % {"n": count}


def _migration_problem(applied: list[str]) -> str:
    known = _code_migrations()
    backup_has = set(applied)
    unknown, missing = sorted(backup_has - known), sorted(known - backup_has)
    parts = []
    if unknown:
        parts.append(f"it has {_migrations(len(unknown))} this code does not know ({', '.join(unknown[:5])}"
                     f"{', …' if len(unknown) > 5 else ''}): it was made by a newer version of the app")
    if missing:
        parts.append(f"it lacks {_migrations(len(missing))} of this code ({', '.join(missing[:5])}"
                     f"{', …' if len(missing) > 5 else ''}): it was made by an older version of the app; restore "
                     "it, then run `manage.py migrate`")
    return ("The backup's migrations do not match the code: " + "; ".join(parts) + ".") if parts else ""


def backup_restore(*, backup: Backup, now: datetime, force: bool = False,
                   database: Database | None = None) -> RestoreReport:
    """Replace the live database with a backup, after checking it and taking a pre_restore backup.

    Refuses (RestoreMismatch, nothing touched) on a checksum or migration mismatch unless forced; a
    backup that fails its integrity check is never restored. Backups' own records are carried
    over: the restored database gets the rows of every backup made since, pre_restore included.
    """
    database = database or Database.default()
    is_own_database = database == Database.default()
    if backup.database_vendor != database.vendor:
        raise RestoreRefused(f"Backup #{backup.pk} is a {backup.database_vendor} backup; the database is "
                             f"{database.vendor}.")
    engine = engine_for(database.vendor)
    warnings: list[str] = []
    path = selectors.backup_file_path(backup=backup)
    if problem := _checksum_problem(backup, path):
        if not force:
            raise RestoreMismatch(problem)
        warnings.append(problem)
    scratch = _scratch(backup, "restore")
    try:
        try:
            restorable, applied = engine.prepare_restore(path, scratch=scratch, server_major=_server_major(backup))
        except OSError as exc:
            raise BackupError(files.describe_os_error(exc, what=f"the restore copy in {conf.backup_dir()}")) from exc
        if problem := _migration_problem(applied):
            if not force:
                raise RestoreMismatch(problem)
            warnings.append(problem)
        pre_restore = backup_create(now=now, purpose=BackupPurpose.PRE_RESTORE, database=database)
        records = list(Backup.objects.values()) if is_own_database else []
        if is_own_database:
            connections["default"].close()  # hold no snapshot of the old data while it is replaced
        engine.restore(restorable, database)
        try:
            engine.check_restored(database)
            if is_own_database:
                connections["default"].close()
                _carry_over_records(records, restored=backup, now=now)
        except Exception as exc:
            raise RestoredWithProblems(
                f"Backup #{backup.pk} was restored, but then: {exc} The data from just before the restore is in "
                f"backup #{pre_restore.pk} ({pre_restore.file_name})."
            ) from exc
    finally:
        scratch.unlink(missing_ok=True)
    if is_own_database:
        backup.refresh_from_db()
    return RestoreReport(backup=backup, pre_restore=pre_restore, warnings=warnings)


def _carry_over_records(records: list[dict], *, restored: Backup, now: datetime) -> None:
    """Put back the backup rows as they were just before the restore (they describe files on disk)."""
    known_jobs = set(Job.objects.filter(pk__in={r["job_id"] for r in records if r["job_id"]}).values_list("pk",
                                                                                                        flat=True))
    running = {r["id"] for r in records if r["status"] == BackupStatus.RUNNING}
    with transaction.atomic():
        # The restored copy holds its own backup row as it was mid-backup ("running"): settle such
        # rows first, so the one-running-backup constraint holds while the others are written.
        Backup.objects.filter(status=BackupStatus.RUNNING).exclude(pk__in=running).update(
            status=BackupStatus.FAILED, error="Interrupted: the database was restored from a backup made meanwhile.")
        for record in sorted(records, key=lambda r: r["status"] == BackupStatus.RUNNING):
            values = {**record, "job_id": record["job_id"] if record["job_id"] in known_jobs else None}
            Backup.objects.update_or_create(pk=values.pop("id"), defaults=values)
        Backup.objects.filter(pk=restored.pk).update(restored_at=now)
        connection = connections["default"]
        if connection.vendor == "postgresql":
            from django.core.management.color import no_style

            with connection.cursor() as cursor:
                for sql in connection.ops.sequence_reset_sql(no_style(), [Backup]):
                    cursor.execute(sql)
