"""The BACKUP_RESTORE_DRILL task type: one run, one job, which restores the newest good backup into a
scratch database and checks it against its manifest (backups.services.drilling).

It takes no params: a drill always tests the newest good backup (and the newest off-site copy, once
off-site copies exist), because that is the one a restore would take. The default schedule, weekly on
Sunday at 03:00 UTC, is made by the migration backups 0005 (its own frozen copy of the values below).
Registered in BackupsConfig.ready(): scheduling and jobs know nothing of it.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils import timezone

from backups.errors import BackupConfigError, NothingToDrill
from backups.services.drilling import backup_drill_run
from jobs import registry as job_registry
from jobs.models import Job
from jobs.registry import JobHandler, PermanentJobError
from jobs.services import JobRequest
from scheduling import registry

TASK_TYPE = "BACKUP_RESTORE_DRILL"
JOB_TYPE = "BACKUP_RESTORE_DRILL"
DEFAULT_NAME = "Weekly restore drill"
DEFAULT_DAYS = ["sun"]
DEFAULT_TIME = "03:00"


class DrillParamsForm(registry.ParamsForm):
    """No params: each run drills the newest good backup (and the newest off-site copy when there is one)."""


def job_requests(run, *, now) -> list[JobRequest]:
    return [JobRequest(JOB_TYPE, {})]


def summarize_params(many) -> list[str]:
    return ["the newest good backup" for _ in many]


def run(job: Job) -> dict:
    try:
        registry.get(TASK_TYPE).clean_params(job.params)
    except ValidationError as exc:
        raise PermanentJobError("Invalid parameters: " + " ".join(exc.messages)) from None
    try:
        drill = backup_drill_run(job=job, now=timezone.now())
    except (NothingToDrill, BackupConfigError) as exc:
        # No backup to test, or a setup a person must change (the role may not create databases).
        raise PermanentJobError(str(exc)) from exc
    if not drill.passed:
        # Recorded on the backup already; the file will not change, so no retry.
        raise PermanentJobError(drill.failure_message())
    return drill.as_result()


HANDLER = JobHandler(
    job_type=JOB_TYPE,
    label="Restore drill",
    run=run,
    # Below django-q2's timeout; backups.services.drilling.LEASE outlasts it.
    time_limit_seconds=3600,
    max_retries=2,
)


def register() -> None:
    registry.register(registry.TaskType(name=TASK_TYPE, label="Restore drill", params_form=DrillParamsForm,
                                        job_requests=job_requests, summarize_params=summarize_params))
    job_registry.register(HANDLER)
