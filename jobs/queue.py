"""The only place that talks to django-q2's queue. Messages carry a job id, nothing else."""

from __future__ import annotations

import logging
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django_q.brokers import get_broker
from django_q.tasks import async_task

from jobs.models import Job, JobStatus

logger = logging.getLogger(__name__)

EXECUTE = "jobs.runner.execute"


def uses_orm_broker() -> bool:
    return "orm" in settings.Q_CLUSTER


def send_with_commit(job_ids: list[int], *, now: datetime) -> None:
    """Send the jobs' messages so that they go out exactly when the jobs' rows are committed.

    With the ORM broker the message is a row in the same database, written in the caller's
    transaction: both commit or neither does. With Redis the message goes out right after the
    commit; should the process die in between, the jobs stay queued and the outbox sends them
    again (the runner's claim makes a second delivery harmless).
    """
    if not job_ids:
        return
    if uses_orm_broker():
        with transaction.atomic():
            _send(job_ids, now=now)
    else:
        transaction.on_commit(lambda: _send(job_ids, now=now))


def _send(job_ids: list[int], *, now: datetime) -> None:
    broker = get_broker()
    for job_id in job_ids:
        async_task(EXECUTE, job_id, task_name=f"job-{job_id}", broker=broker)
    Job.objects.filter(pk__in=job_ids, status=JobStatus.QUEUED).update(enqueued_at=now)


def resend(job_ids: list[int], *, now: datetime) -> None:
    """Outbox: send again jobs left queued that no worker picked up."""
    for job_id in job_ids:
        try:
            _send([job_id], now=now)
        except Exception:
            logger.exception("Could not queue job %s; will try again on the next pass", job_id)
