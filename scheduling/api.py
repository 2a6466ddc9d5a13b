"""The JSON API for schedules, `/api/schedules...` (the NinjaAPI itself lives in core.api).

Views parse input, check the user's model permission and call scheduling.services, so the
model's clean() and the task type's params form validate the API like every other entrance.
The schemas check JSON types only (a string is a string); every rule about values is the
model's, with the same message everywhere.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.utils import timezone
from ninja import Field, Path, Query, Router, Schema, Status
from pydantic import ConfigDict, StrictBool, StrictInt

from common.actors import Via, api_actor
from common.api import (
    MAX_ID,
    ApiError,
    Instant,
    JsonObject,
    PageLinks,
    PageQuery,
    Text,
    error_responses,
    errors_of,
    merge_patch,
    paginate,
    refuse_unknown_query,
    require_permission,
)
from common.forms import errors_by_field
from scheduling import portable, registry, selectors, services
from scheduling.messages import paused_until, run_now_message
from scheduling.models import OverlapPolicy, ScheduledTask, ScheduleKind, ScheduleRun
from scheduling.recurrence import WEEKDAYS

UTC = dt.timezone.utc
PREVIEW_MAX_RUNS = 50

router = Router(tags=["schedules"])

VIEW = "scheduling.view_scheduledtask"
ADD = "scheduling.add_scheduledtask"
CHANGE = "scheduling.change_scheduledtask"
DELETE = "scheduling.delete_scheduledtask"


# --- schemas ------------------------------------------------------------------------------------

def _enum(values) -> dict:
    # Documented, not enforced here: the model checks them, with the message every entrance gives.
    return {"enum": list(values)}


class ScheduleFields(Schema):
    """A schedule's editable fields, each optional: PATCH changes only the fields it sends.

    PATCH merges `params` into the stored ones (JSON Merge Patch, RFC 7396): a param sent changes,
    a param sent as `null` goes back to the task type's default, a param not sent stays; an object
    merges key by key. A new `task_type` starts from empty params (the old type's mean nothing to it).
    Create and preview take `params` as they are sent. `null` clears `schedule_time`,
    `schedule_days`, `interval_minutes`, `cron_expr` and `anchor_at` (and `notify_channels`: back to
    all channels); the fields another kind uses are cleared on save anyway.
    """

    model_config = ConfigDict(extra="forbid")

    name: Text = Field(None, max_length=200, examples=["Nightly backup"])
    key: Text = Field(None, description="A short unique name for files and scripts (lower-case letters, digits, "
                      "hyphens, underscores). Empty or left out when creating: made from the name. It stays when "
                      "the name changes.", examples=["nightly-backup"])
    task_type: Text = Field(None, description="A registered task type.", examples=["DATABASE_BACKUP"],
                            json_schema_extra=_enum(registry.names()))
    enabled: StrictBool = None
    schedule_kind: Text = Field(None, json_schema_extra=_enum(ScheduleKind.values))
    schedule_time: Text | None = Field(None, description="HH:MM, 24-hour, in the schedule's time zone (daily, "
                                       "weekly).", examples=["05:30"])
    schedule_days: list[Annotated[Text, Field(json_schema_extra=_enum(WEEKDAYS))]] | None = Field(
        None, description="Weekdays (weekly).", examples=[["mon", "wed", "fri"]])
    interval_minutes: StrictInt | None = Field(None, description="Every N minutes, N >= 5 (interval).")
    cron_expr: Text | None = Field(None, description="Five fields: minute hour day-of-month month day-of-week "
                                   "(cron).", examples=["30 5 * * mon-fri"])
    timezone: Text = Field(None, description="IANA time zone.", examples=["Europe/Berlin"])
    params: JsonObject = Field(None, description="The task type's parameters; a param left out gets the task type's "
                               "default. PATCH merges them into the stored ones (JSON Merge Patch, RFC 7396): a "
                               "param sent changes, one sent as null goes back to its default, the others stay.",
                               examples=[{"retention_days": 14, "cleanup_old": True}])
    grace_minutes: StrictInt = Field(None, description="A window later than this is recorded as missed (>= 5).")
    overlap_policy: Text = Field(None, json_schema_extra=_enum(OverlapPolicy.values))
    anchor_at: Instant | None = Field(None, description="Interval schedules count from here (default: when "
                                            "saved, on the whole minute).")
    notify_channels: list[StrictInt] | None = Field(None, description="Ids of the notification channels this "
                                                    "schedule's alerts go to; empty or null: all channels.",
                                                    examples=[[1, 3]])


class ScheduleCreate(ScheduleFields):
    """A new schedule: `name` and `task_type` are required; the other fields have the model's defaults."""

    name: Text = Field(max_length=200, examples=["Nightly backup"])
    task_type: Text = Field(description="A registered task type.", examples=["DATABASE_BACKUP"],
                            json_schema_extra=_enum(registry.names()))


class ScheduleOut(Schema):
    id: int
    name: str
    key: str = Field(description="The schedule's unique key: what export and import name it by.")
    task_type: str
    task_type_label: str
    enabled: bool
    schedule_kind: str
    schedule_time: str | None
    schedule_days: list[str]
    interval_minutes: int | None
    cron_expr: str | None
    timezone: str
    description: str = Field(description="The schedule in words, e.g. “Every day at 02:00 (UTC)”, and its pause "
                             "if it is paused: “… (UTC). Paused until Mon 4 May, 08:00 CEST — server maintenance”.")
    params: dict[str, Any]
    params_summary: str = Field(description="A few words about the params, e.g. the channel group's name.")
    grace_minutes: int
    overlap_policy: str
    anchor_at: dt.datetime | None
    paused_until: dt.datetime | None = Field(description="Paused until this instant (UTC): its windows until then are "
                                             "recorded as paused, not run. Set with POST …/pause, lifted by "
                                             "POST …/resume or by the scheduler at this instant.")
    pause_reason: str | None = Field(description="Why it is paused, if someone said.")
    notify_channels: list[int] = Field(description="Notification channel ids for its alerts; empty: all channels.")
    last_run_at: dt.datetime | None
    last_outcome: str | None
    next_run_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


# What a schedule shows but no payload may set (the id, the server's own bookkeeping, the words it
# adds): a client that sends one is told it is read-only rather than that no such field exists.
READ_ONLY_FIELDS = frozenset(ScheduleOut.model_fields) - frozenset(ScheduleFields.model_fields)


class SchedulePage(PageLinks):
    items: list[ScheduleOut]


class ScheduleFilters(PageQuery):
    task_type: Text | None = None
    enabled: bool | None = None


class ToggleIn(Schema):
    model_config = ConfigDict(extra="forbid")

    enabled: StrictBool | None = Field(None, description="The state wanted; without it the state flips.")


class RunNowIn(Schema):
    model_config = ConfigDict(extra="forbid")

    force: StrictBool = Field(False, description="Run even while a run of the schedule is still active.")


class PauseIn(Schema):
    model_config = ConfigDict(extra="forbid")

    until: Instant | None = Field(None, description="When the pause ends: ISO-8601 with an offset, in the future, "
                                        "at most a year ahead.", examples=["2026-05-04T08:00:00+02:00"])
    reason: Text = Field("", description="Why, in a few words (at most 200 characters).",
                         examples=["server maintenance"])


class ResumeIn(Schema):
    model_config = ConfigDict(extra="forbid")


class RunOut(Schema):
    id: int
    trigger: str
    due_at: dt.datetime
    outcome: str
    message: str
    job_ids: list[int]


class RunNowOut(Schema):
    message: str = Field(description="What happened, in words.")
    run: RunOut


class PreviewRunOut(Schema):
    at: dt.datetime = Field(description="The run's instant (UTC).")
    local: dt.datetime = Field(description="The same instant on the schedule's wall clock, with its offset.")
    clock_change: str | None = Field(description="“forward” or “back” when the local day has a DST change.",
                                     json_schema_extra=_enum(["forward", "back", None]))
    shifted_from: str | None = Field(description="HH:MM asked for, when a spring-forward gap moved the run.")
    note: str = Field(description="The DST facts in plain words, or empty.")


class PreviewOut(Schema):
    description: str
    timezone: str
    runs: list[PreviewRunOut]


# --- output ---------------------------------------------------------------------------------------

def _utc(value: dt.datetime | None) -> dt.datetime | None:
    return value.astimezone(UTC) if value is not None else None


def schedule_out(schedule: ScheduledTask, params_summary: str = "") -> dict:
    return {
        "id": schedule.pk,
        "name": schedule.name,
        "key": schedule.key,
        "task_type": schedule.task_type,
        "task_type_label": registry.label(schedule.task_type),
        "enabled": schedule.enabled,
        "schedule_kind": schedule.schedule_kind,
        "schedule_time": schedule.schedule_time or None,
        "schedule_days": list(schedule.schedule_days or []),
        "interval_minutes": schedule.interval_minutes,
        "cron_expr": schedule.cron_expr or None,
        "timezone": schedule.timezone,
        "description": f"{schedule.describe()}. {paused_until(schedule)}" if schedule.paused_until
        else schedule.describe(),
        "params": schedule.params,
        "params_summary": params_summary,
        "grace_minutes": schedule.grace_minutes,
        "overlap_policy": schedule.overlap_policy,
        "anchor_at": _utc(schedule.anchor_at),
        "paused_until": _utc(schedule.paused_until),
        "pause_reason": schedule.pause_reason or None,
        "notify_channels": list(schedule.notify_channels or []),
        "last_run_at": _utc(schedule.last_run_at),
        "last_outcome": schedule.last_outcome or None,
        "next_run_at": _utc(schedule.next_run_at),
        "created_at": _utc(schedule.created_at),
        "updated_at": _utc(schedule.updated_at),
    }


def schedules_out(schedules: list[ScheduledTask]) -> list[dict]:
    """Many schedules, with their params summaries (one query per task type at most)."""
    return [schedule_out(schedule, summary)
            for schedule, summary in zip(schedules, registry.params_summaries(schedules))]


# --- input ----------------------------------------------------------------------------------------

def apply_fields(schedule: ScheduledTask, data: dict) -> ScheduledTask:
    """Set the fields a payload sent; JSON null clears a kind's field."""
    for field, value in data.items():
        if value is None and field in ("schedule_time", "cron_expr"):
            value = ""
        elif value is None and field in ("schedule_days", "notify_channels"):
            value = []
        setattr(schedule, field, value)
    return schedule


def save_changes(*, schedule: ScheduledTask, data: dict, request, now: dt.datetime) -> ScheduledTask:
    """Apply a payload's fields and save through the services; a 400 naming the fields if invalid, a 403
    naming the param if the task type refuses this user's change (a retention that deletes backups)."""
    actor = api_actor(request)
    try:
        if schedule.pk is not None and data == {"enabled": False}:
            # Disabling never asks the rest to be valid: it is how a broken schedule is stopped.
            return services.schedule_set_enabled(schedule=schedule, enabled=False, now=now, actor=actor)
        return services.schedule_save(schedule=apply_fields(schedule, data), now=now, actor=actor)
    except ValidationError as exc:
        raise errors_of(exc) from exc
    except registry.ParamsChangeRefused as exc:  # the task type refuses this user's change: a 403 naming the param
        raise ApiError(403, {exc.api_field: [exc.message]}) from exc


def merged_params(schedule: ScheduledTask, data: dict) -> dict:
    """A PATCH payload with its `params` merged into the schedule's (RFC 7396), as save_changes takes it.

    The stored params are complete (the task type filled in its defaults when they were saved), so a
    param not sent keeps its value and one sent as null is removed, to be filled in with the default
    again. A change of task type starts from no params: the old type's would be unknown to the new.
    `"params": null` is left for the model to refuse, like null for any field that cannot be empty.
    """
    new_type = data.get("task_type", schedule.task_type) != schedule.task_type
    if data.get("params", {}) is None or ("params" not in data and not new_type):
        return data
    return {**data, "params": merge_patch({} if new_type else schedule.params, data.get("params", {}))}


def refuse_params_not_kept(*, task_type: str, sent: dict | None, merged: dict | None) -> None:
    """A 400 naming each param a PATCH sends that the task type would not keep.

    A task type keeps only the params its other params make use of (a retention by calendar has no
    `retention_days`; one by age does not store `retention_mode`, its default). Replaced whole, the
    params around such a param got their defaults and the value sent was used; merged, the stored
    choice stays and the value sent would be dropped without a word. Invalid params are left for the
    save to report, with every other error.
    """
    found = registry.find(task_type)
    if not sent or found is None or not isinstance(merged, dict):
        return
    try:
        kept = found.clean_params(merged)
    except ValidationError:
        return
    # A param left out of the kept ones reads as its default: sending the default loses nothing.
    defaults = {key: field.initial for key, field in found.params_form.base_fields.items()}
    dropped = sorted(key for key, value in sent.items()
                     if value is not None and key not in kept and value != defaults.get(key))
    if dropped:
        raise ApiError(400, {f"params.{key}": [f"{key}: not used with the other params as they are, so it would "
                                               "not be kept. Change the param it depends on in the same request."]
                             for key in dropped})


def get_schedule(schedule_id: int) -> ScheduledTask:
    try:
        return ScheduledTask.objects.get(pk=schedule_id)
    except ScheduledTask.DoesNotExist:
        raise ApiError(404, {"id": [f"No schedule with id {schedule_id}."]}) from None


ScheduleId = Annotated[int, Path(ge=1, le=MAX_ID)]


# --- endpoints ------------------------------------------------------------------------------------
# The preview comes before "/{schedule_id}": Django tries the paths in order, and "preview" would
# otherwise be taken for an id.

@router.post("/preview", response={200: PreviewOut, **error_responses(415)})
def schedule_preview_view(request, payload: ScheduleFields,
                          count: int = Query(5, ge=1, le=PREVIEW_MAX_RUNS)):
    """A schedule's description, time zone and next runs; nothing is written.

    The payload is a schedule as for create; the fields it sends are validated (a complete
    payload is a dry run of create), the ones it leaves out are not required.
    """
    require_permission(request, VIEW)
    refuse_unknown_query(request, ["count"])
    now = timezone.now()
    data = payload.model_dump(exclude_unset=True)
    schedule = apply_fields(ScheduledTask(created_at=now), data)
    try:
        schedule.full_clean()
    except ValidationError as exc:
        errors = {field: messages for field, messages in errors_by_field(exc).items()
                  if field.split(".")[0] in data or field.split(".")[0] not in ("name", "task_type", "params")}
        if "task_type" not in data:
            errors = {field: messages for field, messages in errors.items() if not field.startswith("params")}
        if errors:
            raise ApiError(400, errors) from exc
    preview = selectors.schedule_preview(schedule=schedule, now=now, count=count)
    return {
        "description": preview["description"],
        "timezone": preview["timezone"],
        "runs": [{"at": run.at, "local": run.local, "clock_change": run.clock_change,
                  "shifted_from": f"{run.shifted_from:%H:%M}" if run.shifted_from else None, "note": run.note}
                 for run in preview["runs"]],
    }


# --- schedules as code: export and import (scheduling.portable) -------------------------------------
# Before "/{schedule_id}" like the preview: "export" and "import" are not ids.

IMPORT_TYPES = {"application/json": "json", "application/yaml": "yaml", "application/x-yaml": "yaml",
                "text/yaml": "yaml", "text/x-yaml": "yaml"}


class ScheduleEntry(Schema):
    """One schedule in a document: its editable fields; of the timing fields only those its kind uses."""

    name: str
    task_type: str
    enabled: bool
    schedule_kind: str
    schedule_time: str | None = None
    schedule_days: list[str] | None = None
    interval_minutes: int | None = None
    anchor_at: dt.datetime | None = None
    cron_expr: str | None = None
    timezone: str
    params: dict[str, Any] = Field(description="The task type's parameters; a channel group by its name.")
    grace_minutes: int
    overlap_policy: str
    notify_channels: list[int | str] = Field(description="Notification channels by name (by id where two share "
                                             "a name); empty: all channels.")


class ScheduleDocument(Schema):
    """Every schedule, keyed by its key: what GET …/export writes and POST …/import reads."""

    version: int = Field(description="The format's version: 1.", examples=[1])
    schedules: dict[str, ScheduleEntry]


class ImportChangeOut(Schema):
    key: str
    action: str = Field(json_schema_extra=_enum([portable.CREATE, portable.CHANGE, portable.DELETE,
                                                 portable.UNCHANGED, portable.KEEP]),
                        description="“kept”: in the database, not in the document, and no prune.")
    name: str
    id: int | None = Field(description="The schedule's id; null for one a dry run would create.")
    fields: list[str] = Field(description="The fields that change (“changed” only).")


class ImportOut(Schema):
    applied: bool = Field(description="False for a dry run: nothing was written.")
    message: str = Field(description="What changed (or would), in words.")
    changes: list[ImportChangeOut]


_DOCUMENT_OUT = {"$ref": "#/components/schemas/ScheduleDocument"}


def _entry_in_schema() -> dict:
    schema = portable.Entry.model_json_schema()
    for prop in schema["properties"].values():
        prop.pop("default", None)  # "null" for a field that may be left out but not sent as null
    return schema


# What an import reads: an export, or less (every field but `name` and `task_type` has a default).
_DOCUMENT_IN = {
    "type": "object", "title": "ScheduleDocumentIn", "required": ["schedules"], "additionalProperties": False,
    "properties": {
        "version": {"type": "integer", "description": "The format's version: 1 (the default)."},
        "schedules": {"type": "object", "description": "The schedules by key; the key is made of lower-case "
                      "letters, digits, hyphens and underscores.",
                      "additionalProperties": _entry_in_schema()},
    },
}


@router.get("/export", response={200: ScheduleDocument, **error_responses()},
            openapi_extra={"responses": {200: {"content": {"application/yaml": {"schema": _DOCUMENT_OUT}}}}})
def schedule_export(request, fmt: Literal["json", "yaml"] = Query("json", alias="format")):
    """Every schedule, keyed by its key, as `manage.py export_schedules` writes it: the same text, byte for
    byte (JSON, or YAML with `?format=yaml`). Feed it to POST …/import, here or on another installation."""
    require_permission(request, VIEW)
    refuse_unknown_query(request, ["format"])
    content_type = "application/json" if fmt == "json" else "application/yaml"
    return HttpResponse(portable.dump(portable.to_document(), fmt), content_type=f"{content_type}; charset=utf-8")


@router.post("/import", response={200: ImportOut, **error_responses(413, 415)}, openapi_extra={"requestBody": {
    "required": True,
    "content": {"application/json": {"schema": _DOCUMENT_IN}, "application/yaml": {"schema": _DOCUMENT_IN}}}})
def schedule_import(request, dry_run: bool = Query(False, description="Say what would change; write nothing."),
                    prune: bool = Query(False, description="Delete the schedules the document does not list.")):
    """Create and change schedules to match the document (JSON, or YAML sent as `application/yaml`), and with
    `prune=true` delete those it does not list: all of it, or nothing when any entry is invalid (400, each
    error named `<key>.<field>`). Needs add and change (and delete with prune); audited as "import"."""
    for perm in (ADD, CHANGE, *([DELETE] if prune else [])):
        require_permission(request, perm)
    refuse_unknown_query(request, ["dry_run", "prune"])
    if not request.body:
        raise ApiError(400, {"body": ["The body is empty: send the document, as JSON or as application/yaml."]})
    fmt = IMPORT_TYPES.get(request.content_type)
    if fmt is None:
        raise ApiError(415, {"body": ["Send the document as application/json or application/yaml (got "
                                      f"{request.content_type or 'none'})."]})
    try:
        plan = portable.apply(portable.load(request.body, fmt), now=timezone.now(),
                              actor=api_actor(request, Via.IMPORT), prune=prune, dry_run=dry_run)
    except portable.ImportRefused as exc:
        raise ApiError(400, exc.by_field()) from exc
    return {"applied": plan.applied, "message": plan.summary(),
            "changes": [{"key": change.key, "action": change.action, "name": change.schedule.name,
                         "id": change.id, "fields": change.fields} for change in plan.changes]}


@router.get("", response={200: SchedulePage, **error_responses()})
def schedule_list(request, filters: Query[ScheduleFilters]):
    """Schedules by id, a page at a time (keyset: no count, no offset; follow `next`)."""
    require_permission(request, VIEW)
    schedules = selectors.schedule_api_list(task_type=filters.task_type, enabled=filters.enabled)
    page = paginate(request, schedules, filters)
    return {**page, "items": schedules_out(page["items"])}


@router.post("", response={201: ScheduleOut, **error_responses(415)})
def schedule_create(request, payload: ScheduleCreate):
    require_permission(request, ADD)
    schedule = save_changes(schedule=ScheduledTask(), data=payload.model_dump(exclude_unset=True),
                            request=request, now=timezone.now())
    return Status(201, schedules_out([schedule])[0])


@router.get("/{schedule_id}", response={200: ScheduleOut, **error_responses(404)})
def schedule_detail(request, schedule_id: ScheduleId):
    require_permission(request, VIEW)
    return schedules_out([get_schedule(schedule_id)])[0]


@router.patch("/{schedule_id}", response={200: ScheduleOut, **error_responses(404, 415)})
def schedule_update(request, schedule_id: ScheduleId, payload: ScheduleFields):
    """Change the fields sent, and only those; `params` merges into the stored ones (RFC 7396):
    `{"params": {"retention_days": 7}}` changes the retention and keeps the clean-up as it was,
    `{"params": {"retention_days": null}}` puts the task type's default back."""
    require_permission(request, CHANGE)
    schedule = get_schedule(schedule_id)
    sent = payload.model_dump(exclude_unset=True)
    data = merged_params(schedule, sent)
    refuse_params_not_kept(task_type=data.get("task_type", schedule.task_type), sent=sent.get("params"),
                           merged=data.get("params"))
    schedule = save_changes(schedule=schedule, data=data, request=request, now=timezone.now())
    return schedules_out([schedule])[0]


@router.delete("/{schedule_id}", response={204: None, **error_responses(404)})
def schedule_delete(request, schedule_id: ScheduleId):
    """Delete a schedule; its runs and audit trail stay."""
    require_permission(request, DELETE)
    services.schedule_delete(schedule=get_schedule(schedule_id), now=timezone.now(), actor=api_actor(request))
    return Status(204, None)


@router.post("/{schedule_id}/toggle", response={200: ScheduleOut, **error_responses(404, 415)})
def schedule_toggle(request, schedule_id: ScheduleId, payload: ToggleIn | None = None):
    """Enable or disable: to `{"enabled": ...}` if sent, else the opposite of now."""
    require_permission(request, CHANGE)
    schedule = get_schedule(schedule_id)
    enabled = payload.enabled if payload is not None and payload.enabled is not None else not schedule.enabled
    try:
        schedule = services.schedule_set_enabled(schedule=schedule, enabled=enabled, now=timezone.now(),
                                                 actor=api_actor(request))
    except ValidationError as exc:
        raise errors_of(exc) from exc
    return schedules_out([schedule])[0]


@router.post("/{schedule_id}/run_now", response={200: RunNowOut, **error_responses(404, 409, 415)})
def schedule_run_now(request, schedule_id: ScheduleId, payload: RunNowIn | None = None):
    """Run the schedule's task now; 409 while a run of it is still active, unless `{"force": true}`."""
    require_permission(request, CHANGE)
    schedule = get_schedule(schedule_id)
    force = payload.force if payload is not None else False
    try:
        run = services.schedule_run_now(schedule=schedule, now=timezone.now(), force=force,
                                        actor=api_actor(request))
    except services.RunActiveError as exc:
        raise ApiError(409, {"__all__": [f'{exc} Send {{"force": true}} to run anyway.']}) from exc
    return {"message": run_now_message(run), "run": run_out(run)}


@router.post("/{schedule_id}/pause", response={200: ScheduleOut, **error_responses(404, 415)})
def schedule_pause(request, schedule_id: ScheduleId, payload: PauseIn | None = None):
    """Pause until `until`, saying why: the windows until then are recorded as paused, not run, and
    the scheduler resumes the schedule at `until`. Pausing a paused schedule changes its end and reason;
    a disabled schedule cannot be paused."""
    require_permission(request, CHANGE)
    payload = payload or PauseIn()
    try:
        schedule = services.schedule_pause(schedule=get_schedule(schedule_id), until=payload.until,
                                           reason=payload.reason, now=timezone.now(), actor=api_actor(request))
    except ValidationError as exc:
        raise errors_of(exc) from exc
    return schedules_out([schedule])[0]


@router.post("/{schedule_id}/resume", response={200: ScheduleOut, **error_responses(404, 415)})
def schedule_resume(request, schedule_id: ScheduleId, payload: ResumeIn | None = None):
    """Lift the pause now; a schedule that is not paused is answered as it is."""
    require_permission(request, CHANGE)
    schedule = services.schedule_resume(schedule=get_schedule(schedule_id), now=timezone.now(),
                                        actor=api_actor(request))
    return schedules_out([schedule])[0]


def run_out(run: ScheduleRun) -> dict:
    return {"id": run.pk, "trigger": run.trigger, "due_at": _utc(run.due_at), "outcome": run.outcome,
            "message": run.message, "job_ids": sorted(run.jobs.values_list("pk", flat=True))}
