"""Restore drills: the newest good backup restored into a scratch database and checked against its manifest.

A backup that was verified when it was made can still fail the day it is needed: its manifest lost, a
table short of rows, migrations the code no longer has. A drill does what a restore would do, on a
scratch copy, and compares: for each **drill source** (the file in BACKUP_DIR; the newest off-site copy
too, once an off-site source is registered) it

1. takes the file (the off-site source fetches it into the drill's scratch folder) and the manifest
   beside it, and checks the file's SHA-256 against the manifest and the backup's record;
2. restores it into a scratch database of its own (`engine.drill`: a decompressed SQLite file in a
   scratch folder of BACKUP_DIR; a `<database>_drill_<backup id>` database created and dropped on the
   app's PostgreSQL server), which runs the integrity check and counts the rows of every table;
3. checks its migrations as `restore_backup` would (the same check, in backups.services.restoring);
4. compares the row count of every table with the manifest's `tables` (a manifest made before there
   were counts passes with a note that the counts could not be compared).

The outcome is recorded on the backup (drilled_at, drill_outcome, drill_detail and the tables, rows and
seconds), and a failure opens the `restore_drill_failed` incident, which the next drill that passes
resolves (backups.alerts). What the backup gets wrong is a DrillFailed (the job fails without retries:
the file will not change); what stopped the drill from looking (a full disk, the server down) is any
other BackupError, and the job retries.

Drills never overlap: each holds a lease on a chore row (common.chores) while it runs. So whatever
scratch folder or drill database the holder finds was left by a drill that was killed, and it is
removed first (`drill_leftovers_remove`).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from django.utils.translation import ngettext

from backups import alerts, conf, files, selectors
from backups.engines import engine_for
from backups.errors import BackupBusy, BackupError, DrillFailed, NothingToDrill
from backups.models import Backup, DrillOutcome
from backups.services.restoring import _migration_problem, _server_major
from backups.sources import Database
from common.chores import chore_claim, chore_release
from common.models import Chore
from jobs.models import Job

logger = logging.getLogger(__name__)

LOCK = "backups: restore drill"
# A drill job's time limit (backups.drills.HANDLER) plus the reaper's margin: when the reaper hands a
# killed drill's job back for a retry, its lease has ended. A holder on this machine whose process is
# gone is taken over at once.
LEASE = timedelta(minutes=61)
SCRATCH_PREFIX = f"{files.PARTIAL_PREFIX}drill-"
LOCAL = "the file in BACKUP_DIR"


# --- where drills take their backups from -----------------------------------------------------------


@dataclass(frozen=True)
class DrillSource:
    """One copy of a backup to drill: where it is, in words, and how to get its file."""

    label: str  # "the file in BACKUP_DIR", "the off-site copy"
    backup: Backup
    # Given the drill's scratch folder, the path of the file to restore, with its manifest beside it
    # (`<file>.json`). A source that copies the file in puts it (and the manifest) in that folder.
    # DrillFailed when the copy is gone; other errors (the remote unreachable) are retried.
    fetch: Callable[[Path], Path]


SourceFinder = Callable[..., "DrillSource | None"]  # finder(*, database) -> DrillSource | None


def local_source(*, database: Database) -> DrillSource | None:
    """The newest good backup of this database's engine, in BACKUP_DIR."""
    backup = selectors.newest_good_backup_of(vendor=database.vendor)
    if backup is None:
        return None
    return DrillSource(label=LOCAL, backup=backup, fetch=lambda scratch_dir: _local_file(backup))


def _local_file(backup: Backup) -> Path:
    try:
        return selectors.backup_file_path(backup=backup)
    except BackupError as exc:  # the file of a good backup is gone or not the app's: that is the finding
        raise DrillFailed(str(exc)) from exc


_finders: list[SourceFinder] = [local_source]


def register_drill_source(finder: SourceFinder) -> SourceFinder:
    """Drill one more copy at each run: `finder(*, database)` returns a DrillSource, or None when there is
    nothing to drill there (the off-site copy, when BACKUP_REMOTE is set)."""
    if finder not in _finders:
        _finders.append(finder)
    return finder


def unregister_drill_source(finder: SourceFinder) -> None:
    if finder in _finders and finder is not local_source:
        _finders.remove(finder)


def drill_sources(*, database: Database) -> list[DrillSource]:
    return [source for finder in list(_finders) if (source := finder(database=database)) is not None]


# --- one drill --------------------------------------------------------------------------------------


