"""Writes that check backups and bring them back: verify one again (recording the result), restore one
into the live database, by its record (`backup_restore`) or from its file and manifest alone
(`backup_restore_file`: a fresh install, or a database that was lost).

The /backups page and the commands parse their input and call these. A verification records its result
on the backup. Both restores go the same way (`_restore`): the file's checksum against its record or
manifest (never overridden), its integrity (decompressed and checked, or read back in full by
pg_restore), its migrations against the code's (`force` overrides this one check only); then a
pre_restore backup of the data about to be replaced, if there is any; then the engine replaces the
database. Up to there a refusal (RestoreRefused) or a failure leaves the live database untouched; after
it, a failure says so (RestoredWithProblems). A restored database that is behind the code (a backup of
an older version, restored with `force`) is migrated at once, and then the aftermath runs
(backups.services.aftermath: the cache table, the copy's jobs, its backup lock).
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from django.core.management import call_command
from django.db import connections, transaction
from django.db.migrations.loader import MigrationLoader
from django.utils.translation import ngettext

from backups import conf, files, selectors
from backups.engines import engine_for
from backups.errors import (
    BackupError,
    ChecksumMismatch,
    ManifestProblem,
    NoBackupFile,
    RestoredWithProblems,
    RestoreMismatch,
    RestoreRefused,
)
from backups.models import Backup, BackupPurpose, BackupStatus
from backups.services.adopting import AdoptReport, backups_adopt, reset_id_sequence
from backups.services.aftermath import Aftermath, restore_aftermath
from backups.services.making import backup_create
from backups.sources import Database
from jobs.models import Job


def _server_major(backup: Backup) -> int | None:
    version = backup.database_version.removeprefix("PostgreSQL ").split(".")[0]
    return int(version) if version.isdigit() else None


def _checksum_problem(expected: str, path: Path) -> str:
    actual = files.sha256_of(path)
    if actual == expected:
        return ""
    return (f"The checksum of {path.name} does not match the one recorded when it was made (recorded "
            f"{expected[:16]}…, the file now has {actual[:16]}…): the file is damaged or was replaced.")


def _scratch(backup: Backup, purpose: str) -> Path:
    return files.partial_path(conf.backup_dir(), backup.file_name, f".{purpose}-{uuid.uuid4().hex[:8]}.sqlite3")


def backup_verify(*, backup: Backup, now: datetime) -> Backup:
    """Check the file again (checksum, then integrity) and record the result; raise BackupError if bad."""
    if not backup.has_file:  # nothing to verify, and nothing to record
        raise NoBackupFile(backup.no_file_reason(to="verify"))
    problem = ""
    try:
        path = selectors.backup_file_path(backup=backup)
        problem = _checksum_problem(backup.sha256, path)
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
    """What a restore did. `backup` is the restored backup's row in the restored database (None when it has
    none: a file without a manifest); `pre_restore` the backup of the data from just before, as the
    restored database knows it (None when there was nothing to keep: an empty or missing database)."""

    backup: Backup | None
    pre_restore: Backup | None
    warnings: list[str] = field(default_factory=list)
    database_was: str = "in use"  # "missing", "empty", or "in use" (this app's database, with its data)
    migrated: list[str] = field(default_factory=list)  # migrations applied to the restored database
    aftermath: Aftermath | None = None
    adopted: AdoptReport | None = None


def _code_migrations() -> set[str]:
    """The migrations the code on disk has, as "app.name"."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    return {f"{app}.{name}" for app, name in loader.graph.nodes}


def _migrations(count: int) -> str:
    return ngettext("%(n)d migration", "%(n)d migrations", count) % {"n": count}


def _migration_difference(applied: list[str]) -> tuple[list[str], list[str]]:
    """(the backup's migrations the code does not know, the code's migrations the backup lacks)."""
    known, backup_has = _code_migrations(), set(applied)
    return sorted(backup_has - known), sorted(known - backup_has)


