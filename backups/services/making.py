"""Writes that make backups and let them go: make one (the job's work, or a command's), release the
ones whose process died, apply retention, delete one.

The job handler, the commands, the /backups page and the API parse their input and call these. Every
failure raises a BackupError whose message says what happened, and leaves no partial or temporary file
behind; older backups are never touched by a failure. Verifying and restoring are in
backups.services.restoring.
"""

from __future__ import annotations

import errno
import os
import socket
import sqlite3
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from django.db import IntegrityError, transaction
from django.utils.translation import ngettext

from backups import conf, files, offsite, retention, selectors, tasks
from backups.engines import engine_for
from backups.errors import BackupBusy, BackupConfigError, BackupError, NoBackupFile
from backups.models import Backup, BackupPurpose, BackupStatus
from backups.services.aftermath import restored_copy_settle
from backups.sources import Database
from common.processes import process_name
from jobs.models import Job, JobStatus

MANIFEST_FORMAT = 1
# A backup made by a command (no job) still "running" after this long has lost its process.
STALE_AFTER = timedelta(days=1)
# What a folder's setup causes (permissions, a read-only mount): no retry fixes it.
SETUP_ERRNOS = (errno.EACCES, errno.EPERM, errno.EROFS)


@dataclass(frozen=True, kw_only=True)
class BackupParams:
    """A DATABASE_BACKUP job's params, validated and completed with the task type's defaults (see
    backups.handlers)."""

    backup_type: str
    # The retention rule: by age (retention_days), or by calendar (retention_mode "calendar" and the
    # keep_* counts, in the schedule's `timezone`); the params hold the chosen rule's keys only.
    retention_mode: str = retention.DAYS
    retention_days: int = tasks.DEFAULT_PARAMS["retention_days"]
    keep_last: int = tasks.CALENDAR_DEFAULTS["keep_last"]
    keep_daily: int = tasks.CALENDAR_DEFAULTS["keep_daily"]
    keep_weekly: int = tasks.CALENDAR_DEFAULTS["keep_weekly"]
    keep_monthly: int = tasks.CALENDAR_DEFAULTS["keep_monthly"]
    timezone: str = "UTC"
    cleanup_old: bool
    force_backup: bool
    copy_offsite: bool = True
    # The scheduled window the job belongs to; None for jobs made by hand.
    window_start: datetime | None = None

    @property
    def rule(self) -> retention.Rule:
        if self.retention_mode == retention.CALENDAR:
            return retention.calendar_rule(last=self.keep_last, daily=self.keep_daily, weekly=self.keep_weekly,
                                           monthly=self.keep_monthly, zone=self.timezone)
        return retention.days_rule(self.retention_days)


# --- making a backup ---------------------------------------------------------------------------


def backup_create(*, now: datetime, job: Job | None = None, purpose: str = BackupPurpose.REGULAR,
                  database: Database | None = None) -> Backup:
    """Make one verified backup of the database; raise BackupBusy if another one is running.

    The row is claimed first (a partial unique index allows one running backup), so even a
    failure in the preflight is on record. A failure marks the row failed with its message and
    removes every file of this backup, then raises.
    """
    database = database or Database.default()
    engine = engine_for(database.vendor)
    directory = conf.backup_dir()
    backups_release_stale(now=now, current_job=job)
    backup = _claim(now=now, job=job, purpose=purpose, vendor=database.vendor)
    started = time.monotonic()
    try:
        files.ensure_writable_dir(directory)
        source = engine.prepare_backup(database)
        backup.database_version, backup.tool = source.database_version, source.tool
        backup.database_size_bytes = source.size_bytes
        _check_free_space(directory, needed=source.size_bytes * float(conf.get("BACKUP_FREE_SPACE_FACTOR")))
        made = engine.create(source, directory=directory, file_name=backup.file_name)
        files.publish(made.partial, directory / backup.file_name)
        duration = time.monotonic() - started
        backup.status = BackupStatus.COMPLETED
        backup.size_bytes, backup.sha256, backup.compression = made.size_bytes, made.sha256, made.compression
        backup.applied_migrations, backup.table_rows = made.applied_migrations, made.tables
        backup.duration_seconds = duration
        backup.finished_at = backup.verified_at = now + timedelta(seconds=duration)
        # The row says completed before the manifest exists, never after: so a database whose row of a
        # backup still says running while that backup's manifest is in the folder is a copy taken during
        # it, i.e. a restored one (backups.services.aftermath).
        backup.save()
        files.write_manifest(directory, backup.file_name, manifest_of(backup))
        files.fsync_dir(directory)
    except BaseException as exc:
        error = _as_backup_error(exc)
        if type(error) is BackupError:  # no more precise reason known: was it the folder, after all?
            error = _unusable_folder(directory) or error
        _fail(backup, error=error, directory=directory, now=now, duration=time.monotonic() - started)
        if error is exc:
            raise
        raise error from exc
    return backup