@dataclass
class DrillReport:
    """What drilling one source found."""

    source: str
    backup: Backup
    passed: bool
    seconds: float
    problem: str = ""  # why it failed
    note: str = ""  # a pass with a reservation (the counts could not be compared)
    tables: int | None = None
    rows: int | None = None
    rows_compared: bool = False

    def as_result(self) -> dict:
        result = {"backup_id": self.backup.pk, "file": self.backup.file_name, "source": self.source,
                  "outcome": DrillOutcome.PASSED if self.passed else DrillOutcome.FAILED,
                  "tables": self.tables, "rows": self.rows, "rows_compared": self.rows_compared,
                  "seconds": round(self.seconds, 3)}
        if self.problem:
            result["problem"] = self.problem
        if self.note:
            result["note"] = self.note
        return result


def _rows(count: int) -> str:
    return ngettext("%(n)s row", "%(n)s rows", count) % {"n": f"{count:,}"}


def count_differences(*, expected: dict[str, int], restored: dict[str, int]) -> list[str]:
    """Each table whose row count differs between the manifest and the restored copy, in words."""
    differences = []
    for table in sorted(set(expected) | set(restored)):
        want, got = expected.get(table), restored.get(table)
        if want == got:
            continue
        if want is None:
            differences.append(f"table “{table}” is in the restored copy ({_rows(got)}) but not in the manifest")
        elif got is None:
            differences.append(f"table “{table}” ({_rows(want)} in the manifest) is missing from the restored copy")
        else:
            differences.append(f"table “{table}”: {_rows(want)} in the manifest, {got:,} restored")
    return differences


def _manifest_beside(path: Path) -> dict:
    manifest_path = path.with_name(files.manifest_name(path.name))
    try:
        text = manifest_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DrillFailed(f"Its manifest {manifest_path.name} is missing: a restore from the folder alone needs "
                          "it (it holds the checksum and what the backup is).") from None
    try:
        manifest = json.loads(text)
    except ValueError as exc:
        raise DrillFailed(f"Its manifest {manifest_path.name} cannot be read: it is not JSON ({exc}).") from None
    if not isinstance(manifest, dict):
        raise DrillFailed(f"Its manifest {manifest_path.name} cannot be read: it is not a JSON object.")
    return manifest


def _check_checksum(*, path: Path, backup: Backup, manifest: dict) -> None:
    actual = files.sha256_of(path)
    for where, recorded in (("its manifest", manifest.get("sha256")), ("the backup's record", backup.sha256)):
        if recorded != actual:
            raise DrillFailed(f"The checksum of {path.name} does not match {where} (recorded "
                              f"{str(recorded)[:16]}…, the file has {actual[:16]}…): the file is damaged or was "
                              "replaced.")


def _expected_tables(manifest: dict) -> dict[str, int] | None:
    tables = manifest.get("tables")
    if tables is None:
        return None
    if not (isinstance(tables, dict) and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0
                                             for n in tables.values())):
        raise DrillFailed("Its manifest's “tables” is not a map of table names to row counts.")
    return tables


def backup_drill(*, source: DrillSource, scratch_dir: Path, database: Database) -> DrillReport:
    """Drill one source (see the module's docstring); DrillFailed is turned into a failed report, any
    other error propagates (the drill could not look, which says nothing about the backup)."""
    backup = source.backup
    started = time.monotonic()
    try:
        path = source.fetch(scratch_dir)
        manifest = _manifest_beside(path)
        _check_checksum(path=path, backup=backup, manifest=manifest)
        restored = engine_for(backup.database_vendor).drill(
            path, scratch_dir=scratch_dir, drill_id=str(backup.pk), server_major=_server_major(backup),
            database=database)
        if problem := _migration_problem(restored.applied_migrations):
            raise DrillFailed(problem)
        expected = _expected_tables(manifest)
        report = DrillReport(source=source.label, backup=backup, passed=True, seconds=0.0,
                             tables=len(restored.tables), rows=sum(restored.tables.values()),
                             rows_compared=expected is not None)
        if expected is None:
            report.note = ("Row counts not compared: the manifest has none (it was made before manifests "
                           "counted rows).")
        elif differences := count_differences(expected=expected, restored=restored.tables):
            count = ngettext("%(n)d table", "%(n)d tables", len(differences)) % {"n": len(differences)}
            raise DrillFailed(f"The restored copy does not match the manifest in {count}: "
                              + "; ".join(differences[:10]) + ("; …" if len(differences) > 10 else "") + ".")
    except DrillFailed as exc:
        report = DrillReport(source=source.label, backup=backup, passed=False, seconds=0.0, problem=str(exc))
    except OSError as exc:
        raise BackupError(files.describe_os_error(exc, what=f"the drill's scratch copy in {scratch_dir.parent}")
                          ) from exc
    report.seconds = time.monotonic() - started
    return report


# --- the job ----------------------------------------------------------------------------------------


@dataclass
class DrillRun:
    reports: list[DrillReport]
    leftovers_removed: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(report.passed for report in self.reports)

    def failure_message(self) -> str:
        failed = [r for r in self.reports if not r.passed]
        return " ".join(f"Restore drill of backup #{r.backup.pk} ({r.backup.file_name}, {r.source}) failed: "
                        f"{r.problem}" for r in failed)

    def as_result(self) -> dict:
        result = {"status": DrillOutcome.PASSED if self.passed else DrillOutcome.FAILED,
                  "drills": [report.as_result() for report in self.reports]}
        if self.leftovers_removed:
            result["leftovers_removed"] = self.leftovers_removed
        return result


