"""Task types: what a schedule can run.

`scheduling` knows nothing about backups or channels. Each app registers its task types in its
`AppConfig.ready()`; a task type says how to validate its params and which jobs one run creates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from django.core.exceptions import ValidationError

if TYPE_CHECKING:
    from jobs.services import JobRequest
    from scheduling.models import ScheduledTask


@dataclass(frozen=True)
class TaskType:
    name: str
    label: str
    # Returns the params completed with defaults, or raises ValidationError with messages
    # that name the parameter ("group_id: ...").
    clean_params: Callable[[dict], dict]
    # Turns one run of a schedule into the jobs it creates (not yet saved).
    job_requests: Callable[["ScheduledTask"], list["JobRequest"]]
    default_params: dict = field(default_factory=dict)


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


def names() -> list[str]:
    return sorted(_task_types)


def choices() -> list[tuple[str, str]]:
    return [(t.name, t.label) for t in sorted(_task_types.values(), key=lambda t: t.name)]


class CannotDispatch(Exception):
    """A run of the schedule cannot say which jobs it wants (a deleted group, an uninstalled task type...)."""


def job_requests_for(schedule: "ScheduledTask") -> list["JobRequest"]:
    """The jobs one run of the schedule creates; the one place both the pass and "Run now" ask."""
    try:
        return get(schedule.task_type).job_requests(schedule)
    except Exception as exc:
        raise CannotDispatch(f"Could not create jobs: {exc}") from exc


def jobs_created_message(count: int) -> str:
    return f"{count} job{'s' if count != 1 else ''} created."


def reject_unknown_params(params: dict, known: set[str]) -> None:
    if not isinstance(params, dict):
        raise ValidationError("Parameters must be a JSON object.")
    unknown = sorted(set(params) - known)
    if unknown:
        raise ValidationError(
            [f"{key}: unknown parameter (allowed: {', '.join(sorted(known))})." for key in unknown]
        )
