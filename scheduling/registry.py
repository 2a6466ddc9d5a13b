"""Task types: what a schedule can run.

`scheduling` knows nothing about backups or channels. Each app registers its task types in its
`AppConfig.ready()`. A task type declares its params once, as a Django form (fields, labels, help
texts, choices, coercion, errors naming the field): model validation, the admin, the schedule editor
and the API all use that form. It also says which jobs one run creates, and may guard and preview a
change of its params (`check_change`, `preview_change`: a backup schedule's retention deletes backups).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from django import forms
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Model

if TYPE_CHECKING:
    from jobs.services import JobRequest
    from scheduling.models import ScheduledTask, ScheduleRun

logger = logging.getLogger(__name__)


class ParamsForm(forms.Form):
    """Base of every task type's params form. Field names are the keys stored in `params`.

    A field may say when the schedule editor shows it: `field.shown_when = ("param", "value")` shows
    its input only while the input of `param` has that value (a retention's calendar counts, while
    the calendar is chosen). Done by the pages' JavaScript; without it every input shows.
    And how the editor's title names a schedule whose page fixed this param: `field.editor_title =
    "Quick sync of {}"` ("Quick sync of News", the chosen value's label in the braces).
    """

    def to_params(self) -> dict:
        """The cleaned values as JSON: a chosen model instance is stored as its primary key."""
        return {name: value.pk if isinstance(value, Model) else value for name, value in self.cleaned_data.items()}


@dataclass(frozen=True)
class TaskType:
    name: str
    label: str
    params_form: type[ParamsForm]
    # `job_requests(run, *, now)`: the jobs one run of a schedule creates (not yet saved). The run
    # is saved in the ledger already, so the task type may record it on rows of its own; it gives
    # the schedule, the window (`due_at`; now for Run now) and the trigger ("scheduled" or
    # "manual"). `now` is the instant it is dispatched (a coalesced window may be older than
    # that). Raises CannotDispatch when the run cannot say (the schedule's channel group is gone...).
    # It never writes the run: the ledger is scheduling's.
    job_requests: Callable[..., list["JobRequest"]]
    # A few words about each schedule's params for lists ("News"), in one query for all of them.
    summarize_params: Callable[[Sequence[dict]], list[str]] = lambda many: ["" for _ in many]
    # Optional. `check_change(*, old, new, user, now)`: may this user save this schedule? Asked (through
    # `check_change` below) by scheduling.services.schedule_save before a user's save, and by the schedule
    # form, so the pages and the admin show a refusal under the param. `new` is the schedule about to be
    # saved, validated (its params complete); `old` the stored one, None when creating it or when it had
    # another task type. Raises ParamsChangeRefused to refuse. Saves by the system, and by commands run
    # without a user, are not asked. It writes nothing.
    check_change: Callable[..., None] | None = None
    # Optional. `preview_change(*, old, new, user, now) -> str`: an HTML fragment the editor's live preview
    # shows under the next runs: what saving these params would do (for a backup schedule, the backups its
    # retention would delete), "" for nothing to say. Same arguments as check_change; it writes nothing.
    preview_change: Callable[..., str] | None = None

    def clean_params(self, params) -> dict:
        """Validate params given as JSON (the API, a stored row) with the task type's form.

        Returns the params completed with the form's initial values. Raises ValidationError whose
        errors each carry `.param`, the key they are about (None for the params as a whole).
        """
        if not isinstance(params, dict):
            raise _param_error(None, "Parameters must be a JSON object.")
        form_class = self.params_form
        fields = form_class.base_fields
        errors = [_param_error(key, f"{key}: unknown parameter (allowed: {', '.join(fields)}).")
                  for key in sorted(set(params) - set(fields))]
        data = {}
        for name, field in fields.items():
            value = params.get(name, field.initial)
            # A checkbox reads any text as True; JSON has real booleans, so ask for one.
            if isinstance(field, forms.BooleanField) and value is not None and not isinstance(value, bool):
                errors.append(_param_error(name, f"{field.label}: must be true or false (got {value!r})."))
                continue
            data[name] = value
        form = form_class(data=data)
        if not form.is_valid():
            for name, messages in form.errors.items():
                label = form.fields[name].label if name in form.fields else None
                errors.extend(_param_error(name, f"{label}: {message}" if label else message) for message in messages)
        if errors:
            raise ValidationError(errors)
        return form.to_params()


def _param_error(key: str | None, message: str) -> ValidationError:
    error = ValidationError(message, code="invalid_param")
    error.param = key
    return error


class ParamsChangeRefused(PermissionDenied):
    """A task type refuses a user's change of a schedule (see TaskType.check_change). The message says why
    and names the permission it needs; `param` is the key it is about (None: the params as a whole), or
    `field` the schedule's own field (a time zone that moves a retention's days).

    A PermissionDenied: the API answers it with a 403, the forms show it under the input it is about.
    """

    def __init__(self, message: str, *, param: str | None = None, field: str | None = None, permission: str = ""):
        super().__init__(message)
        self.message, self.param, self.field, self.permission = message, param, field, permission

    @property
    def api_field(self) -> str:
        """The field as the API names it: `params.retention_days`, `timezone`."""
        return self.field or (f"params.{self.param}" if self.param else "params")


_task_types: dict[str, TaskType] = {}


def register(task_type: TaskType) -> None:
    if task_type.name in _task_types and _task_types[task_type.name] != task_type:
        raise ValueError(f"Task type {task_type.name!r} is registered twice.")
    _task_types[task_type.name] = task_type


def get(name: str) -> TaskType:
    try:
        return _task_types[name]
    except KeyError:
        raise ValidationError({"task_type": f"Unknown task type {name!r}. Known: {', '.join(names()) or 'none'}."})


def find(name: str) -> TaskType | None:
    return _task_types.get(name)


def label(name: str) -> str:
    """The task type's name in words; the code itself for one no app registers any more."""
    task_type = _task_types.get(name)
    return task_type.label if task_type else name


def params_summaries(schedules: Sequence["ScheduledTask"]) -> list[str]:
    """Each schedule's params summary ("News"), in the order given: what every list of schedules shows.

    One `summarize_params` call per task type, not per row, so a list costs at most one query per
    task type whatever its length. A task type no app registers any more (its params mean nothing
    now) and a row its task type gave no text for summarise as "".
    """
    summaries: list[str] = []
    rows_of: dict[str, list[int]] = {}
    params_of: dict[str, list[dict]] = {}
    for row, schedule in enumerate(schedules):
        summaries.append("")
        rows_of.setdefault(schedule.task_type, []).append(row)
        params_of.setdefault(schedule.task_type, []).append(schedule.params)
    for name, rows in rows_of.items():
        task_type = find(name)
        if task_type is not None:
            for row, text in zip(rows, task_type.summarize_params(params_of[name])):
                summaries[row] = text
    return summaries


def _change_hook(name: str, *, old, new):
    """The new schedule's task type's hook `name`, and the old schedule as the hook gets it."""
    task_type = find(new.task_type)
    hook = getattr(task_type, name) if task_type is not None else None
    return hook, (old if old is not None and old.task_type == new.task_type else None)


def check_change(*, old: "ScheduledTask | None", new: "ScheduledTask", user, now: datetime) -> None:
    """Ask the task type whether `user` may save `new` over `old` (None: creating it); raise
    ParamsChangeRefused if not. Without a user (the system, a command run without one) nothing is asked."""
    hook, old = _change_hook("check_change", old=old, new=new)
    if hook is not None and user is not None:
        hook(old=old, new=new, user=user, now=now)


def preview_change(*, old: "ScheduledTask | None", new: "ScheduledTask", user, now: datetime) -> str:
    """The task type's HTML fragment about saving `new` over `old` ("" when it has nothing to say)."""
    hook, old = _change_hook("preview_change", old=old, new=new)
    return hook(old=old, new=new, user=user, now=now) if hook is not None else ""


def names() -> list[str]:
    return sorted(_task_types)


def choices() -> list[tuple[str, str]]:
    return [(t.name, t.label) for t in sorted(_task_types.values(), key=lambda t: t.label)]


class CannotDispatch(Exception):
    """A run of the schedule cannot say which jobs it wants (a deleted group, an uninstalled task type...).

    Task types raise it with a message for the user; the run is recorded as failed to dispatch.
    """


def job_requests_for(run: "ScheduleRun", *, now: datetime) -> list["JobRequest"]:
    """The jobs one run creates, from its schedule's task type.

    Anything but CannotDispatch from a task type is a bug in it: logged with its traceback, and the
    run fails with a message rather than the pass.
    """
    schedule = run.schedule
    task_type = find(schedule.task_type)
    if task_type is None:
        raise CannotDispatch(f"The task type {schedule.task_type!r} is not installed.")
    try:
        return task_type.job_requests(run, now=now)
    except CannotDispatch:
        raise
    except Exception as exc:
        logger.exception("Task type %s failed to create the jobs of schedule %s", schedule.task_type, schedule.pk)
        raise CannotDispatch(f"The task type failed to create its jobs: {exc.__class__.__name__}: {exc}") from exc