def drill_leftovers_remove(*, database: Database) -> list[str]:
    """Remove what drills that were killed left behind: scratch folders in BACKUP_DIR and, for
    PostgreSQL, drill databases of this app's database. Call it only while holding the drills' lock."""
    removed = []
    directory = conf.backup_dir()
    if directory.is_dir():
        for path in sorted(directory.glob(f"{SCRATCH_PREFIX}*")):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path.name)
    return removed + engine_for(database.vendor).drill_leftovers_remove(database)


def backup_drill_run(*, job: Job | None, now: datetime, database: Database | None = None) -> DrillRun:
    """What one BACKUP_RESTORE_DRILL job does: drill every source, record, alert.

    Raises NothingToDrill when there is no good backup, BackupBusy when another drill runs; a drill that
    found the backup wrong returns a DrillRun that did not pass (the handler fails the job with its
    message, after this recorded it).
    """
    database = database or Database.default()
    claim = chore_claim(name=LOCK, now=now, lease=LEASE)
    if claim is None and _release_dead_holder(now=now):
        claim = chore_claim(name=LOCK, now=now, lease=LEASE)
    if claim is None:
        holder = Chore.objects.filter(name=LOCK).values_list("claimed_by", flat=True).first()
        raise BackupBusy(f"Another restore drill is running (on {holder or 'a worker'}); drills never overlap.")
    started = time.monotonic()
    try:
        directory = conf.backup_dir()
        files.ensure_writable_dir(directory)
        leftovers = drill_leftovers_remove(database=database)
        sources = drill_sources(database=database)
        if not sources:
            raise NothingToDrill(f"There is no good backup to drill: no completed, verified {database.vendor} "
                                 "backup. Make one (Run now on /backups); the next drill tests it.")
        reports = []
        for source in sources:
            scratch_dir = directory / f"{SCRATCH_PREFIX}{uuid.uuid4().hex[:12]}"
            scratch_dir.mkdir()
            try:
                reports.append(backup_drill(source=source, scratch_dir=scratch_dir, database=database))
            finally:
                shutil.rmtree(scratch_dir, ignore_errors=True)
    finally:
        chore_release(claim=claim, now=now, next_at=now, done=True)
    run = DrillRun(reports=reports, leftovers_removed=leftovers)
    finished = now + timedelta(seconds=time.monotonic() - started)
    _record(run, now=finished)
    alerts.drills_checked(reports=run.reports, job=job, now=finished)
    return run


def _release_dead_holder(*, now: datetime) -> bool:
    """End the lease of a drill whose process on this machine is gone (killed, or its worker restarted);
    a compare-and-set on the lease, so of two drills finding it, one takes it."""
    holder = Chore.objects.filter(name=LOCK, next_at__gt=now).values("claimed_by", "claim_token").first()
    if not holder:
        return False
    host, _, pid = holder["claimed_by"].rpartition(":")
    if host != socket.gethostname() or not pid.isdigit() or _process_alive(int(pid)):
        return False
    return bool(Chore.objects.filter(name=LOCK, claim_token=holder["claim_token"], next_at__gt=now).update(
        next_at=now, claim_token=""))


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _record(run: DrillRun, *, now: datetime) -> None:
    """Each drilled backup gets the outcome of this run's drills of it (several sources: all must pass)."""
    by_backup: dict[int, list[DrillReport]] = {}
    for report in run.reports:
        by_backup.setdefault(report.backup.pk, []).append(report)
    for backup_id, reports in by_backup.items():
        several = len(reports) > 1
        failed = [r for r in reports if not r.passed]
        shown = failed or [r for r in reports if r.note]
        detail = " ".join((f"{r.source}: " if several else "") + (r.problem or r.note) for r in shown)
        passed = [r for r in reports if r.passed]
        counted = passed[0] if passed else None
        Backup.objects.filter(pk=backup_id).update(
            drilled_at=now, drill_outcome=DrillOutcome.FAILED if failed else DrillOutcome.PASSED,
            drill_detail=detail, drill_seconds=sum(r.seconds for r in reports),
            drill_tables=counted.tables if counted else None, drill_rows=counted.rows if counted else None)
        for report in reports:
            report.backup.refresh_from_db()
        logger.info("Restore drill of backup #%s: %s", backup_id, "failed" if failed else "passed",
                    extra={"event": "restore_drill", "backup_id": backup_id,
                           "outcome": DrillOutcome.FAILED if failed else DrillOutcome.PASSED,
                           "sources": [r.source for r in reports], "detail": detail})

