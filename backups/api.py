"""`/api/backup_config`: the old auto-backup settings, kept for scripts written against them.

The old AutoBackupService (daily at HH:MM, a retention, an hourly check) is gone; its settings
now map onto the backup schedule the /backups page shows (`backups.selectors.backup_schedule`):

- `enabled`        -> the schedule's enabled switch
- `schedule_time`  -> its time: a daily or weekly schedule keeps its kind, days and time zone;
                      an interval or cron schedule becomes daily at that time
- `retention_days` -> its `params.retention_days` (applied when the schedule's clean-up is on); setting
                      it makes the retention "by age" again if it was "by calendar". `retention` says
                      the rule in force in words ("keeps 30 days", "keeps last 3, 7 daily", "keeps all").
                      A retention that would delete backups the current one keeps, or a new schedule
                      (clean-up on), needs backups.delete_backup: a 403 naming it otherwise.
- `check_interval` -> accepted, checked and echoed back; no longer needed: the scheduler fires each
                      window on time instead of polling.

POST creates "Daily database backup" (daily, UTC) when there is no backup schedule yet. Every
write goes through scheduling.services, with the same validation and error shape as
/api/schedules.
"""

from __future__ import annotations

from django.utils import timezone
from ninja import Field, Router, Schema
from pydantic import ConfigDict, StrictBool, StrictInt

from backups.selectors import backup_schedule
from backups.tasks import CALENDAR_DEFAULTS, DEFAULT_NAME, DEFAULT_PARAMS, DEFAULT_TIME, TASK_TYPE, summarize_params
from common.api import ApiError, Text, error_responses, require_permission
from scheduling.api import ADD, CHANGE, VIEW, save_changes
from scheduling.models import ScheduledTask, ScheduleKind

DEFAULT_CHECK_INTERVAL = 3600  # seconds: the old service checked hourly
TIMED_KINDS = (ScheduleKind.DAILY, ScheduleKind.WEEKLY)
# The model names the retention as a param; this endpoint calls it what the old settings did.
RENAMED = {"params.retention_days": "retention_days"}
CALENDAR_KEYS = ("retention_mode", *CALENDAR_DEFAULTS)

router = Router(tags=["backups (compatibility)"])


class BackupConfigIn(Schema):
    model_config = ConfigDict(extra="forbid")

    enabled: StrictBool = None
    schedule_time: Text = Field(None, description="HH:MM, 24-hour, in the schedule's time zone.", examples=["02:00"])
    retention_days: StrictInt = None
    check_interval: StrictInt = Field(None, gt=0, description="No longer needed: accepted and echoed back.")


class BackupConfigOut(Schema):
    enabled: bool
    schedule_time: str | None
    retention_days: int
    check_interval: int = Field(description="No longer needed: the scheduler fires each window on time.")
    schedule_id: int | None = Field(description="The backup schedule these settings live in (null: none yet).")
    retention: str = Field(description="The retention in force, in words: “keeps 30 days”, “keeps last 3, 7 daily, "
                           "4 weekly, 6 monthly” (by calendar), or “keeps all” (clean-up off).")
    timezone: str
    description: str


def _config(schedule: ScheduledTask | None, check_interval: int | None) -> dict:
    if schedule is None:
        return {"enabled": False, "schedule_time": DEFAULT_TIME,
                "retention_days": DEFAULT_PARAMS["retention_days"],
                "check_interval": check_interval or DEFAULT_CHECK_INTERVAL, "schedule_id": None,
                "retention": summarize_params([DEFAULT_PARAMS])[0],
                "timezone": "UTC", "description": "No backup schedule yet."}
    return {"enabled": schedule.enabled, "schedule_time": schedule.schedule_time or None,
            "retention_days": schedule.params.get("retention_days", DEFAULT_PARAMS["retention_days"]),
            "check_interval": check_interval or DEFAULT_CHECK_INTERVAL, "schedule_id": schedule.pk,
            "retention": summarize_params([schedule.params])[0],
            "timezone": schedule.timezone, "description": schedule.describe()}


@router.get("/backup_config", response={200: BackupConfigOut, **error_responses()})
def backup_config(request):
    """The default backup schedule's settings, in the old auto-backup shape."""
    require_permission(request, VIEW)
    return _config(backup_schedule(), None)


@router.post("/backup_config", response={200: BackupConfigOut, **error_responses(415)})
def backup_config_update(request, payload: BackupConfigIn):
    """Change the default backup schedule (created if there is none) from the old settings."""
    given = payload.model_dump(exclude_unset=True)
    check_interval = given.pop("check_interval", None)
    schedule = backup_schedule()
    now = timezone.now()
    data: dict = {}
    if "enabled" in given:
        data["enabled"] = given["enabled"]
    if "schedule_time" in given:
        data["schedule_time"] = given["schedule_time"]
        if schedule is not None and schedule.schedule_kind not in TIMED_KINDS:
            data["schedule_kind"] = ScheduleKind.DAILY
    if schedule is None:
        require_permission(request, ADD)
        schedule = ScheduledTask(name=DEFAULT_NAME, task_type=TASK_TYPE, schedule_kind=ScheduleKind.DAILY,
                                 schedule_time=DEFAULT_TIME, timezone="UTC", params=dict(DEFAULT_PARAMS))
    else:
        require_permission(request, CHANGE)
    if "retention_days" in given:  # by age, then (a calendar rule's own keys go)
        data["params"] = {**{key: value for key, value in schedule.params.items() if key not in CALENDAR_KEYS},
                          "retention_days": given["retention_days"]}
    if data or schedule.pk is None:
        try:
            schedule = save_changes(schedule=schedule, data=data, request=request, now=now)
        except ApiError as exc:
            raise ApiError(exc.status, {RENAMED.get(field, field): messages
                                        for field, messages in exc.errors.items()}) from exc
    return _config(schedule, check_interval)

