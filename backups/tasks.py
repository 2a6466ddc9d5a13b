"""The DATABASE_BACKUP task type: one schedule run creates one DATABASE_BACKUP job."""

from django import forms
from django.utils.translation import ngettext

from jobs.services import JobRequest
from scheduling import registry
from scheduling.models import RunTrigger

TASK_TYPE = "DATABASE_BACKUP"
JOB_TYPE = "DATABASE_BACKUP"
MAX_RETENTION_DAYS = 3650


# A new backup schedule: what the old fixed nightly backup did (daily at 02:00 UTC, 30 days kept, clean-up
# on). The one list of these defaults: the params form's initials (so the editor, the API, the admin and
# the job handler fill in a missing param with them), the summary, the page's "Configure Schedule" and
# POST /api/backup_config read it. Migration 0003 keeps its own frozen copy (a migration must not change
# with the code); tests/backups/test_defaults.py checks that the two agree.
DEFAULT_NAME = "Daily database backup"
DEFAULT_TIME = "02:00"
DEFAULT_PARAMS = {"backup_type": "full", "retention_days": 30, "cleanup_old": True, "force_backup": False,
                  "copy_offsite": True}


class BackupParamsForm(registry.ParamsForm):
    """The original plan's job data; its initials are DEFAULT_PARAMS."""

    backup_type = forms.ChoiceField(
        choices=[("full", "Full")], initial=DEFAULT_PARAMS["backup_type"], label="Backup type",
        help_text="A full copy of the database (the only type so far).",
    )
    retention_days = forms.IntegerField(
        min_value=1, max_value=MAX_RETENTION_DAYS, initial=DEFAULT_PARAMS["retention_days"], label="Retention (days)",
        help_text="With clean-up on, backups older than this are deleted; the newest good backup never is.",
    )
    cleanup_old = forms.BooleanField(
        required=False, initial=DEFAULT_PARAMS["cleanup_old"], label="Delete old backups",
        help_text="After each successful backup, delete the backups older than the retention.",
    )
    force_backup = forms.BooleanField(
        required=False, initial=DEFAULT_PARAMS["force_backup"], label="Back up even if a recent backup exists",
        help_text="Off: a scheduled run is skipped when a verified backup was already made since its window "
                  "(by Run now, say). Run now always backs up.",
    )
    copy_offsite = forms.BooleanField(
        required=False, initial=DEFAULT_PARAMS["copy_offsite"], label="Copy off-site",
        help_text="After each backup, copy it to BACKUP_REMOTE with rclone and check the copy (only when "
                  "BACKUP_REMOTE is set). A failed copy is retried and never fails the backup.",
    )


def job_requests(run, *, now) -> list[JobRequest]:
    params = dict(run.schedule.params)
    if run.trigger == RunTrigger.MANUAL:
        params["force_backup"] = True  # Run now means now, whatever backups exist
    else:
        # With force_backup off, the job skips when a verified backup was made since this window.
        params["window_start"] = run.due_at.isoformat()
    return [JobRequest(JOB_TYPE, params)]


def summarize_params(many) -> list[str]:
    completed = [{**DEFAULT_PARAMS, **params} for params in many]
    return [ngettext("keeps %(days)d day", "keeps %(days)d days", params["retention_days"]) % {
        "days": params["retention_days"]} if params["cleanup_old"] else "keeps all" for params in completed]


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