def _migration_problem(applied: list[str]) -> str:
    unknown, missing = _migration_difference(applied)
    parts = []
    if unknown:
        parts.append(f"it has {_migrations(len(unknown))} this code does not know ({', '.join(unknown[:5])}"
                     f"{', …' if len(unknown) > 5 else ''}): it was made by a newer version of the app; upgrade the "
                     "app first")
    if missing:
        parts.append(f"it lacks {_migrations(len(missing))} of this code ({', '.join(missing[:5])}"
                     f"{', …' if len(missing) > 5 else ''}): it was made by an older version of the app; restored "
                     "anyway, it is migrated at once")
    return ("The backup's migrations do not match the code: " + "; ".join(parts) + ".") if parts else ""


@dataclass(frozen=True)
class _File:
    """The file to restore and what it is checked against."""

    path: Path
    vendor: str
    sha256: str | None  # None: no record or manifest to check it against (--no-manifest)
    server_major: int | None
    described: str  # "backup #12 (db-….sqlite3.zst), made 2026-12-01 02:00 UTC", for the records


@dataclass
class _Replaced:
    pre_restore: Backup | None
    applied: list[str]
    warnings: list[str]
    records: list[dict]


def _restore(source: _File, *, database: Database, now: datetime, force: bool, pre_restore: bool,
             keep_records: bool, missing: bool = False) -> _Replaced:
    """Check the file, take the pre_restore backup if asked, and replace the database with the file.

    Raises RestoreRefused or BackupError with the database untouched, RestoredWithProblems if it was
    replaced but failed its check afterwards. `keep_records`: read the backup rows just before the
    replacement (the restore by id carries them over). `missing`: the database does not exist yet; an
    SQLite one is then decompressed beside where it goes and, once checked, given its name (nothing has
    it open, so nothing needs copying page by page).
    """
    engine = engine_for(database.vendor)
    warnings: list[str] = []
    install = missing and database.vendor == "sqlite"
    token = uuid.uuid4().hex[:8]
    if install:
        live = Path(database.name)
        scratch = live.with_name(f".{live.name}.restoring-{token}")
    else:
        scratch = files.partial_path(conf.backup_dir(), source.path.name, f".restore-{token}.sqlite3")
    try:
        restorable, applied = _checked_copy(source, engine=engine, scratch=scratch)
        if problem := _migration_problem(applied):
            if not force:
                raise RestoreMismatch(problem)
            warnings.append(problem)
        before = backup_create(now=now, purpose=BackupPurpose.PRE_RESTORE, database=database) if pre_restore else None
        records = list(Backup.objects.values()) if keep_records else []
        if database == Database.default():
            connections["default"].close()  # hold no snapshot of the old data while it is replaced
        if install:
            # The very file that passed the integrity check becomes the database.
            warnings += [f"{leftover.name}, left by an earlier database there, was moved aside to {aside.name} "
                         "(SQLite would have replayed it into the restored database)."
                         for leftover, aside in engine.install(restorable, database)]
        else:
            engine.restore(restorable, database)
            try:
                engine.check_restored(database)
            except Exception as exc:
                raise RestoredWithProblems(f"{_sentence(source.described)} was restored, but then: {exc}"
                                           f"{_pre_restore_hint(before)}") from exc
    finally:
        scratch.unlink(missing_ok=True)
    return _Replaced(pre_restore=before, applied=applied, warnings=warnings, records=records)


