"""History that stays small, the jobs' part: finished jobs and django-q2's own rows, older than a cutoff.

Deleted a batch at a time (one short transaction each: a short write lock on SQLite), walking the table
by id from where the previous batch stopped, so rows that must stay are read once per round, not once
per batch. The scheduling app runs the rounds (scheduling/history.py).

Jobs still needed are kept: an active job is never a candidate (only completed, failed and cancelled
ones are), and apps name the old finished jobs they still need through a keeper registered in their
`AppConfig.ready()` (backups: the jobs that made a backup whose file still exists). The caller may add
one of its own (scheduling: a job stays while a run of its stays), since `jobs` knows nothing of runs.

django-q2 keeps little of its own: our messages ask it to save no result (`save=False`), and
`save_limit` caps the results it does save (the safety-net schedule's successes). What grows is its
failures (a task killed at its time limit, say), which it keeps forever, and queue messages no cluster
ever took (a cluster renamed, a job long gone): both are pruned past the cutoff.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import NamedTuple

from django.db import transaction
from django_q.models import OrmQ, Task

from jobs.models import Job, JobStatus

FINISHED_STATUSES = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)

# Given candidate job ids, the ones to keep.
Keeper = Callable[[list[int]], Iterable[int]]
_keepers: list[Keeper] = []


def keep_jobs(keeper: Keeper) -> Keeper:
    """Register a keeper (in an app's `ready()`): old finished jobs it names are never pruned."""
    if keeper not in _keepers:
        _keepers.append(keeper)
    return keeper


def kept_jobs(job_ids: list[int]) -> set[int]:
    """Of these jobs, those a registered keeper still needs."""
    kept: set[int] = set()
    for keeper in _keepers:
        kept.update(keeper(job_ids) if job_ids else ())
    return kept


class Batch(NamedTuple):
    deleted: int
    # Where the next batch starts (the last id looked at); None when nothing older is left.
    last_id: int | None


def jobs_prune_batch(*, before: datetime, after_id: int, batch_size: int, also_keep: Keeper | None = None) -> Batch:
    """Delete up to `batch_size` jobs finished before `before`, with ids above `after_id`, but those kept."""
    ids = list(Job.objects.filter(pk__gt=after_id, status__in=FINISHED_STATUSES, finished_at__lt=before)
               .order_by("pk").values_list("pk", flat=True)[:batch_size])
    if not ids:
        return Batch(0, None)
    keep = kept_jobs(ids) | set(also_keep(ids) if also_keep else ())
    doomed = [pk for pk in ids if pk not in keep]
    deleted = 0
    if doomed:
        with transaction.atomic():
            # Still finished: a job retried by hand since it was read is active again and stays.
            deleted = Job.objects.filter(pk__in=doomed, status__in=FINISHED_STATUSES).delete()[1].get(Job._meta.label, 0)
    return Batch(deleted, ids[-1] if len(ids) == batch_size else None)


def queue_history_prune_batch(*, before: datetime, batch_size: int) -> Batch:
    """Delete up to `batch_size` of django-q2's task results (its failures, mostly) that stopped before
    `before`, or else of its queue messages last locked (written or handed out) before it."""
    for model, field in ((Task, "stopped"), (OrmQ, "lock")):
        ids = list(model.objects.filter(**{f"{field}__lt": before}).values_list("pk", flat=True)[:batch_size])
        if ids:
            with transaction.atomic():
                deleted = model.objects.filter(pk__in=ids).delete()[0]
            return Batch(deleted, 0)  # more may be left: the caller asks again
    return Batch(0, None)
