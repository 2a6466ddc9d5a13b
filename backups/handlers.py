"""The DATABASE_BACKUP job handler: validate the job's params, then call the service."""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from backups import offsite, tasks
from backups.errors import BackupConfigError
from backups.models import Backup
from backups.services.making import BackupParams, backup_job_run
from jobs.models import Job
from jobs.registry import JobHandler, PermanentJobError, Subject
from scheduling import recurrence, registry

# Set by the task type on scheduled runs (see backups.tasks.job_requests), not a schedule param.
WINDOW_START = "window_start"
# Set by the task type for a calendar retention: the schedule's time zone, whose days it counts.
TIMEZONE = "timezone"


def parse_params(params) -> BackupParams:
    """The job's params, validated like a schedule's (the same form); PermanentJobError if bad.

    Jobs can be created by hand or by an older version, so the handler checks again.
    """
    if not isinstance(params, dict):
        raise PermanentJobError("Invalid parameters: they must be a JSON object.")
    params = dict(params)
    window_start = params.pop(WINDOW_START, None)
    if window_start is not None:
        try:
            window_start = datetime.fromisoformat(window_start)
        except (TypeError, ValueError):
            raise PermanentJobError(f"Invalid parameters: {WINDOW_START}: {window_start!r} is not an ISO-8601 "
                                    "instant.") from None
        if timezone.is_naive(window_start):
            raise PermanentJobError(f"Invalid parameters: {WINDOW_START}: {window_start.isoformat()} has no time "
                                    "zone offset.")
    zone = params.pop(TIMEZONE, "UTC")
    if not isinstance(zone, str) or zone not in recurrence.known_zones():
        raise PermanentJobError(f"Invalid parameters: {TIMEZONE}: {zone!r} is not a known IANA time zone.")
    try:
        cleaned = registry.get(tasks.TASK_TYPE).clean_params(params)
    except ValidationError as exc:
        raise PermanentJobError("Invalid parameters: " + " ".join(exc.messages)) from None
    return BackupParams(**cleaned, timezone=zone, window_start=window_start)


def run(job: Job) -> dict:
    params = parse_params(job.params)
    try:
        return backup_job_run(job=job, params=params, now=timezone.now())
    except BackupConfigError as exc:
        # The folder, the disk or the PostgreSQL tools need a person; retrying changes nothing.
        raise PermanentJobError(str(exc)) from exc


HANDLER = JobHandler(
    job_type=tasks.JOB_TYPE,
    label="Database backup",
    run=run,
    # django-q2's own timeout (Q_TIMEOUT, an hour by default) is the outer bound.
    time_limit_seconds=3600,
    max_retries=2,
)


def run_offsite_copy(job: Job) -> dict:
    """BACKUP_OFFSITE_COPY: copy one backup to BACKUP_REMOTE and check it (backups.offsite)."""
    params = job.params if isinstance(job.params, dict) else {}
    backup_id = params.get("backup_id")
    if not isinstance(backup_id, int) or isinstance(backup_id, bool):
        raise PermanentJobError(f"Invalid parameters: backup_id: {backup_id!r} is not a backup's id.")
    backup = Backup.objects.filter(pk=backup_id).first()
    if backup is None:
        raise PermanentJobError(f"There is no backup #{backup_id} to copy off-site.")
    try:
        return offsite.backup_offsite_copy(backup=backup, now=timezone.now())
    except offsite.OffsiteConfigError as exc:
        # No remote, or no rclone: a person must act; retrying changes nothing.
        raise PermanentJobError(str(exc)) from exc


OFFSITE_HANDLER = JobHandler(
    job_type=offsite.JOB_TYPE,
    label="Off-site copy of a backup",
    run=run_offsite_copy,
    time_limit_seconds=3600,
    # 30 s, 1, 2, 4, 8, 16 min, 32 min and 1 h apart (jobs' backoff): a remote down for about two hours.
    max_retries=8,
)


def backup_link(value) -> Subject | None:
    """A job result's `backup_id` (a backup's, its off-site copy's, its drill's) as a link to the
    backup's row on /backups; a backup deleted since is named without one."""
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    if not Backup.objects.filter(pk=value).exists():
        return Subject("Backup", f"#{value} (deleted)")
    return Subject("Backup", f"#{value}", f"{reverse('backups')}#backup-{value}")
