"""The DATABASE_BACKUP task type: one schedule run creates one DATABASE_BACKUP job."""

from django.core.exceptions import ValidationError

from jobs.services import JobRequest
from scheduling import registry

TASK_TYPE = "DATABASE_BACKUP"
JOB_TYPE = "DATABASE_BACKUP"
BACKUP_TYPES = ("full",)
# The original plan's defaults (the job the old AutoBackupService created every night).
DEFAULT_PARAMS = {"backup_type": "full", "retention_days": 30, "cleanup_old": False, "force_backup": False}
MAX_RETENTION_DAYS = 3650


def clean_params(params: dict) -> dict:
    registry.reject_unknown_params(params, set(DEFAULT_PARAMS))
    cleaned = {**DEFAULT_PARAMS, **params}
    errors = []
    if cleaned["backup_type"] not in BACKUP_TYPES:
        errors.append(f"backup_type: must be one of {', '.join(BACKUP_TYPES)}.")
    retention = cleaned["retention_days"]
    if isinstance(retention, bool) or not isinstance(retention, int) or not 1 <= retention <= MAX_RETENTION_DAYS:
        errors.append(f"retention_days: must be a whole number of days from 1 to {MAX_RETENTION_DAYS}.")
    for flag in ("cleanup_old", "force_backup"):
        if not isinstance(cleaned[flag], bool):
            errors.append(f"{flag}: must be true or false.")
    if errors:
        raise ValidationError(errors)
    return cleaned


def job_requests(schedule) -> list[JobRequest]:
    return [JobRequest(JOB_TYPE, {**schedule.params, "source": f"schedule:{schedule.pk}"})]


def register() -> None:
    registry.register(
        registry.TaskType(
            name=TASK_TYPE,
            label="Database backup",
            clean_params=clean_params,
            job_requests=job_requests,
            default_params=DEFAULT_PARAMS,
        )
    )
