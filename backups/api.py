"""The backups API: `/api/backups...` (the backups, run now, verify, download, delete) and
`/api/backup_config` (the old auto-backup settings, kept for scripts written against them).

`/api/backups` does what the /backups page does, through the same services and with its rules and
messages; access follows Django's model permissions on backups: backups.view_backup to read,
add_backup to run a backup now, change_backup to verify one (it records the result on the backup),
delete_backup to delete its file, and download_backup to download it (not just view: a backup file
holds every user's data, password hashes and API tokens included).

`/api/backup_config`:

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
- `check_interval` -> kept for old scripts, deprecated, with no effect: the old service woke up every
                      `check_interval` seconds to see whether a backup was due; the scheduler fires
                      each window at its time instead. Accepted (checked: whole seconds, at least 1)
                      and echoed back, never stored. Kept rather than dropped: an old script that sends
                      it would get a 400 for an unknown field, and one that reads it a KeyError.

POST creates "Daily database backup" (daily, UTC) when there is no backup schedule yet. Every
write goes through scheduling.services, with the same validation and error shape as
/api/schedules.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Annotated, Literal

from django.http import FileResponse
from django.urls import reverse
from django.utils import timezone
from ninja import Field, Path, Query, Router, Schema, Status
from pydantic import ConfigDict, StrictBool, StrictInt

from backups import files, selectors
from backups.errors import BackupError, NoBackupFile
from backups.models import Backup, BackupPurpose, BackupStatus
from backups.selectors import backup_schedule
from backups.services import making, restoring
from backups.tasks import CALENDAR_DEFAULTS, DEFAULT_NAME, DEFAULT_PARAMS, DEFAULT_TIME, TASK_TYPE, summarize_params
from common.access import for_viewer
from common.actors import api_actor
from common.api import MAX_ID, ApiError, PageLinks, PageQuery, Text, error_responses, paginate, require_permission
from scheduling import services as scheduling_services
from scheduling.api import ADD, CHANGE, VIEW, RunNowIn, RunOut, run_out, save_changes
from scheduling.messages import run_now_message
from scheduling.models import ScheduledTask, ScheduleKind

DEFAULT_CHECK_INTERVAL = 3600  # seconds: the old service checked hourly
TIMED_KINDS = (ScheduleKind.DAILY, ScheduleKind.WEEKLY)
# The model names the retention as a param; this endpoint calls it what the old settings did.
RENAMED = {"params.retention_days": "retention_days"}
CALENDAR_KEYS = ("retention_mode", *CALENDAR_DEFAULTS)

CHECK_INTERVAL_IN = (
    "Deprecated, and has no effect. The old auto-backup service woke up every `check_interval` seconds to see "
    "whether a backup was due, so a backup could start up to that long after its time. The scheduler now fires "
    "each window at its time (within a second with `schedule_tick --loop`, within a minute when only the "
    "workers' safety net runs), so there is nothing to set. Still accepted (whole seconds, at least 1) so that "
    "old scripts keep working; never stored.")
CHECK_INTERVAL_OUT = (
    "Deprecated, and has no effect (see the request's `check_interval`): the value this request sent, else "
    "3600 (the old default). It is not stored, so a later GET answers 3600.")

router = Router(tags=["backups (compatibility)"])


class BackupConfigIn(Schema):
    model_config = ConfigDict(extra="forbid")

    enabled: StrictBool = None
    schedule_time: Text = Field(None, description="HH:MM, 24-hour, in the schedule's time zone.", examples=["02:00"])
    retention_days: StrictInt = None
    check_interval: StrictInt = Field(None, gt=0, description=CHECK_INTERVAL_IN, json_schema_extra={"deprecated": True})


class BackupConfigOut(Schema):
    enabled: bool
    schedule_time: str | None
    retention_days: int
    check_interval: int = Field(description=CHECK_INTERVAL_OUT, json_schema_extra={"deprecated": True})
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



# --- /api/backups: the backups, run now, verify, download, delete ----------------------------------------

VIEW_BACKUP = "backups.view_backup"
RUN_BACKUP = "backups.add_backup"  # a backup made now is a backup added
VERIFY_BACKUP = "backups.change_backup"  # as on the page: the result is recorded on the backup
DELETE_BACKUP = "backups.delete_backup"
DOWNLOAD_BACKUP = "backups.download_backup"
TAGS = ["backups"]
UTC = dt.timezone.utc

BackupId = Annotated[int, Path(ge=1, le=MAX_ID)]


class BackupOut(Schema):
    id: int
    status: str = Field(json_schema_extra={"enum": list(BackupStatus.values)},
                        description="running, completed (it has a file), failed, skipped (the note says why no "
                        "file came of it), deleted (the file is gone; the record stays).")
    purpose: str = Field(json_schema_extra={"enum": list(BackupPurpose.values)},
                         description="regular, or pre_restore: taken just before a restore.")
    good: bool = Field(description="Completed, verified, and failed no later verification: what a restore wants.")
    backup_type: str
    database_vendor: str = Field(description="sqlite or postgresql.")
    database_version: str
    tool: str = Field(description="What made the copy, e.g. “pg_dump 15.10”.")
    file_name: str
    size_bytes: int | None = Field(description="The file's size.")
    database_size_bytes: int | None
    sha256: str = Field(description="The file's SHA-256: a download can be checked against it.")
    compression: str
    duration_seconds: float | None
    started_at: dt.datetime
    finished_at: dt.datetime | None
    verified_at: dt.datetime | None = Field(description="When it last passed a verification.")
    verify_error: str = Field(description="Why its last verification failed, or empty.")
    error: str = Field(description="Why it failed, or empty.")
    note: str = Field(description="Why it was skipped or deleted, in words.")
    deleted_at: dt.datetime | None
    restored_at: dt.datetime | None
    drilled_at: dt.datetime | None = Field(description="When its last restore drill finished.")
    drill_outcome: str = Field(description="passed, failed, or empty (never drilled).")
    drill_detail: str
    offsite_state: str = Field(description="The off-site copy: copied, deleted, waiting (its job is still trying), "
                               "failed, or empty (none asked for).")
    offsite_copied_at: dt.datetime | None
    offsite_error: str
    job_id: int | None = Field(description="The job that made it (GET /api/jobs/{id}), if one did.")
    download_url: str | None = Field(description="Where to download its file (needs backups.download_backup); null "
                                     "while it has none.")


class BackupDetailOut(BackupOut):
    table_rows: dict[str, int] = Field(description="Rows per table in the copy, counted when it was made.")
    applied_migrations: list[str] = Field(description="The migrations applied in the copy (“app.name”).")


class BackupPage(PageLinks):
    items: list[BackupOut]


class BackupFilters(PageQuery):
    status: Literal[tuple(BackupStatus.values)] | None = Field(None, description="Only backups in this state.")
    purpose: Literal[tuple(BackupPurpose.values)] | None = Field(None, description="Only regular backups, or only "
                                                                  "those taken before a restore.")


class VerifyIn(Schema):
    """Verify takes no fields: send no body (`curl -X POST`), or `{}`."""

    model_config = ConfigDict(extra="forbid")


class BackupRunOut(Schema):
    message: str = Field(description="What happened, in words.")
    schedule_id: int = Field(description="The backup schedule whose manual run this is.")
    run: RunOut


class BackupActionOut(Schema):
    message: str = Field(description="What happened, in words.")
    backup: BackupOut


class BackupVerifyOut(BackupActionOut):
    verified: bool = Field(description="True: its checksum matches and the copy passes its integrity check. False: "
                           "it failed (the message and the backup's `verify_error` say why); the verification "
                           "itself ran, so the answer is still 200.")


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    return value.astimezone(UTC) if value is not None else None


def backup_out(backup: Backup) -> dict:
    return {
        "id": backup.pk, "status": backup.status, "purpose": backup.purpose,
        "good": backup.status == BackupStatus.COMPLETED and backup.verified_at is not None and not backup.verify_error,
        "backup_type": backup.backup_type, "database_vendor": backup.database_vendor,
        "database_version": backup.database_version, "tool": backup.tool, "file_name": backup.file_name,
        "size_bytes": backup.size_bytes, "database_size_bytes": backup.database_size_bytes, "sha256": backup.sha256,
        "compression": backup.compression, "duration_seconds": backup.duration_seconds,
        "started_at": _utc(backup.started_at), "finished_at": _utc(backup.finished_at),
        "verified_at": _utc(backup.verified_at), "verify_error": backup.verify_error, "error": backup.error,
        "note": backup.note, "deleted_at": _utc(backup.deleted_at), "restored_at": _utc(backup.restored_at),
        "drilled_at": _utc(backup.drilled_at), "drill_outcome": backup.drill_outcome,
        "drill_detail": backup.drill_detail, "offsite_state": backup.offsite_state,
        "offsite_copied_at": _utc(backup.offsite_copied_at), "offsite_error": backup.offsite_error,
        "job_id": backup.job_id,
        "download_url": reverse("api:backup_download", args=[backup.pk]) if backup.has_file else None,
    }


def backup_detail_out(backup: Backup) -> dict:
    tables = backup.table_rows if isinstance(backup.table_rows, dict) else {}
    migrations = backup.applied_migrations if isinstance(backup.applied_migrations, list) else []
    return {**backup_out(backup),
            "table_rows": {str(table): rows for table, rows in tables.items() if isinstance(rows, int)},
            "applied_migrations": [str(name) for name in migrations]}


def get_backup(backup_id: int) -> Backup:
    try:
        return Backup.objects.select_related("offsite_job").get(pk=backup_id)
    except Backup.DoesNotExist:
        raise ApiError(404, {"id": [f"No backup with id {backup_id}."]}) from None


def _conflict(message: str) -> ApiError:
    return ApiError(409, {"__all__": [message]})


# "/backups" before "/backups/{backup_id}", as Django tries the paths in order.

@router.get("/backups", response={200: BackupPage, **error_responses()}, tags=TAGS)
def backup_list(request, filters: Query[BackupFilters]):
    """Backups by id, oldest first, a page at a time (keyset: no count, no offset; follow `next`). Every backup
    ever tried is listed, the skipped and deleted ones too: their record says why there is no file."""
    require_permission(request, VIEW_BACKUP)
    backups = selectors.backup_api_list(status=filters.status, purpose=filters.purpose)
    page = paginate(request, backups, filters)
    return for_viewer({**page, "items": [backup_out(backup) for backup in page["items"]]}, request.auth)


@router.post("/backups", response={202: BackupRunOut, **error_responses(409, 415)}, tags=TAGS)
def backup_run_now(request, payload: RunNowIn | None = None):
    """Back up now: what Run now on /backups does, a manual run of the backup schedule (it always backs up,
    whatever the schedule's `force_backup`). Answers 202 with the run and its job (follow it at
    /api/jobs/{id}; the backup appears in the list when the job starts).

    409 when there is no backup schedule, while a backup is being made (backups never overlap), and while
    a run of the schedule is still active, unless `{"force": true}`."""
    require_permission(request, RUN_BACKUP)
    schedule = backup_schedule()
    if schedule is None:
        raise _conflict("There is no backup schedule to run. Create one with POST /api/backup_config, or with "
                        "Configure Schedule on /backups.")
    if running := selectors.running_backup():
        # Forcing would not help: the job would find this one running and record itself as skipped.
        started = running.started_at.astimezone(UTC)
        raise _conflict(f"Backup #{running.pk} is being made (started {started:%Y-%m-%d %H:%M:%S} UTC); backups "
                        "never overlap. Wait for it to finish.")
    force = payload.force if payload is not None else False
    try:
        run = scheduling_services.schedule_run_now(schedule=schedule, now=timezone.now(), force=force,
                                                   actor=api_actor(request))
    except scheduling_services.RunActiveError as exc:
        raise _conflict(f"{exc} A second backup would be skipped anyway: backups never overlap. "
                        'Send {"force": true} to run anyway.') from exc
    return Status(202, {"message": run_now_message(run), "schedule_id": schedule.pk, "run": run_out(run)})


@router.get("/backups/{backup_id}", response={200: BackupDetailOut, **error_responses(404)}, tags=TAGS)
def backup_detail(request, backup_id: BackupId):
    """One backup, with the tables and migrations of its copy."""
    require_permission(request, VIEW_BACKUP)
    return for_viewer(backup_detail_out(get_backup(backup_id)), request.auth)


@router.post("/backups/{backup_id}/verify", response={200: BackupVerifyOut, **error_responses(404, 409, 415)},
             tags=TAGS)
def backup_verify(request, backup_id: BackupId, payload: VerifyIn | None = None):
    """Check the file again, here and now (its checksum, then the copy's integrity) and record the result, as
    Verify now on /backups does; it takes seconds for a large database. A backup without a file (not
    completed) is a 409."""
    require_permission(request, VERIFY_BACKUP)
    backup = get_backup(backup_id)
    started = time.monotonic()
    try:
        backup = restoring.backup_verify(backup=backup, now=timezone.now())
    except NoBackupFile as exc:
        raise _conflict(for_viewer(str(exc), request.auth)) from exc
    except BackupError as exc:
        return for_viewer({"verified": False, "message": f"Backup #{backup.pk} failed its verification: {exc}",
                           "backup": backup_out(get_backup(backup.pk))}, request.auth)
    return {"verified": True, "backup": for_viewer(backup_out(backup), request.auth),
            "message": f"Backup #{backup.pk} verified: its checksum matches and the copy passes its integrity check "
                       f"({time.monotonic() - started:.1f} s)."}


@router.get("/backups/{backup_id}/download", response=error_responses(404, 409, 410), tags=TAGS,
            url_name="backup_download", openapi_extra={"responses": {200: {
                "description": "The backup file, streamed, under its own name (check it against the backup's "
                               "`sha256`).",
                "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}}})
def backup_download(request, backup_id: BackupId):
    """The backup's file, streamed (never read into memory). Needs backups.download_backup, not just view.

    409 while the backup has no file yet or never had one (running, failed, skipped), or when what carries
    its name in BACKUP_DIR is no regular file (a symbolic link is never followed); 410 once the file is
    gone (deleted, or missing from BACKUP_DIR); 404 for a record naming a file the app would not make."""
    require_permission(request, DOWNLOAD_BACKUP)
    backup = get_backup(backup_id)
    try:
        path = selectors.backup_file_path(backup=backup)
    except NoBackupFile as exc:
        gone = backup.status == BackupStatus.DELETED
        message = backup.no_file_reason(to="download") + (f" {backup.note}" if gone and backup.note else "")
        raise ApiError(410 if gone else 409, {"__all__": [message]}) from exc
    except files.UnsafeBackupFile as exc:
        # Something else carries its name in BACKUP_DIR (a symbolic link...): a conflict to resolve by hand.
        raise ApiError(409, {"__all__": [str(exc)]}) from exc
    except BackupError as exc:
        # Its file is gone from BACKUP_DIR (410), or the name recorded is not one the app gives: never served.
        raise ApiError(410 if files.is_ours(backup.file_name, backup.pk) else 404, {"__all__": [str(exc)]}) from exc
    try:
        opened = files.open_regular(path)  # never through a link swapped in since the check
    except (BackupError, OSError) as exc:
        raise ApiError(409, {"__all__": [f"{path.name} is not opened: {getattr(exc, 'strerror', None) or exc}"]}) \
            from exc
    return FileResponse(opened, as_attachment=True, filename=path.name, content_type="application/octet-stream")


@router.delete("/backups/{backup_id}", response={200: BackupActionOut, **error_responses(404, 409)}, tags=TAGS)
def backup_delete(request, backup_id: BackupId):
    """Delete a completed backup's file, its manifest and its off-site copy, as Delete on /backups does. Its
    record stays (status `deleted`, its note saying when, why and by whom), so the answer is 200 with it.
    The newest good backup can be deleted too, as on the page (whose confirmation warns first: check
    `good` and the list). A backup without a file is a 409."""
    require_permission(request, DELETE_BACKUP)
    backup = get_backup(backup_id)
    try:
        backup = making.backup_delete(backup=backup, now=timezone.now(), by=request.auth.get_username(),
                                      reason="through the API")
    except BackupError as exc:
        raise _conflict(f"Not deleted: {exc}") from exc
    return {"message": f"Backup #{backup.pk} deleted ({backup.file_name}). Its record stays in the list.",
            "backup": backup_out(get_backup(backup.pk))}