def _unusable_folder(directory: Path) -> BackupConfigError | None:
    """The folder's own error if it has stopped taking files: a folder that turned read-only during
    a backup makes SQLite say only "unable to open database file", and pg_dump the like. (A full
    disk is not the folder's setup: that error stands, and the job's retries may find room.)"""
    try:
        files.ensure_writable_dir(directory)
    except BackupConfigError as exc:
        cause = exc.__cause__
        return exc if isinstance(cause, OSError) and cause.errno in SETUP_ERRNOS else None
    return None


def _claim(*, now: datetime, job: Job | None, purpose: str, vendor: str) -> Backup:
    started_at = now.astimezone(timezone.utc)
    try:
        with transaction.atomic():
            backup = Backup.objects.create(status=BackupStatus.RUNNING, purpose=purpose, database_vendor=vendor,
                                           started_at=started_at, job=job, worker=process_name())
            backup.file_name = files.file_name_for(vendor=vendor, started_at=started_at, backup_id=backup.pk)
            backup.save(update_fields=["file_name"])
    except IntegrityError:
        running = Backup.objects.filter(status=BackupStatus.RUNNING).select_related("job").first()
        if running is None:
            raise
        raise BackupBusy(f"Another backup is running: {_describe_running(running)}. Backups never overlap.") from None
    return backup


def _describe_running(backup: Backup) -> str:
    by = f"job #{backup.job_id}" if backup.job_id else backup.get_purpose_display().lower()
    return f"#{backup.pk} ({by}), started {backup.started_at:%Y-%m-%d %H:%M:%S} UTC on {backup.worker or 'a worker'}"


def _check_free_space(directory: Path, *, needed: float) -> None:
    free = files.free_bytes(directory)
    if free is not None and free < needed:
        raise BackupConfigError(
            f"Not enough free space for a backup in {directory}: {files.human_size(free)} free, "
            f"{files.human_size(int(needed))} needed ({conf.get('BACKUP_FREE_SPACE_FACTOR'):g}x the database). "
            "Free some space, delete old backups, or point BACKUP_DIR at a larger disk."
        )


def _as_backup_error(exc: BaseException) -> BaseException:
    """A BackupError with a message a person understands, where the exception allows one."""
    if isinstance(exc, BackupError) or not isinstance(exc, Exception):
        return exc
    if isinstance(exc, OSError):
        what = f"the backup in {conf.backup_dir()}"
        # The folder's permissions are setup to fix; a full disk or anything else may pass.
        error_class = BackupConfigError if exc.errno in SETUP_ERRNOS else BackupError
        return error_class(files.describe_os_error(exc, what=what))
    if isinstance(exc, sqlite3.Error):
        return BackupError(f"SQLite failed while making the backup: {exc}.")
    return BackupError(f"The backup failed unexpectedly: {exc.__class__.__name__}: {exc}")


def _fail(backup: Backup, *, error: BaseException, directory: Path, now: datetime, duration: float) -> None:
    _remove_files(directory, backup)
    message = str(error) or error.__class__.__name__
    # Its own row: still running, or completed just before the manifest could not be written.
    Backup.objects.filter(pk=backup.pk, status__in=(BackupStatus.RUNNING, BackupStatus.COMPLETED)).update(
        status=BackupStatus.FAILED, error=message, finished_at=now + timedelta(seconds=duration),
        duration_seconds=duration, database_version=backup.database_version, tool=backup.tool,
        database_size_bytes=backup.database_size_bytes,
    )
    backup.status, backup.error = BackupStatus.FAILED, message


def _remove_files(directory: Path, backup: Backup) -> None:
    """Every file of a backup that did not complete: its temporary files, and a file published just
    before a later step failed (the row does not vouch for it, so it must not look like a backup)."""
    if not backup.file_name or not directory.is_dir():
        return
    files.remove_partials(directory, backup.file_name)
    if files.is_ours(backup.file_name, backup.pk):
        for name in (backup.file_name, files.manifest_name(backup.file_name)):
            (directory / name).unlink(missing_ok=True)


