"""What django-q2 runs in a worker: one attempt of one job.

The queue message carries only the job id. The attempt starts with a compare-and-set claim
(queued -> running), so a second delivery of the same message, or a message for a job cancelled
meanwhile, changes nothing and runs nothing. No transaction is held while the handler works; the
writes after it are conditional on the row still being this attempt, because the reaper may have
given up on it in the meantime.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import traceback

from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import F
from django.utils import timezone
from django_q.exceptions import TimeoutException

from jobs import registry, services
from jobs.models import Job, JobStatus

logger = logging.getLogger(__name__)


def process_name() -> str:
    """host:pid, how workers and schedulers name themselves in job rows and heartbeats."""
    return f"{socket.gethostname()}:{os.getpid()}"


def claim(job_id: int, *, worker: str, now) -> Job | None:
    """Start an attempt if the job is still queued; None if another delivery or a cancel came first.

    Only the status decides: a queued job is always due (waiting retries sit in RETRY_WAIT), and
    comparing `available_at` with this machine's clock would strand jobs on a worker whose
    clock runs a little behind the one that queued them.
    """
    claimed = Job.objects.filter(pk=job_id, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING,
        started_at=now,
        finished_at=None,
        attempts=F("attempts") + 1,
        worker=worker,
        error="",
    )
    return Job.objects.get(pk=job_id) if claimed else None


def execute(job_id: int) -> str:
    worker = process_name()
    job = claim(job_id, worker=worker, now=timezone.now())
    if job is None:
        logger.info("Job %s not claimed: it is no longer queued (a second delivery, or cancelled).", job_id)
        return "not claimed"

    handler = registry.get(job.job_type)
    if handler is None:
        known = ", ".join(registry.job_types()) or "none"
        services.job_attempt_failed(
            job=job,
            error=f"No handler is registered for job type {job.job_type!r} on worker {worker} (known: {known}).",
            now=timezone.now(),
            permanent=True,
        )
        return "failed: unknown job type"

    try:
        result = as_json(handler.run(job))
    except TimeoutException:
        # django-q2 stops the task at the job's time limit (SIGALRM) and then replaces the worker.
        services.job_attempt_failed(
            job=job,
            error=f"Time limit of {job.time_limit_seconds} s exceeded; the attempt was stopped.\n\n"
                  f"{traceback.format_exc()}",
            now=timezone.now(),
            outcome="timed out",
        )
        raise
    except registry.PermanentJobError as exc:
        services.job_attempt_failed(job=job, error=str(exc) or exc.__class__.__name__, now=timezone.now(),
                                    permanent=True)
        return f"attempt {job.attempts} failed permanently"
    except Exception:
        status = services.job_attempt_failed(job=job, error=traceback.format_exc(), now=timezone.now())
        if status is None:
            logger.warning("Job %s attempt %s failed after it was taken over; its error was not recorded.",
                           job.pk, job.attempts)
        return f"attempt {job.attempts} failed"

    if not services.job_attempt_succeeded(job=job, result=result, now=timezone.now()):
        logger.warning("Job %s attempt %s finished after it was taken over (reaped); its result was discarded.",
                       job.pk, job.attempts)
        return "result discarded"
    return "completed"


def as_json(result):
    """The handler's result as plain JSON (dates, decimals and UUIDs become strings).

    Raises TypeError for anything else, which fails the attempt with a message naming the type.
    """
    if result is None or isinstance(result, (str, int, float, bool)):
        return result
    return json.loads(json.dumps(result, cls=DjangoJSONEncoder))
