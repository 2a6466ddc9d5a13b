"""Job handlers: what a job of each type does.

`jobs` knows nothing about backups or channels; those apps register their handlers in their
`AppConfig.ready()`. A handler is a plain function taking the Job and returning a JSON-able result
(counts, a file name...) or raising to fail the attempt. Raising `PermanentJobError` fails the job at
once: a retry cannot fix params the handler rejects, or a job type no worker knows.

A handler whose work ends in a transaction of its own may record its success in that transaction
(`jobs.services.job_attempt_succeeded`), so that its writes and the job's completion commit together:
one commit fewer per job, and no moment where the work is done but the job still running. The
runner then has nothing left to write.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from jobs.models import Job


@dataclass(frozen=True)
class JobHandler:
    job_type: str
    label: str
    run: Callable[["Job"], Any]
    time_limit_seconds: int = 3600
    max_retries: int = 3


class PermanentJobError(Exception):
    """The job can never succeed as it is (bad params, a missing object...): fail it without retries.

    The message is shown to the user as the job's error, so it should say what is wrong.
    """


_handlers: dict[str, JobHandler] = {}


def register(handler: JobHandler) -> None:
    if handler.job_type in _handlers and _handlers[handler.job_type] != handler:
        raise ValueError(f"Job type {handler.job_type!r} is registered twice.")
    _handlers[handler.job_type] = handler


def get(job_type: str) -> JobHandler | None:
    return _handlers.get(job_type)


def label(job_type: str) -> str:
    handler = _handlers.get(job_type)
    return handler.label if handler else job_type.replace("_", " ").title()


def job_types() -> list[str]:
    return sorted(_handlers)