def _checked_copy(source: _File, *, engine, scratch: Path) -> tuple[Path, list[str]]:
    """The engine's restorable copy of the file, checked (integrity, applied migrations), and the file's
    checksum checked against its record or manifest: in two threads, since both read the whole file and
    both let go of the GIL (hashlib, zstandard, a pg_restore process). A checksum mismatch is what is
    raised whenever there is one: it says best why a damaged file also failed its integrity check."""
    checksum: dict = {}

    def check_sum() -> None:
        try:
            checksum["problem"] = _checksum_problem(source.sha256, source.path)
        except BaseException as exc:  # handed to the calling thread below
            checksum["error"] = exc

    summer = threading.Thread(target=check_sum, name="restore-checksum") if source.sha256 is not None else None
    if summer is not None:
        summer.start()
    try:
        scratch.parent.mkdir(parents=True, exist_ok=True)
        return engine.prepare_restore(source.path, scratch=scratch, server_major=source.server_major)
    except OSError as exc:
        raise BackupError(files.describe_os_error(exc, what=f"the restore copy in {scratch.parent}")) from exc
    finally:
        if summer is not None:
            summer.join()
            if "error" in checksum:
                raise checksum["error"]
            if checksum["problem"]:
                raise ChecksumMismatch(checksum["problem"])


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _pre_restore_hint(pre_restore: Backup | None) -> str:
    if pre_restore is None:
        return ""
    return f" The data from just before the restore is in backup #{pre_restore.pk} ({pre_restore.file_name})."


def _settle(source: _File, replaced: _Replaced, *, now: datetime, then) -> tuple[list[str], Aftermath]:
    """In the restored database (the app's own): migrate it if it is behind the code, `then()` (the
    restore's own records), the aftermath. A failure here is RestoredWithProblems: the data is back."""
    connections["default"].close()
    try:
        unknown, missing = _migration_difference(replaced.applied)
        migrated = []
        if missing and not unknown:
            call_command("migrate", interactive=False, verbosity=0)
            migrated = missing
        then()
        aftermath = restore_aftermath(now=now, jobs_until=now, restored=source.described)
    except Exception as exc:
        raise RestoredWithProblems(f"{_sentence(source.described)} was restored, but then: {exc}"
                                   f"{_pre_restore_hint(replaced.pre_restore)}") from exc
    return migrated, aftermath


def _made(instant: datetime) -> str:
    return f"{instant:%Y-%m-%d %H:%M} UTC"


def backup_restore(*, backup: Backup, now: datetime, force: bool = False,
                   database: Database | None = None) -> RestoreReport:
    """Replace the live database with a backup the database knows, after checking it and taking a
    pre_restore backup.

    Refuses with nothing touched: a checksum mismatch always (ChecksumMismatch), a migrations mismatch
    unless forced (RestoreMismatch); a backup that fails its integrity check is never restored. Backups'
    own records are carried over: the restored database gets the rows of every backup made since,
    pre_restore included.
    """
    database = database or Database.default()
    is_own_database = database == Database.default()
    if backup.database_vendor != database.vendor:
        raise RestoreRefused(f"Backup #{backup.pk} is a {backup.database_vendor} backup; the database is "
                             f"{database.vendor}.")
    source = _File(path=selectors.backup_file_path(backup=backup), vendor=backup.database_vendor,
                   sha256=backup.sha256, server_major=_server_major(backup),
                   described=f"backup #{backup.pk} ({backup.file_name}), made {_made(backup.started_at)}")
    replaced = _restore(source, database=database, now=now, force=force, pre_restore=True,
                        keep_records=is_own_database)
    report = RestoreReport(backup=backup, pre_restore=replaced.pre_restore, warnings=replaced.warnings)
    if is_own_database:
        report.migrated, report.aftermath = _settle(
            source, replaced, now=now, then=lambda: _carry_over_records(replaced.records, restored=backup, now=now))
        backup.refresh_from_db()
    return report


def _manifest_for(path: Path, *, no_manifest: bool) -> tuple[files.Manifest | None, list[str]]:
    try:
        return files.read_manifest(files.manifest_path(path), file_name=path.name), []
    except ManifestProblem as exc:
        if not no_manifest:
            raise
        return None, [f"Restored without a manifest ({exc}): there was no checksum to compare the file with; its "
                      "integrity was checked."]


