"""Job handlers: what a job of each type does.

`jobs` knows nothing about backups or channels; those apps register their handlers in their
`AppConfig.ready()`. A handler is a plain function taking the Job and returning a JSON-able result
(counts, a file name...) or raising to fail the attempt. Raising `PermanentJobError` fails the job at
once: a retry cannot fix params the handler rejects, or a job type no worker knows.

A handler whose work ends in a transaction of its own may record its success in that transaction
(`jobs.services.job_attempt_succeeded`), so that its writes and the job's completion commit together:
one commit fewer per job, and no moment where the work is done but the job still running. The
runner then has nothing left to write.

The pages name what a job works on without `jobs` knowing it: a handler may say how (`describe`:
the subjects of a whole page of its jobs at once, so the page costs the same few queries however
many jobs it shows; `search`: which of its jobs a search text names). Values in results link to
what they stand for through `register_link` ("backup_id" to the backup), registered by the app
that knows the link.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from django.db.models import Q

    from jobs.models import Job


@dataclass(frozen=True)
class Subject:
    """Something a job is about, as the pages name and link it: role "Channel", name "Legal Eagle",
    url "/channels/5" (empty: shown without a link, e.g. a channel deleted since)."""

    role: str
    name: str
    url: str = ""


@dataclass(frozen=True)
class JobHandler:
    job_type: str
    label: str
    run: Callable[["Job"], Any]
    time_limit_seconds: int = 3600
    max_retries: int = 3
    # The subjects of each of the given jobs (all of this type), {job id: [Subject, ...]}, read in a
    # fixed number of queries whatever the number of jobs.
    describe: Callable[[Sequence["Job"]], dict[int, list[Subject]]] | None = None
    # The condition on Job rows (of this type) whose subjects a search text names, or None if none.
    search: Callable[[str], "Q | None"] | None = None


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


def handlers() -> list[JobHandler]:
    return [_handlers[name] for name in sorted(_handlers)]


_links: dict[str, Callable[[Any], Subject | None]] = {}


def register_link(key: str, link: Callable[[Any], Subject | None]) -> None:
    """A job result's value under `key` stands for something with a page: `link(value)` names and
    links it (None for a value it does not know, such as one of the wrong type)."""
    if key in _links and _links[key] is not link:
        raise ValueError(f"A link for {key!r} is registered twice.")
    _links[key] = link


def links(result) -> list[Subject]:
    """What a job's result links to: its top-level values under registered keys."""
    if not isinstance(result, dict):
        return []
    found = (_links[key](value) for key, value in result.items() if key in _links)
    return [subject for subject in found if subject is not None]
