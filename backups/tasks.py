"""The DATABASE_BACKUP task type: one schedule run creates one DATABASE_BACKUP job."""

from django import forms

from backups import retention
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
# Calendar retention (see backups.retention), chosen with `retention_mode: "calendar"`: its counts' defaults
# and bounds. The params hold the chosen rule's own keys only: `retention_days` in days mode (the default,
# so a days schedule's params are what they always were), `retention_mode` and these four in calendar mode.
CALENDAR_DEFAULTS = {"keep_last": 3, "keep_daily": 7, "keep_weekly": 4, "keep_monthly": 6}
CALENDAR_MAX = {"keep_last": 1000, "keep_daily": 3650, "keep_weekly": 520, "keep_monthly": 120}
# The params that make up the retention rule: changing them may delete backups (backups.retention_changes).
RETENTION_KEYS = ("cleanup_old", "retention_mode", "retention_days", *CALENDAR_DEFAULTS)


class BackupParamsForm(registry.ParamsForm):
    """The original plan's job data; its initials are DEFAULT_PARAMS."""

    backup_type = forms.ChoiceField(
        choices=[("full", "Full")], initial=DEFAULT_PARAMS["backup_type"], label="Backup type",
        help_text="A full copy of the database (the only type so far).",
    )
    retention_mode = forms.ChoiceField(
        choices=[(retention.DAYS, "By age: delete backups older than a number of days"),
                 (retention.CALENDAR, "By calendar: keep the last few, and the newest of each day, week and month")],
        initial=retention.DAYS, required=False, label="Retention", widget=forms.RadioSelect,
        help_text="Whichever you choose, the newest good backup is never deleted, nor a file this app did not make.",
    )
    retention_days = forms.IntegerField(
        min_value=1, max_value=MAX_RETENTION_DAYS, initial=DEFAULT_PARAMS["retention_days"], label="Retention (days)",
        help_text="By age: with clean-up on, backups older than this are deleted; the newest good backup never is.",
    )
    keep_last = forms.IntegerField(
        min_value=0, max_value=CALENDAR_MAX["keep_last"], initial=CALENDAR_DEFAULTS["keep_last"], required=False,
        label="Keep the last", help_text="By calendar: this many newest backups.",
    )
    keep_daily = forms.IntegerField(
        min_value=0, max_value=CALENDAR_MAX["keep_daily"], initial=CALENDAR_DEFAULTS["keep_daily"], required=False,
        label="Daily", help_text="By calendar: the newest backup of each of this many days that have one, in the "
                                 "schedule's time zone.",
    )
    keep_weekly = forms.IntegerField(
        min_value=0, max_value=CALENDAR_MAX["keep_weekly"], initial=CALENDAR_DEFAULTS["keep_weekly"], required=False,
        label="Weekly", help_text="By calendar: the newest of each of this many weeks (Monday to Sunday).",
    )
    keep_monthly = forms.IntegerField(
        min_value=0, max_value=CALENDAR_MAX["keep_monthly"], initial=CALENDAR_DEFAULTS["keep_monthly"], required=False,
        label="Monthly", help_text="By calendar: the newest of each of this many months.",
    )
    cleanup_old = forms.BooleanField(
        required=False, initial=DEFAULT_PARAMS["cleanup_old"], label="Delete old backups",
        help_text="After each successful backup, delete the backups the retention does not keep.",
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

    def clean_retention_mode(self) -> str:
        return self.cleaned_data["retention_mode"] or retention.DAYS  # a form post without the radio: by age

    def clean(self):
        cleaned = super().clean()
        for key in CALENDAR_DEFAULTS:  # an emptied box keeps none of that kind (JSON leaves a key out for its default)
            if key in cleaned and cleaned[key] is None:
                cleaned[key] = 0
        counts = [cleaned.get(key) for key in CALENDAR_DEFAULTS]
        if cleaned.get("retention_mode") == retention.CALENDAR and None not in counts and not any(counts):
            self.add_error("keep_last", "A calendar retention must keep something: set at least one of Keep the "
                                        "last, Daily, Weekly or Monthly above 0.")
        return cleaned

    def to_params(self) -> dict:
        """The chosen rule's own keys only (see CALENDAR_DEFAULTS)."""
        params = super().to_params()
        if params["retention_mode"] == retention.DAYS:
            for key in ("retention_mode", *CALENDAR_DEFAULTS):
                params.pop(key)
        else:
            params.pop("retention_days")
        return params


def completed_params(params: dict) -> dict:
    """Stored params with every missing key read as its default (days mode unless it says calendar)."""
    return {**DEFAULT_PARAMS, "retention_mode": retention.DAYS, **CALENDAR_DEFAULTS, **params}


# The editor shows the inputs of the rule chosen only (scheduling.registry.ParamsForm's shown_when).
BackupParamsForm.base_fields["retention_days"].shown_when = ("retention_mode", retention.DAYS)
for _key in CALENDAR_DEFAULTS:
    BackupParamsForm.base_fields[_key].shown_when = ("retention_mode", retention.CALENDAR)


def retention_rule(params: dict, *, zone: str = "UTC") -> retention.Rule:
    """The retention rule of a schedule's params (missing keys read as the defaults), in its time zone.
    Raises ValueError for params no form would have let through."""
    params = completed_params(params)
    if params["retention_mode"] == retention.CALENDAR:
        return retention.calendar_rule(last=params["keep_last"], daily=params["keep_daily"],
                                       weekly=params["keep_weekly"], monthly=params["keep_monthly"], zone=zone)
    return retention.days_rule(params["retention_days"])


def cleans_up(params: dict) -> bool:
    return bool(completed_params(params)["cleanup_old"])


def retention_sentence(params: dict, *, zone: str = "UTC") -> str:
    """What a schedule keeps, in a sentence (the /backups page's "Keeps")."""
    if not cleans_up(params):
        return "Every backup: clean-up is off, so old backups stay until deleted by hand."
    try:
        rule = retention_rule(params, zone=zone)
    except (TypeError, ValueError, KeyError):
        return "The retention params do not make a rule; edit the schedule."
    after = "after each successful backup, never the newest good one."
    if rule.mode == retention.DAYS:
        return f"Backups of the last {rule.days} day{'' if rule.days == 1 else 's'}: older ones are deleted {after}"
    periods = [f"{count} {unit}{'' if count == 1 else 's'}" for count, unit in
               zip(rule.counts()[1:], ("day", "week", "month")) if count]
    kept = [("the last backup" if rule.last == 1 else f"the last {rule.last} backups")] if rule.last else []
    if periods:
        listed = periods[0] if len(periods) == 1 else ", ".join(periods[:-1]) + " and " + periods[-1]
        kept.append(f"the newest of each of the last {listed} that have one ({zone})")
    sentence = " and ".join(kept)
    return f"{sentence[:1].upper()}{sentence[1:]}: the others are deleted {after}"


def job_requests(run, *, now) -> list[JobRequest]:
    params = dict(run.schedule.params)
    if params.get("retention_mode") == retention.CALENDAR:
        # Days, weeks and months are the schedule's (see backups.retention).
        params["timezone"] = run.schedule.timezone
    if run.trigger == RunTrigger.MANUAL:
        params["force_backup"] = True  # Run now means now, whatever backups exist
    else:
        # With force_backup off, the job skips when a verified backup was made since this window.
        params["window_start"] = run.due_at.isoformat()
    return [JobRequest(JOB_TYPE, params)]


def summarize_params(many) -> list[str]:
    """"keeps 30 days", "keeps last 3, 7 daily, 4 weekly, 6 monthly", or "keeps all" (clean-up off)."""
    return [_summary(params) for params in many]


def _summary(params: dict) -> str:
    if not cleans_up(params):
        return "keeps all"
    try:
        return retention_rule(params).describe()
    except (TypeError, ValueError, KeyError):  # a row no form let through (edited in the database)
        return ""


def register() -> None:
    from backups import retention_changes  # it reads the backups (selectors), which read this module

    registry.register(
        registry.TaskType(
            name=TASK_TYPE,
            label="Database backup",
            params_form=BackupParamsForm,
            job_requests=job_requests,
            summarize_params=summarize_params,
            check_change=retention_changes.check_change,
            preview_change=retention_changes.preview_change,
        )
    )