def manifest_of(backup: Backup) -> dict:
    run = backup.schedule_run
    return {
        "format": MANIFEST_FORMAT,
        "id": backup.pk,
        "file": backup.file_name,
        "status": backup.status,
        "purpose": backup.purpose,
        "backup_type": backup.backup_type,
        "database_vendor": backup.database_vendor,
        "database_version": backup.database_version,
        "tool": backup.tool,
        "size_bytes": backup.size_bytes,
        "database_size_bytes": backup.database_size_bytes,
        "compression": backup.compression,
        "sha256": backup.sha256,
        "started_at": backup.started_at.isoformat(),
        "finished_at": backup.finished_at.isoformat() if backup.finished_at else None,
        "duration_seconds": backup.duration_seconds,
        "verified_at": backup.verified_at.isoformat() if backup.verified_at else None,
        "applied_migrations": backup.applied_migrations,
        # {"table": rows} when the backup was made (absent from manifests made before there were counts).
        "tables": backup.table_rows,
        "job_id": backup.job_id,
        "schedule_run_id": run.pk if run else None,
        "schedule_name": run.schedule_name if run else None,
        "worker": backup.worker,
        "restore": files.restore_entry(vendor=backup.database_vendor, file_name=backup.file_name,
                                       sha256=backup.sha256, tool=backup.tool),
    }


def backups_release_stale(*, now: datetime, current_job: Job | None = None) -> int:
    """Mark backups whose process died while making them as failed, and remove their files.

    Without this, one crashed worker would block every later backup (only one may run). A running row
    whose finished manifest is in the folder is no crash but a restored copy's: it is recorded as
    completed (with the rest of a restore's aftermath), never failed, and its file is kept.
    """
    restored_copy_settle(now=now)
    released = 0
    directory = conf.backup_dir()
    for backup in Backup.objects.filter(status=BackupStatus.RUNNING).select_related("job"):
        reason = _why_stale(backup, current_job=current_job, now=now)
        if reason and Backup.objects.filter(pk=backup.pk, status=BackupStatus.RUNNING).update(
                status=BackupStatus.FAILED, error=reason, finished_at=now):
            _remove_files(directory, backup)
            released += 1
    return released


def _why_stale(backup: Backup, *, current_job: Job | None, now: datetime) -> str:
    if backup.job_id is not None:
        if current_job is not None and backup.job_id == current_job.pk:
            # This job is starting an attempt, so the attempt that made this row has ended.
            return (f"Interrupted: attempt {backup.job.attempts - 1 if backup.job else '?'} of job #{backup.job_id} "
                    "stopped before the backup finished (its worker died or was stopped).")
        if backup.job is not None and backup.job.status != JobStatus.RUNNING:
            return (f"Interrupted: its job #{backup.job_id} is {backup.job.get_status_display().lower()} "
                    "and the backup never finished.")
        return ""
    host, _, pid = backup.worker.rpartition(":")
    if host == socket.gethostname() and pid.isdigit() and not _process_alive(int(pid)):
        return f"Interrupted: the process that made it ({backup.worker}) is gone."
    if now - backup.started_at > STALE_AFTER:
        days = ngettext("%(n)d day", "%(n)d days", STALE_AFTER.days) % {"n": STALE_AFTER.days}
        return f"Interrupted: still running after {days}; its process ({backup.worker}) is gone."
    return ""


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --- the job ------------------------------------------------------------------------------------