def _database_state(database: Database) -> str:
    """missing, empty, or "in use" (this app's database); refuses a database that is neither."""
    tables = engine_for(database.vendor).table_names(database)
    if tables is None:
        return "missing"
    if not tables:
        return "empty"
    if {"django_migrations", "backups_backup"} <= set(tables):
        return "in use"
    count = ngettext("%(n)d table", "%(n)d tables", len(tables)) % {"n": len(tables)}
    raise RestoreRefused(
        f"{_sentence(database.describe())} holds {count} "
        f"({', '.join(tables[:5])}{', …' if len(tables) > 5 else ''}) but is not this app's database (it has no "
        "django_migrations and backups_backup tables). Nothing was changed: point DATABASE_URL at this app's "
        "database, or at an empty or new one.")


def backup_restore_file(*, path: Path, now: datetime, force: bool = False, no_manifest: bool = False,
                        database: Database | None = None) -> RestoreReport:
    """Replace the database with a backup file, checked against the manifest beside it: no record needed.

    For a fresh install (the database does not exist yet, or is empty) as well as for the app's own
    database in use (whose data then goes into a pre_restore backup first). The checksum must match the
    manifest's, always; a file without a usable manifest is restored only with `no_manifest` (integrity
    still checked); a migrations mismatch only with `force`. Afterwards the restored database is the
    app's own: migrated if it is behind, the aftermath done, and the backup files in BACKUP_DIR it does
    not know adopted (the pre_restore backup among them).
    """
    database = database or Database.default()
    path = Path(path)
    directory = conf.backup_dir()
    if path.absolute().parent.resolve() == directory.resolve():
        # A file of BACKUP_DIR, whose names anyone able to write there could plant: the folder's own
        # file, never a link to one elsewhere. A path given elsewhere is the operator's own choice.
        files.regular_file(directory, path.name)
    if not path.is_file():
        raise BackupError(f"There is no file {path}.")
    manifest, warnings = _manifest_for(path, no_manifest=no_manifest)
    if manifest is not None:
        vendor = manifest.vendor
        described = f"backup #{manifest.id} ({path.name}), made {_made(manifest.started_at)}"
    else:
        vendor = files.vendor_by_content(path)
        if vendor is None:
            raise RestoreRefused(f"{path.name} is neither a zstd-compressed SQLite database nor a pg_dump archive: it "
                                 "is not a backup of this app.")
        described = f"the file {path.name}"
    if vendor != database.vendor:
        raise RestoreRefused(f"{path.name} is a {vendor} backup; the database is {database.vendor}.")
    state = _database_state(database)
    source = _File(path=path, vendor=vendor, sha256=manifest.sha256 if manifest else None,
                   server_major=manifest.server_major() if manifest else None, described=described)
    replaced = _restore(source, database=database, now=now, force=force, pre_restore=state == "in use",
                        keep_records=False, missing=state == "missing")
    report = RestoreReport(backup=None, pre_restore=replaced.pre_restore, warnings=warnings + replaced.warnings,
                           database_was=state)
    directory = conf.backup_dir()
    if path.resolve().parent != directory.resolve():
        report.warnings.append(f"{path.name} is not in BACKUP_DIR ({directory}): copy it there with its manifest, so "
                               "that the app lists it and its retention and verification apply.")
    if database != Database.default():
        return report
    report.migrated, report.aftermath = _settle(source, replaced, now=now, then=lambda: None)
    try:
        report.adopted = backups_adopt(directory=directory, now=now, by="the restore")
        if manifest is not None:
            # Under its own name, or a new one if its id was taken (adopted and renamed).
            report.backup = Backup.objects.filter(status=BackupStatus.COMPLETED, sha256=manifest.sha256).first()
            if report.backup is not None:
                Backup.objects.filter(pk=report.backup.pk).update(restored_at=now)
                report.backup.refresh_from_db()
        if replaced.pre_restore is not None:
            adoption = report.adopted.adoption_of(replaced.pre_restore.file_name)
            report.pre_restore = Backup.objects.filter(pk=adoption.backup_id).first() if adoption else None
    except Exception as exc:
        raise RestoredWithProblems(f"{_sentence(described)} was restored, but then: {exc}"
                                   f"{_pre_restore_hint(replaced.pre_restore)}") from exc
    return report


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
        reset_id_sequence()
