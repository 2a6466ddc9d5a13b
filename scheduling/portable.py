"""Schedules as code: every schedule as one document (JSON or YAML) keyed by its `key`, and such a
document applied back to the database.

`manage.py export_schedules` / `import_schedules` and `GET /api/schedules/export` /
`POST /api/schedules/import` are thin shells around `to_document`, `dump`, `load`, `make_plan` and
`apply`. The document:

    version: 1
    schedules:
      news-daily:
        name: News daily
        task_type: QUICK_SYNC_GROUP
        enabled: true
        schedule_kind: daily
        schedule_time: "05:30"
        timezone: Europe/Berlin
        params: {group_id: News}
        grace_minutes: 60
        overlap_policy: skip
        notify_channels: [ops]

Only what a person edits is in it: no ids, no run bookkeeping, no pause (a pause is an operation,
not configuration), and of the timing fields only those the kind uses. Ids differ from one database
to the next, so references are written by name: a task type's param chosen from a model (a quick
sync's channel group) by that model's unique name, a notification channel by its name (by its id
when two channels share the name). Schedules are sorted by key and fields come in a fixed order, so
two exports of the same schedules are the same file.

Each entry is the whole schedule: a field left out takes its default, as when creating one
(except an interval's `anchor_at`, which a schedule keeps when the entry leaves it out). Every entry
goes through the model's validation and the task type's params form, as every other entrance does,
before anything is written; then all of it is written in one transaction through
`scheduling.services`, so each change leaves its audit entry. A second import of the same file
finds nothing to change and writes nothing.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass, field

import yaml
from django import forms
from django.core.exceptions import ValidationError
from django.db import models, transaction
from pydantic import AwareDatetime, BaseModel, ConfigDict, StrictBool, StrictInt
from pydantic import ValidationError as SchemaError

from common.actors import Actor
from common.api import JsonObject, Text
from common.forms import errors_by_field
from notifications.models import NotificationChannel
from scheduling import audit, registry, services
from scheduling.models import ScheduledTask

VERSION = 1
FORMATS = ("json", "yaml")
# A file of thousands of schedules is a few hundred kilobytes; anything far larger is not one.
MAX_DOCUMENT_BYTES = 5 * 1024 * 1024
YAML_HEADER = ("# Schedules of the channel archive, keyed by their key. Apply with: "
               "manage.py import_schedules FILE [--dry-run] [--prune]\n")

# Which fields an entry holds, in the order an export writes them.
ENTRY_FIELDS = ("name", "task_type", "enabled", "schedule_kind", "schedule_time", "schedule_days",
                "interval_minutes", "anchor_at", "cron_expr", "timezone", "params", "grace_minutes",
                "overlap_policy", "notify_channels")
assert set(ENTRY_FIELDS) == set(ScheduledTask.EDITABLE_FIELDS) - {"key"}
KIND_FIELDS = frozenset().union(*ScheduledTask.KIND_FIELDS.values())
# What a schedule shows elsewhere (the API) but a file does not set: named as such when a file has it.
READ_ONLY_FIELDS = frozenset({"id", "description", "task_type_label", "params_summary", "paused_until",
                              "pause_reason", "last_run_at", "last_outcome", "next_run_at", "created_at",
                              "updated_at"})


class ImportRefused(Exception):
    """The document cannot be applied; nothing was written.

    `errors` maps where ((), or (key,), or (key, field)) to messages: the whole document, one entry,
    one field of an entry (`params.group_id` for a param).
    """

    def __init__(self, errors: dict[tuple[str, ...], list[str]]):
        super().__init__(errors)
        self.errors = errors

    def lines(self) -> list[str]:
        """`news-daily: schedule_time: Use HH:MM …`, one line per message."""
        return [": ".join((*where, message)) for where, messages in self.errors.items() for message in messages]

    def by_field(self) -> dict[str, list[str]]:
        """As the API names fields: `news-daily.schedule_time`; `body` for the document as a whole."""
        return {".".join(where) or "body": messages for where, messages in self.errors.items()}


def _refuse(message: str, *where: str) -> ImportRefused:
    return ImportRefused({tuple(where): [message]})


# --- export ------------------------------------------------------------------------------------------------

def to_document(schedules: Iterable[ScheduledTask] | None = None) -> dict:
    """Every schedule (or those given) as the document, sorted by key."""
    schedules = sorted(ScheduledTask.objects.all() if schedules is None else schedules, key=lambda s: s.key)
    names = _ReferenceNames(schedules)
    return {"version": VERSION, "schedules": {schedule.key: _entry(schedule, names) for schedule in schedules}}


def _entry(schedule: ScheduledTask, names: _ReferenceNames) -> dict:
    used = ScheduledTask.KIND_FIELDS.get(schedule.schedule_kind, set())
    entry = {}
    for name in ENTRY_FIELDS:
        if name in KIND_FIELDS and name not in used:
            continue
        value = getattr(schedule, name)
        if name == "anchor_at":
            value = _instant(value)
        elif name == "params":
            value = names.params(schedule)
        elif name == "notify_channels":
            value = names.channels(value)
        entry[name] = value
    return entry


def _instant(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


class _ReferenceNames:
    """The names an export writes for the ids a database holds, read once for all the schedules."""

    def __init__(self, schedules: list[ScheduledTask]):
        self._names: dict[tuple[str, str], dict] = {}  # (task type, param) -> {pk: name}
        for task_type_name in {schedule.task_type for schedule in schedules}:
            task_type = registry.find(task_type_name)
            for param, (queryset, natural, _label) in _model_params(task_type).items():
                pks = {schedule.params.get(param) for schedule in schedules if schedule.task_type == task_type_name}
                pks = [pk for pk in pks if isinstance(pk, int) and not isinstance(pk, bool)]
                self._names[task_type_name, param] = dict(queryset.filter(pk__in=pks).values_list("pk", natural))
        self._channels = None

    def params(self, schedule: ScheduledTask) -> dict:
        params = _params_as_read(schedule)
        for (task_type, param), names in self._names.items():
            if task_type == schedule.task_type and params.get(param) in names:
                params[param] = names[params[param]]  # a deleted one stays an id: the import says it is gone
        return dict(sorted(params.items()))

    def channels(self, ids: list[int]) -> list:
        if not ids:
            return []
        if self._channels is None:
            rows = list(NotificationChannel.objects.values_list("pk", "name"))
            count: dict[str, int] = {}
            for _pk, name in rows:
                count[name] = count.get(name, 0) + 1
            self._channels = {pk: name if count[name] == 1 else pk for pk, name in rows}
        written = [self._channels.get(pk, pk) for pk in ids]
        return sorted(item for item in written if isinstance(item, str)) + sorted(
            item for item in written if not isinstance(item, str))


def _params_as_read(schedule: ScheduledTask) -> dict:
    """A schedule's params completed as its task type reads them. A row saved by an older release lacks
    the params added since: its export writes their defaults, and importing that export changes nothing.
    Params the task type refuses (a deleted group) stay as stored: the import says what is wrong."""
    task_type = registry.find(schedule.task_type)
    try:
        return task_type.clean_params(dict(schedule.params)) if task_type is not None else dict(schedule.params)
    except ValidationError:
        return dict(schedule.params)


def _model_params(task_type: registry.TaskType | None) -> dict[str, tuple[models.QuerySet, str, str]]:
    """The task type's params chosen from a model, which a file names by that model's unique name:
    {param: (the choices, the name field, the param's label)}. A model without a unique text field
    is written by id."""
    found = {}
    for param, form_field in (task_type.params_form.base_fields.items() if task_type else ()):
        if isinstance(form_field, forms.ModelChoiceField) and not isinstance(form_field,
                                                                              forms.ModelMultipleChoiceField):
            model = form_field.queryset.model
            natural = next((f.name for f in model._meta.fields
                            if f.unique and not f.primary_key and isinstance(f, models.CharField)), None)
            if natural:
                found[param] = (form_field.queryset, natural, str(form_field.label or param))
    return found


def dump(document: dict, fmt: str) -> str:
    """The document as text: JSON indented by two, or YAML in block style, both ending in a newline."""
    if fmt == "json":
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if fmt == "yaml":
        return YAML_HEADER + yaml.safe_dump(document, sort_keys=False, allow_unicode=True, default_flow_style=False,
                                            width=1000)
    raise ValueError(f"Unknown format {fmt!r}: use one of {', '.join(FORMATS)}.")


# --- reading a document ---------------------------------------------------------------------------------------

def load(data: bytes | str, fmt: str | None = None) -> dict:
    """Parse a document (JSON or YAML; None: JSON if it starts with "{", else YAML) and check its shape.

    Returns {"version": 1, "schedules": {key: entry}}. Raises ImportRefused saying where the text is
    wrong: not UTF-8, not JSON / YAML, a key twice in one mapping, YAML aliases (refused: the way
    to a "billion laughs" document), nesting too deep, the wrong shape.
    """
    if isinstance(data, bytes):
        if len(data) > MAX_DOCUMENT_BYTES:
            raise _refuse(f"The document is larger than {MAX_DOCUMENT_BYTES:,} bytes: too large for a file of "
                          "schedules.")
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise _refuse(f"The document is not UTF-8 text: byte 0x{data[exc.start]:02x} at offset {exc.start} "
                          "is not valid UTF-8.") from None
    if fmt is None:
        fmt = "json" if data.lstrip().startswith("{") else "yaml"
    try:
        parsed = _parse_json(data) if fmt == "json" else _parse_yaml(data)
    except RecursionError:
        raise _refuse("The document nests too deeply to be a file of schedules.") from None
    return _shaped(parsed)


def _parse_json(text: str):
    def no_duplicates(pairs):
        seen = {}
        for key, value in pairs:
            if key in seen:
                raise _refuse(f"The key “{key}” appears twice in one object: give each key once.")
            seen[key] = value
        return seen

    def no_constant(name):
        raise _refuse(f"Not valid JSON: {name} is not a JSON number.")

    try:
        return json.loads(text, object_pairs_hook=no_duplicates, parse_constant=no_constant)
    except json.JSONDecodeError as exc:
        raise _refuse(f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).") from None


class _SafeLoader(yaml.SafeLoader):
    """YAML's safe loader (plain data only: no Python objects), refusing aliases and keys given twice.

    An alias makes a small text stand for an enormous structure once anything walks it; a schedule
    file has no use for one, so none is read.
    """

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not allowed in a file of schedules: write the value out",
                self.peek_event().start_mark)
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _value in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
            except TypeError:
                break  # an unhashable key: the base class says so
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key “{key}” appears twice in one mapping", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _parse_yaml(text: str):
    try:
        return yaml.load(text, Loader=_SafeLoader)  # noqa: S506 (a SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        raise _refuse(f"Not valid YAML: {exc.problem}{where}.") from None
    except yaml.YAMLError as exc:
        raise _refuse(f"Not valid YAML: {exc}.") from None


def _shaped(parsed) -> dict:
    if parsed is None:
        raise _refuse("The document is empty: give {\"version\": 1, \"schedules\": {...}} "
                      "(an empty \"schedules\" to mean none).")
    if not isinstance(parsed, dict):
        raise _refuse("The document must be a mapping with “version” and “schedules”.")
    unknown = sorted(str(key) for key in parsed if key not in ("version", "schedules"))
    if unknown:
        raise _refuse(f"Unknown: {', '.join(unknown)}. The document holds “version” and “schedules” only.")
    version = parsed.get("version", VERSION)
    if version != VERSION or isinstance(version, bool):
        raise _refuse(f"This app reads version {VERSION} of the format; the document says {version!r}.", "version")
    schedules = parsed.get("schedules")
    if not isinstance(schedules, dict):
        raise _refuse("Give the schedules as a mapping from key to fields ({} for none).", "schedules")
    errors = {}
    for key, entry in schedules.items():
        if not isinstance(key, str):
            errors[(str(key),)] = [f"A key is text: write it in quotes (\"{key}\")."]
        elif not key:  # the model would make one from the name: not the schedule the document names
            errors[("schedules",)] = ["A key cannot be empty."]
        elif not isinstance(entry, dict):
            errors[(key,)] = ["Give the schedule's fields as a mapping (name, task_type, …)."]
    if errors:
        raise ImportRefused(errors)
    return {"version": VERSION, "schedules": schedules}


class Entry(BaseModel):
    """One entry's JSON types, as the API's ScheduleFields checks them; every rule about values is the
    model's and the task type's. Only `name` and `task_type` are required: the rest have defaults."""

    model_config = ConfigDict(extra="forbid")

    name: Text
    task_type: Text
    enabled: StrictBool = None
    schedule_kind: Text = None
    schedule_time: Text | None = None
    schedule_days: list[Text] | None = None
    interval_minutes: StrictInt | None = None
    anchor_at: AwareDatetime | None = None
    cron_expr: Text | None = None
    timezone: Text = None
    params: JsonObject = None
    grace_minutes: StrictInt = None
    overlap_policy: Text = None
    notify_channels: list[StrictInt | Text] | None = None


def _type_errors(key: str, exc: SchemaError, entry: dict) -> dict[tuple[str, ...], list[str]]:
    errors: dict[tuple[str, ...], list[str]] = {}
    for error in exc.errors():
        loc = [str(part) for part in error.get("loc", ())]
        name, kind, message = (loc[0] if loc else ""), error.get("type", ""), error.get("msg", "Invalid value.")
        where = f"params.{loc[1]}" if name == "params" and len(loc) > 1 else name
        if kind == "extra_forbidden":
            if name == "key":
                message = "Leave it out: an entry's key is the name it is listed under."
            elif name in READ_ONLY_FIELDS:
                message = "Read-only: leave it out."
            else:
                message = f"Unknown field (the fields are: {', '.join(ENTRY_FIELDS)})."
        elif name == "schedule_time" and type(entry.get(name)) in (int, float):
            message = "Use HH:MM in quotes, e.g. \"05:30\": unquoted, YAML may read a time as a number."
        elif len(loc) > 1 and loc[1].isdigit() and name != "params":
            message = f"Item {int(loc[1]) + 1}: {message}"
        messages = errors.setdefault((key, where), [])
        if message.removeprefix("Value error, ") not in messages:
            messages.append(message.removeprefix("Value error, "))
    return errors


# --- the plan -----------------------------------------------------------------------------------------------

CREATE, CHANGE, DELETE, UNCHANGED, KEEP = "created", "changed", "deleted", "unchanged", "kept"


@dataclass
class Change:
    """What importing does to one schedule: created, changed (which fields), deleted, unchanged, or kept
    (in the database, not in the document, and no --prune)."""

    key: str
    action: str
    schedule: ScheduledTask
    fields: list[str] = field(default_factory=list)
    id: int | None = None  # None for a schedule still to be created


@dataclass
class Plan:
    changes: list[Change]
    applied: bool = False

    def of(self, action: str) -> list[Change]:
        return [change for change in self.changes if change.action == action]

    @property
    def writes(self) -> list[Change]:
        return [change for change in self.changes if change.action in (CREATE, CHANGE, DELETE)]

    def summary(self) -> str:
        """“1 created, 2 changed, 0 deleted, 5 unchanged.”; a dry run says what would be and that nothing was."""
        counts = {action: len(self.of(action)) for action in (CREATE, CHANGE, DELETE, UNCHANGED, KEEP)}
        kept = (f" {counts[KEEP]} not in the document kept (--prune / prune=true deletes them)."
                if counts[KEEP] else "")
        if self.applied:
            return (f"{counts[CREATE]} created, {counts[CHANGE]} changed, {counts[DELETE]} deleted, "
                    f"{counts[UNCHANGED]} unchanged.{kept}")
        return (f"Dry run, nothing written: {counts[CREATE]} to create, {counts[CHANGE]} to change, "
                f"{counts[DELETE]} to delete, {counts[UNCHANGED]} unchanged.{kept}")


def make_plan(document: dict, *, now: dt.datetime, user=None, prune: bool = False) -> Plan:
    """What applying `document` (as `load` returns it) would do, validated; nothing is written.

    Each entry is checked as every entrance checks a schedule (its JSON types, then the model's
    `full_clean()`: its timing and the task type's params form, then the task type's `check_change`
    for `user`), against the schedule of the same key if there is one. Raises ImportRefused with
    every error of every entry, each naming the key and the field.
    """
    stored = {schedule.key: schedule for schedule in ScheduledTask.objects.all()}
    references = _References()
    changes, errors = [], {}
    for key, entry in document["schedules"].items():
        try:
            changes.append(_planned(key, entry, stored.get(key), references, now=now, user=user))
        except ImportRefused as exc:
            errors.update(exc.errors)
    if errors:
        raise ImportRefused(dict(sorted(errors.items())))
    gone = [schedule for key, schedule in stored.items() if key not in document["schedules"]]
    changes.extend(Change(schedule.key, DELETE if prune else KEEP, schedule, id=schedule.pk) for schedule in gone)
    return Plan(sorted(changes, key=lambda change: change.key))


def _planned(key: str, entry: dict, stored: ScheduledTask | None, references: _References, *, now: dt.datetime,
             user) -> Change:
    try:
        data = Entry.model_validate(entry).model_dump(exclude_unset=True)
    except SchemaError as exc:
        raise ImportRefused(_type_errors(key, exc, entry)) from None
    data = references.resolved(key, data)
    if stored is None:
        schedule = ScheduledTask(key=key, created_at=now)
    else:
        schedule = copy.copy(stored)
        for name in ENTRY_FIELDS:  # the entry is the whole schedule: what it leaves out takes its default
            setattr(schedule, name, ScheduledTask._meta.get_field(name).get_default())
        if "anchor_at" not in data:
            schedule.anchor_at = stored.anchor_at  # an interval keeps counting from where it did
    for name, value in data.items():
        if value is None and name in ("schedule_time", "cron_expr"):
            value = ""
        elif value is None and name in ("schedule_days", "notify_channels"):
            value = []
        setattr(schedule, name, value)
    try:
        schedule.full_clean()
        registry.check_change(old=stored, new=schedule, user=user, now=now)
    except ValidationError as exc:
        raise ImportRefused({(key, name): messages for name, messages in errors_by_field(exc).items()}) from None
    except registry.ParamsChangeRefused as exc:
        raise _refuse(exc.message, key, exc.api_field) from None
    if stored is None:
        return Change(key, CREATE, schedule)
    before = {**audit.snapshot(stored), "params": _params_as_read(stored)}
    changed = list(audit.diff(before, audit.snapshot(schedule)))
    return Change(key, CHANGE if changed else UNCHANGED, schedule, changed, id=stored.pk)


class _References:
    """The names a document gives for what the database knows by id: a param chosen from a model (by
    its unique name, e.g. a channel group's), a notification channel (by its name; an id also does)."""

    def __init__(self):
        self._channels: list[tuple[int, str]] | None = None

    def resolved(self, key: str, data: dict) -> dict:
        errors = {}
        params = data.get("params")
        task_type = registry.find(data["task_type"])
        if isinstance(params, dict):
            params = data["params"] = dict(params)
            for param, (queryset, natural, label) in _model_params(task_type).items():
                name = params.get(param)
                if not isinstance(name, str):
                    continue  # an id, or something the params form refuses with its own message
                pk = queryset.filter(**{natural: name}).values_list("pk", flat=True).first()
                if pk is None:
                    errors[(key, f"params.{param}")] = [
                        f"{label}: there is no {queryset.model._meta.verbose_name} named “{name}”."]
                params[param] = pk
        if data.get("notify_channels"):
            try:
                data["notify_channels"] = [self._channel_id(item) for item in data["notify_channels"]]
            except ValueError as exc:
                errors[(key, "notify_channels")] = [str(exc)]
        if errors:
            raise ImportRefused(errors)
        return data

    def _channel_id(self, item: int | str) -> int:
        if not isinstance(item, str):
            return item  # an id: the model says whether it exists
        if self._channels is None:
            self._channels = list(NotificationChannel.objects.values_list("pk", "name"))
        ids = [pk for pk, name in self._channels if name == item]
        if not ids:
            raise ValueError(f"There is no notification channel named “{item}”: see /notifications for the channels.")
        if len(ids) > 1:
            raise ValueError(f"{len(ids)} notification channels are named “{item}”: give the id of the one meant "
                             f"({', '.join(map(str, sorted(ids)))}).")
        return ids[0]


# --- applying -----------------------------------------------------------------------------------------------

def apply(document: dict, *, now: dt.datetime, actor: Actor, prune: bool = False, dry_run: bool = False) -> Plan:
    """Make the schedules match `document`: create and change them (and with `prune` delete those not
    in it), all in one transaction or none; returns the plan, `applied` unless a dry run.

    Validates everything first (`make_plan`, raising ImportRefused); then writes through the services,
    so every created, changed or deleted schedule has its audit entry, by `actor`. Schedules with
    nothing to change are not saved.
    """
    if dry_run:
        return make_plan(document, now=now, user=actor.user, prune=prune)
    with transaction.atomic():
        # Planned in the transaction that writes: no other save slips in between.
        plan = make_plan(document, now=now, user=actor.user, prune=prune)
        for change in plan.writes:
            try:
                if change.action == DELETE:
                    services.schedule_delete(schedule=change.schedule, now=now, actor=actor)
                else:
                    change.id = services.schedule_save(schedule=change.schedule, now=now, actor=actor).pk
            except ValidationError as exc:  # rolls back the whole import
                raise ImportRefused({(change.key, name): messages
                                     for name, messages in errors_by_field(exc).items()}) from None
            except registry.ParamsChangeRefused as exc:
                raise _refuse(exc.message, change.key, exc.api_field) from None
    plan.applied = True
    return plan


def plan_lines(plan: Plan) -> list[str]:
    """The plan as the command prints it: one line per schedule written, then the unchanged and kept keys."""
    lines = []
    for change in plan.writes:
        detail = f" ({', '.join(change.fields)})" if change.fields else ""
        lines.append(f"{change.key}: {change.action}{detail}")
    for action in (UNCHANGED, KEEP):
        if keys := [change.key for change in plan.of(action)]:
            lines.append(f"{action}: {', '.join(keys)}")
    return lines
