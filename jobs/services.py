"""Writing jobs: create the durable record, then queue its id on django-q2."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction

from jobs import queue, registry
from jobs.models import Job, JobPriority


@dataclass(frozen=True)
class JobRequest:
    """A job to create, before it has a row."""

    job_type: str
    params: dict = field(default_factory=dict)
    priority: int = JobPriority.NORMAL


def _new_job(request: JobRequest, *, now: datetime) -> Job:
    handler = registry.get(request.job_type)
    job = Job(
        job_type=request.job_type,
        params=request.params,
        priority=request.priority,
        created_at=now,
        available_at=now,
    )
    if handler:
        job.max_retries = handler.max_retries
        job.time_limit_seconds = handler.time_limit_seconds
    return job


def job_create_many(*, requests: list[JobRequest], now: datetime) -> list[Job]:
    """Create queued jobs in one batch and send them to the queue when the transaction commits.

    Called inside the caller's transaction when the jobs belong to other writes (a schedule
    run), the jobs and their queue messages commit with those writes.
    """
    with transaction.atomic():
        jobs = Job.objects.bulk_create([_new_job(r, now=now) for r in requests])
        queue.send_with_commit([job.pk for job in jobs], now=now)
    return jobs


def job_enqueue(*, job_type: str, params: dict | None = None, now: datetime,
                priority: int = JobPriority.NORMAL) -> Job:
    [job] = job_create_many(requests=[JobRequest(job_type, params or {}, priority)], now=now)
    return job
