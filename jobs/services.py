"""Writing jobs: create the durable record, queue its id on django-q2, and move it through its states.

Every state change is a compare-and-set (`filter(pk=..., status=...).update(...)`, acting only if a
row changed), so a worker, the reaper, the maintenance pass and a user clicking Cancel can race
without any of them overwriting what another has decided.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Case, F, TextField, Value, When
from django.db.models.functions import Concat, Greatest

from jobs import conf, queue, registry
from jobs.events import log_outcome
from jobs.models import ACTIVE_STATUSES, CANCELLABLE_STATUSES, RETRYABLE_STATUSES, Job, JobPriority, JobStatus
from jobs.signals import job_status_changed

logger = logging.getLogger(__name__)


class JobStateError(Exception):
    """The job is not in a state that allows the action; the message says why, for the user."""


@dataclass(frozen=True)
class JobRequest:
    """A job to create, before it has a row."""

    job_type: str
    params: dict = field(default_factory=dict)
    priority: int = JobPriority.NORMAL
    # What caused the job, in words, and a link to it (see Job.origin_label).
    origin_label: str = ""
    origin_url: str = ""
    # Something waits for its end (see Job.followed): a schedule run, a group sync.
    followed: bool = False


def _new_job(request: JobRequest, *, now: datetime, enqueued_at: datetime | None) -> Job:
    handler = registry.get(request.job_type)
    job = Job(
        job_type=request.job_type,
        params=request.params,
        priority=request.priority,
        origin_label=request.origin_label,
        origin_url=request.origin_url,
        followed=request.followed,
        created_at=now,
        available_at=now,
        enqueued_at=enqueued_at,
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
    # With the ORM broker the messages are written in this transaction, so the rows can say
    # "sent" from the start (one UPDATE fewer per batch). With Redis they say so once sent.
    sent_on_insert = now if queue.uses_orm_broker() else None
    with transaction.atomic():
        jobs = Job.objects.bulk_create([_new_job(r, now=now, enqueued_at=sent_on_insert) for r in requests])
        queue.send_with_commit(jobs, now=now, mark_enqueued=sent_on_insert is None)
    return jobs


def job_enqueue(*, job_type: str, params: dict | None = None, now: datetime,
                priority: int = JobPriority.NORMAL, origin_label: str = "", origin_url: str = "") -> Job:
    [job] = job_create_many(requests=[JobRequest(job_type, params or {}, priority, origin_label, origin_url)],
                            now=now)
    return job


def _announce_due(job: Job, now: datetime) -> datetime | None:
    """The mark a final write sets on a followed job: when the scheduler's step announces it again,
    unless the process that wrote it has announced it by then."""
    return now + conf.seconds("JOBS_ANNOUNCE_AGAIN_AFTER_SECONDS") if job.followed else None


def _announce(job: Job) -> None:
    """Tell listeners (schedule runs...) that the job finished or was queued again, once committed.

    The write that got here marked a followed job (`announce_due_at`, set on the instance too):
    should this process die before the announcement, or a listener raise, the mark stays and the
    scheduler's step announces the job again (jobs.maintenance.jobs_announce_overdue).
    """
    jobs = [job]
    # robust: whatever goes wrong here, the committed write stands and the mark says what is left.
    transaction.on_commit(lambda: jobs_announce(jobs=jobs), robust=True)


def jobs_announce(*, jobs: Sequence[Job]) -> bool:
    """Send `job_status_changed` for these jobs, then clear their marks if no listener raised.

    The listeners' writes and the clearing commit together, in one transaction: one write lock per
    announcement (on SQLite), however many jobs it names, and no moment where the run has followed
    its jobs but the jobs still say it has not (or the other way round). A listener that raised
    leaves the marks (its traceback is logged), so the step announces the jobs again; what the other
    listeners wrote stands. Listeners are idempotent: hearing of a job twice changes nothing more.
    Returns whether the marks were cleared.
    """
    jobs = list(jobs)
    if not jobs:
        return True
    ids = _ids_text(jobs)
    if all(job.announce_due_at is None for job in jobs):
        # Nobody waits for these (no mark): no transaction, so no write lock unless a listener writes.
        return _tell_listeners(jobs, ids=ids, then="nothing announces them again: no one waits for them")
    try:
        with transaction.atomic():
            if not _tell_listeners(jobs, ids=ids, then="the scheduler's step announces them again once their mark "
                                                       "is due"):
                return False
            _clear_marks(jobs)
    except Exception:
        logger.exception("Could not announce job(s) %s; the scheduler's step announces them again.", ids)
        return False
    return True


def _tell_listeners(jobs: list[Job], *, ids: str, then: str) -> bool:
    responses = job_status_changed.send_robust(sender=Job, jobs=jobs)
    failures = [(receiver, error) for receiver, error in responses if isinstance(error, Exception)]
    for receiver, error in failures:
        # Its traceback is logged by send_robust itself (logger django.dispatch).
        logger.error("A listener (%s) raised while job(s) %s were announced (%s: %s); %s.", listener_name(receiver),
                     ids, type(error).__name__, error, then)
    return not failures


def _clear_marks(jobs: Sequence[Job]) -> None:
    """Clear each mark only while it is still the one announced (a compare-and-set): a job claimed
    for announcing again meanwhile, or made final again, keeps the newer mark for its own announcement."""
    by_mark: dict[datetime, list[int]] = {}
    for job in jobs:
        if job.announce_due_at is not None:
            by_mark.setdefault(job.announce_due_at, []).append(job.pk)
    for mark, pks in by_mark.items():
        Job.objects.filter(pk__in=pks, announce_due_at=mark).update(announce_due_at=None)
    for job in jobs:
        job.announce_due_at = None


def listener_name(receiver) -> str:
    return f"{getattr(receiver, '__module__', '?')}.{getattr(receiver, '__qualname__', repr(receiver))}"


def _ids_text(jobs: Sequence[Job], limit: int = 20) -> str:
    text = ", ".join(f"#{job.pk}" for job in jobs[:limit])
    return text + (f" and {len(jobs) - limit} more" if len(jobs) > limit else "")


# --- attempts: written by the runner and the reaper ----------------------------------------------


def retry_delay(*, attempt: int) -> timedelta:
    """Exponential backoff after failed attempt number `attempt` (1-based): base, 2x, 4x..., capped."""
    base = float(conf.get("JOBS_RETRY_BACKOFF_SECONDS"))
    cap = float(conf.get("JOBS_RETRY_BACKOFF_MAX_SECONDS"))
    return timedelta(seconds=min(base * 2 ** max(attempt - 1, 0), cap))


def _log_entry(job: Job, *, outcome: str, now: datetime, error: str = "") -> dict:
    return {
        "attempt": job.attempts,
        "worker": job.worker,
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": now.isoformat(),
        "outcome": outcome,
        "error": summarise_error(error),
    }


def summarise_error(error: str) -> str:
    """The line that names the exception: the last non-empty line of a traceback."""
    lines = [line.strip() for line in error.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def _this_attempt(job: Job):
    """The row, only while it is still the attempt `job` describes: running, same attempt number."""
    return Job.objects.filter(pk=job.pk, status=JobStatus.RUNNING, attempts=job.attempts)


def job_attempt_succeeded(*, job: Job, result, now: datetime) -> bool:
    """Record the running attempt's result. False if the attempt was taken over meanwhile (reaped).

    The runner calls this after the handler returns, unless the handler already did, inside the
    transaction of its own last writes (see jobs.registry): on success the instance says completed.
    """
    announce_due_at = _announce_due(job, now)
    succeeded = bool(
        _this_attempt(job).update(
            status=JobStatus.COMPLETED,
            finished_at=now,
            result=result,
            error="",
            attempt_log=[*job.attempt_log, _log_entry(job, outcome="completed", now=now)],
            announce_due_at=announce_due_at,
        )
    )
    if succeeded:
        job.status, job.finished_at, job.result = JobStatus.COMPLETED, now, result
        job.announce_due_at = announce_due_at
        _announce(job)
        log_outcome(job, JobStatus.COMPLETED, now=now)
    return succeeded


def job_attempt_failed(*, job: Job, error: str, now: datetime, outcome: str = "failed",
                       permanent: bool = False) -> JobStatus | None:
    """Record a failed attempt: wait and retry while retries remain, else fail for good.

    A permanent failure (no handler, params the handler rejects) fails at once: no retry can fix it.
    Returns the new status, or None if the attempt was taken over meanwhile (a worker finishing
    just as the reaper gives up on it: whichever writes first decides).
    """
    retries_left = job.attempts <= job.max_retries
    changes = {
        "error": error,
        "attempt_log": [*job.attempt_log, _log_entry(job, outcome=outcome, now=now, error=error)],
    }
    if retries_left and not permanent:
        changes.update(status=JobStatus.RETRY_WAIT, available_at=now + retry_delay(attempt=job.attempts))
    else:
        changes.update(status=JobStatus.FAILED, finished_at=now, failed_permanently=permanent,
                       announce_due_at=_announce_due(job, now))
    if not _this_attempt(job).update(**changes):
        return None
    if changes["status"] == JobStatus.FAILED:
        job.status, job.finished_at = JobStatus.FAILED, now
        job.announce_due_at = changes["announce_due_at"]
        _announce(job)
    log_outcome(job, changes["status"], now=now, error=summarise_error(error), retry_at=changes.get("available_at"))
    return changes["status"]


def job_attempt_handed_back(*, job: Job, now: datetime) -> bool:
    """Put a job whose worker was stopped mid-attempt back in the queue, and send it again.

    The attempt does not count (`attempts` goes back down), so a stop never uses up a retry; the
    attempt log still says what happened. False if the attempt was taken over meanwhile (reaped).
    Not announced: the job goes from one active state to another, so a run it belongs to stays
    dispatched (as with a retry that waits).
    """
    entry = _log_entry(job, outcome="handed back", now=now,
                       error="Its worker was stopped; back in the queue, not counted as an attempt.")
    with transaction.atomic():
        handed_back = bool(
            _this_attempt(job).update(
                status=JobStatus.QUEUED,
                attempts=F("attempts") - 1,
                started_at=None,
                worker="",
                available_at=now,
                enqueued_at=None,
                attempt_log=[*job.attempt_log, entry],
            )
        )
        if handed_back:
            # A fresh message: the one being worked on dies unacknowledged with its worker.
            queue.send_with_commit([job], now=now)
    return handed_back


# --- user actions: the pages, the admin --------------------------------------------------------


def _by(by: str) -> str:
    return f" by {by}" if by else ""


def job_cancel(*, job: Job, now: datetime, by: str = "") -> Job:
    """Cancel a job that has not started yet: queued, or waiting to retry.

    A running job cannot be cancelled (its worker is not interrupted); its message, if still in
    the queue, finds the job cancelled and does nothing. The reason is written ahead of any
    earlier error, so the record keeps both.
    """
    note = f"Cancelled{_by(by)} at {now:%Y-%m-%d %H:%M:%S} UTC."
    changed = Job.objects.filter(pk=job.pk, status__in=CANCELLABLE_STATUSES).update(
        status=JobStatus.CANCELLED,
        finished_at=now,
        announce_due_at=_announce_due(job, now),
        error=Case(
            When(error="", then=Value(note)),
            default=Concat(Value(note + "\n\n"), F("error"), output_field=TextField()),
            output_field=TextField(),
        ),
    )
    job.refresh_from_db()
    if not changed:
        raise JobStateError(
            f"Job #{job.pk} is {job.get_status_display().lower()}; only queued jobs and jobs waiting "
            "to retry can be cancelled."
        )
    _announce(job)
    log_outcome(job, JobStatus.CANCELLED, now=now, by=by)
    return job


def job_retry(*, job: Job, now: datetime) -> Job:
    """Queue a failed or cancelled job again, now.

    A manual retry is one more attempt, not a fresh start: `attempts` keeps counting (the page's
    "Attempts: n of at most m" stays true), and `max_retries` grows only as far as needed to allow that one
    attempt. So a job whose retries were used up gets exactly one more try (no automatic retries
    after it; retry again by hand), and a job cancelled while it still had retries keeps them.
    The last error stays visible until the new attempt starts.
    """
    with transaction.atomic():
        changed = Job.objects.filter(pk=job.pk, status__in=RETRYABLE_STATUSES).update(
            status=JobStatus.QUEUED,
            available_at=now,
            enqueued_at=None,
            finished_at=None,
            failed_permanently=False,
            max_retries=Greatest(F("max_retries"), F("attempts")),
            announce_due_at=_announce_due(job, now),
        )
        job.refresh_from_db()
        if not changed:
            raise JobStateError(
                f"Job #{job.pk} is {job.get_status_display().lower()}; only failed or cancelled jobs can be "
                "retried."
            )
        queue.send_with_commit([job], now=now)
        _announce(job)
    job.refresh_from_db()
    return job


@dataclass(frozen=True)
class Interrupted:
    """A job jobs_interrupt cancelled, and the status it had (queued, running, retry_wait)."""

    job: Job
    was: str


def jobs_interrupt(*, created_until: datetime, now: datetime, reason: str) -> list[Interrupted]:
    """Cancel every active job (queued, running, waiting to retry) created at or before `created_until`,
    with `reason` as its error; return them.

    For work no worker holds any more, whatever its row says: a restored database's jobs were active in
    the copy, and the workers that held them are gone (backups.services.aftermath). A running one is
    cancelled too (unlike job_cancel): its attempt is logged as interrupted, and a worker that should still
    be on it records nothing (its writes are conditional on the attempt). Each job is a compare-and-set
    on its status and attempt; the runs waiting for them hear of it in one announcement.
    """
    interrupted = []
    with transaction.atomic():
        for job in Job.objects.filter(status__in=ACTIVE_STATUSES, created_at__lte=created_until).order_by("pk"):
            changes = {"status": JobStatus.CANCELLED, "finished_at": now, "error": reason,
                       "announce_due_at": _announce_due(job, now)}
            if job.status == JobStatus.RUNNING:
                changes["attempt_log"] = [*job.attempt_log,
                                          _log_entry(job, outcome="interrupted", now=now, error=reason)]
            if not Job.objects.filter(pk=job.pk, status=job.status, attempts=job.attempts).update(**changes):
                continue  # it moved on meanwhile: whoever moved it decides
            interrupted.append(Interrupted(job=job, was=job.status))
            for field_name, value in changes.items():
                setattr(job, field_name, value)
            log_outcome(job, JobStatus.CANCELLED, now=now, error=summarise_error(reason))
        if interrupted:
            announced = [item.job for item in interrupted]
            transaction.on_commit(lambda: jobs_announce(jobs=announced), robust=True)
    return interrupted