def backup_job_run(*, job: Job, params: BackupParams, now: datetime) -> dict:
    """What one DATABASE_BACKUP job does: skip, or back up and apply retention. Returns the job's result."""
    if not params.force_backup and params.window_start is not None:
        recent = Backup.objects.good().filter(started_at__gte=params.window_start).order_by("-started_at").first()
        if recent is not None:
            return _skip(job=job, now=now, reason=(
                f"A verified backup of this window exists already: #{recent.pk} ({recent.file_name}, made "
                f"{recent.started_at:%Y-%m-%d %H:%M:%S} UTC), and force_backup is off."))
    try:
        backup = backup_create(now=now, job=job)
    except BackupBusy as exc:
        return _skip(job=job, now=now, reason=str(exc))
    if params.copy_offsite and offsite.remote():  # a job of its own: a failed copy never fails the backup
        offsite.offsite_copy_enqueue(backup=backup, now=backup.finished_at)
    pruned = PruneReport()
    if params.cleanup_old:
        pruned = backups_prune(rule=params.rule, now=backup.finished_at,
                               by=selectors.retention_by(job=job, backup=backup))
    return {
        "status": "completed",
        "backup_id": backup.pk,
        "file": backup.file_name,
        "size_bytes": backup.size_bytes,
        "size": files.human_size(backup.size_bytes),
        "database_size_bytes": backup.database_size_bytes,
        "ratio": round(backup.ratio, 2) if backup.ratio else None,
        "duration_seconds": round(backup.duration_seconds, 3),
        "sha256": backup.sha256,
        **({"offsite_job_id": backup.offsite_job.pk} if backup.offsite_job else {}),
        "deleted": [b.file_name for b in pruned.deleted],
        "retention": params.rule.describe() if params.cleanup_old else "keeps all",
        **({"retention_errors": pruned.errors} if pruned.errors else {}),
    }


def _skip(*, job: Job | None, now: datetime, reason: str) -> dict:
    connection_vendor = Database.default().vendor
    backup = Backup.objects.create(status=BackupStatus.SKIPPED, database_vendor=connection_vendor, started_at=now,
                                   finished_at=now, job=job, note=reason, worker=process_name())
    return {"status": "skipped", "skipped": True, "reason": reason, "backup_id": backup.pk}


# --- retention and deletion ------------------------------------------------------------------------


@dataclass
class PruneReport:
    deleted: list[Backup] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def backups_prune(*, rule: retention.Rule, now: datetime, by: str) -> PruneReport:
    """Delete the completed backups `rule` does not keep at `now` (backups.retention: never the newest
    good one), each with the rule's reason in its note, "Deleted by <by>: <reason>.".

    Only rows of completed backups are candidates, so a failed run (which has no file) and files
    the app did not make (which have no row) are never touched; a row whose file name is not
    exactly the one the app gives it is left alone, and the report says so. The selection is the
    editor's preview's (backups.selectors.retention_plan), so the preview says what a run deletes.
    """
    report = PruneReport()
    plan = selectors.retention_plan(rule=rule, now=now)
    for backup in plan.left_alone:
        report.errors.append(f"#{backup.pk}: {backup.file_name!r} is not a name this app gives; left alone.")
    for backup in plan.deleted:
        try:
            report.deleted.append(backup_delete(backup=backup, now=now, by=by, reason=plan.plan.deleted[backup.pk]))
        except BackupError as exc:
            report.errors.append(f"#{backup.pk}: {exc}")
    report.errors += offsite.offsite_delete_leftovers(now=now)  # remote copies a deletion could not reach
    return report


def backup_delete(*, backup: Backup, now: datetime, by: str = "", reason: str = "") -> Backup:
    """Delete a completed backup's file and manifest; the row stays, saying when, why and by whom."""
    if not backup.has_file:
        raise NoBackupFile(backup.no_file_reason(to="delete"))
    if not files.is_ours(backup.file_name, backup.pk):
        raise BackupError(f"{backup.file_name!r} is not a name this app gives backup #{backup.pk}; it is left alone.")
    note = "Deleted" + (f" by {by}" if by else "") + (f": {reason}" if reason else "") + "."
    # The row changes first: a file left behind by a failed unlink is harmless, a row claiming a
    # file that is gone is not.
    if not Backup.objects.filter(pk=backup.pk, status=BackupStatus.COMPLETED).update(
            status=BackupStatus.DELETED, deleted_at=now, note=note):
        backup.refresh_from_db()
        raise BackupError(f"Backup #{backup.pk} is {backup.get_status_display().lower()} now; nothing was deleted.")
    directory = conf.backup_dir()
    problems = []
    for name in (backup.file_name, files.manifest_name(backup.file_name)):
        try:
            (directory / name).unlink()
        except FileNotFoundError:
            if name == backup.file_name:
                problems.append("the file was already gone")
        except OSError as exc:
            problems.append(f"{name} could not be deleted ({exc.strerror})")
    if problem := offsite.offsite_delete(backup=backup, now=now):  # the remote copy goes with the file
        problems.append(problem)
    if problems:
        note += " Note: " + "; ".join(problems) + "."
        Backup.objects.filter(pk=backup.pk).update(note=note)
    if directory.is_dir():
        files.fsync_dir(directory)
    backup.refresh_from_db()
    return backup
