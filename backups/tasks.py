"""The DATABASE_BACKUP task type: one schedule run creates one DATABASE_BACKUP job."""

from django import forms

from jobs.services import JobRequest
from scheduling import registry
from scheduling.models import RunTrigger

TASK_TYPE = "DATABASE_BACKUP"
JOB_TYPE = "DATABASE_BACKUP"
MAX_RETENTION_DAYS = 3650


# A new backup schedule, when there is none: what the old fixed nightly backup did (the page's
# "Configure Schedule" and POST /api/backup_config; migration 0003 keeps its own frozen copy).
DEFAULT_NAME = "Daily database backup"
DEFAULT_TIME = "02:00"
DEFAULT_PARAMS = {"backup_type": "full", "retention_days": 30, "cleanup_old": True, "force_backup": False}


class BackupParamsForm(registry.ParamsForm):
    """The original plan's job data, with the defaults the old nightly AutoBackupService used."""

    backup_type = forms.ChoiceField(
        choices=[("full", "Full")], initial="full", label="Backup type",
        help_text="A full copy of the database (the only type so far).",
    )
    retention_days = forms.IntegerField(
        min_value=1, max_value=MAX_RETENTION_DAYS, initial=30, label="Retention (days)",
        help_text="With clean-up on, backups older than this are deleted; the newest good backup never is.",
    )
    cleanup_old = forms.BooleanField(
        required=False, initial=False, label="Delete old backups",
        help_text="After each successful backup, delete the backups older than the retention.",
    )
    force_backup = forms.BooleanField(
        required=False, initial=False, label="Back up even if a recent backup exists",
        help_text="Off: a scheduled run is skipped when a verified backup was already made since its window "
                  "(by Run now, say). Run now always backs up.",
    )


def job_requests(schedule, *, due_at, trigger, now) -> list[JobRequest]:
    params = dict(schedule.params)
    if trigger == RunTrigger.MANUAL:
        params["force_backup"] = True  # Run now means now, whatever backups exist
    else:
        # With force_backup off, the job skips when a verified backup was made since this window.
        params["window_start"] = due_at.isoformat()
    return [JobRequest(JOB_TYPE, params)]


def summarize_params(many) -> list[str]:
    return [f"keeps {params.get('retention_days', 30)} days" if params.get("cleanup_old") else "keeps all"
            for params in many]


def register() -> None:
    registry.register(
        registry.TaskType(
            name=TASK_TYPE,
            label="Database backup",
            params_form=BackupParamsForm,
            job_requests=job_requests,
            summarize_params=summarize_params,
        )
    )
