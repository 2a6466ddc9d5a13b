"""What django-q2 runs in a worker: one attempt of one job.

The queue message carries only the job id. The attempt starts with a compare-and-set claim
(queued -> running), so a second delivery of the same message, or a message for a job cancelled
meanwhile, changes nothing and runs nothing. No transaction is held while the handler works; the
writes after it are conditional on the row still being this attempt, because the reaper may have
given up on it in the meantime.

A worker told to stop (SIGTERM) while it runs a job hands the job back to the queue instead of
dying mid-attempt: see `WorkerStopping`.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import traceback
from contextlib import contextmanager

from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import F
from django.utils import timezone
from django_q.exceptions import TimeoutException

from common.processes import process_name
from jobs import registry, services
from jobs.models import Job, JobStatus

logger = logging.getLogger(__name__)


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


class WorkerStopping(SystemExit):
    """Raised in a job's handler when its worker process gets SIGTERM: the worker ends after handing
    the job back to the queue (`services.job_attempt_handed_back`).

    django-q2 leaves SIGTERM at its default in the cluster's processes, so a SIGTERM sent to the
    whole process group (honcho on Ctrl-C, systemd once the stop's grace has passed, `docker stop`)
    would end the attempt mid-way and leave the job `running` until the reaper failed it, one of
    its attempts spent. A SystemExit, so that handlers catching Exception let it through and
    django-q2's worker, which catches Exception, ends.
    """

    def __init__(self):
        super().__init__(128 + signal.SIGTERM)


class _StopSignal:
    """While a worker executes a job: SIGTERM raises WorkerStopping inside the handler, and is held
    back (noted) while the attempt is claimed or recorded, so no write is cut in half."""

    def __init__(self):
        self.requested = False
        self._interruptible = False

    def __call__(self, signum, frame):
        self.requested = True
        if self._interruptible:
            raise WorkerStopping

    @contextmanager
    def interruptible(self):
        self._interruptible = True
        try:
            if self.requested:  # came while the job was being claimed
                raise WorkerStopping
            yield
        finally:
            self._interruptible = False


@contextmanager
def _stop_signal():
    stop = _StopSignal()
    # Signal handlers can only be set in the main thread (django-q2 runs tasks there; sync mode in
    # a test's other thread just goes without).
    previous = signal.signal(signal.SIGTERM, stop) if threading.current_thread() is threading.main_thread() else None
    try:
        yield stop
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def execute(job_id: int) -> str:
    with _stop_signal() as stop:
        outcome = _execute(job_id, stop)
    if stop.requested:
        logger.info("Worker %s stopping (SIGTERM) after job %s: %s.", process_name(), job_id, outcome)
        raise WorkerStopping
    return outcome


def _execute(job_id: int, stop: _StopSignal) -> str:
    worker = process_name()
    job = claim(job_id, worker=worker, now=timezone.now())
    if job is None:
        logger.info("Job %s not claimed: it is no longer queued (a second delivery, or cancelled).", job_id)
        return "not claimed"
    logger.info("Job %s started: %s, attempt %s", job.pk, job.job_type, job.attempts, extra={
        "event": "job_start", "job_id": job.pk, "job_type": job.job_type, "attempt": job.attempts, "worker": worker})

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
        with stop.interruptible():
            result = as_json(handler.run(job))
    except WorkerStopping:
        if not services.job_attempt_handed_back(job=job, now=timezone.now()):
            logger.warning("Job %s attempt %s was stopped after it was taken over (reaped).", job.pk, job.attempts)
            return "stopped after it was taken over"
        return "handed back to the queue"
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

    if job.status == JobStatus.COMPLETED:
        return "completed"  # the handler recorded it with its own last writes (see jobs.registry)
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
