"""Housekeeping the scheduler process runs on every pass (and the cluster's safety net every minute).

- Release waiting retries whose backoff has passed: back to queued, and sent.
- Reap running jobs far past their time limit: their worker was killed or lost.
- The outbox: send again queued jobs whose message never went out or was lost.
- Announce again jobs whose announcement is overdue: their worker died between its commit and the
  announcement, or a listener raised.
- Then `jobs_maintained`: whoever follows jobs settles what still waits on jobs that are all final.

Each step is safe to run from several processes at once: rows change by compare-and-set, and a
message sent twice is claimed once. Idle passes only read (through indexes) and take no write lock.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import transaction

from jobs import conf, queue, services
from jobs.models import Job, JobStatus
from jobs.signals import jobs_maintained

logger = logging.getLogger(__name__)


def jobs_maintain(*, now: datetime) -> dict[str, int]:
    report = {
        "released": jobs_release_due_retries(now=now),
        "reaped": jobs_reap_lost(now=now),
        "resent": jobs_resend_unsent(now=now),
        "announced again": jobs_announce_overdue(now=now),
        "settled": _followers_settle(now=now),
    }
    if any(report.values()):
        logger.info("Job maintenance: %s", ", ".join(f"{n} {what}" for what, n in report.items()))
    return report


def _batch_size() -> int:
    return int(conf.get("JOBS_MAINTENANCE_BATCH_SIZE"))


def jobs_release_due_retries(*, now: datetime) -> int:
    """Queue and send every job whose retry is due; return how many."""
    due = Job.objects.filter(status=JobStatus.RETRY_WAIT, available_at__lte=now)
    released = 0
    while due.exists():
        with transaction.atomic():
            # PostgreSQL: two schedulers split the rows between them. SQLite: the IMMEDIATE
            # transaction serialises writers, so what is read here is still waiting.
            jobs = list(
                due.select_for_update(skip_locked=True).order_by("available_at", "pk")
                .only("pk", "time_limit_seconds")[: _batch_size()]
            )
            if not jobs:
                break
            Job.objects.filter(pk__in=[job.pk for job in jobs], status=JobStatus.RETRY_WAIT).update(
                status=JobStatus.QUEUED, enqueued_at=None
            )
            queue.send_with_commit(jobs, now=now)
        released += len(jobs)
    return released


def jobs_reap_lost(*, now: datetime) -> int:
    """Fail (or retry) attempts still `running` well past their time limit; return how many."""
    margin = conf.seconds("JOBS_REAP_MARGIN_SECONDS")
    reaped = 0
    # Few rows: at most one running job per worker process.
    for job in Job.objects.filter(status=JobStatus.RUNNING):
        limit = timedelta(seconds=job.time_limit_seconds)
        if job.started_at is None or now < job.started_at + limit + margin:
            continue
        elapsed = now - job.started_at
        error = (
            f"Attempt {job.attempts} was still marked running {_seconds(elapsed)} after it started on "
            f"{job.worker or 'an unknown worker'}, past its time limit of {_seconds(limit)} "
            f"(plus {_seconds(margin)} of grace): its worker was killed or lost, or it hung."
        )
        status = services.job_attempt_failed(job=job, error=error, now=now, outcome="lost")
        if status is not None:
            reaped += 1
            logger.warning("Job %s reaped (%s): %s", job.pk, status, error)
    return reaped


def jobs_resend_unsent(*, now: datetime) -> int:
    """The outbox: send queued jobs that were never sent, or whose message was lost.

    A message is lost when the process died between commit and send (Redis: the job was never
    sent), when a worker took it and died before claiming it (the ORM broker hides it until
    django-q2's `retry`; Redis forgets it), or with the broker itself (Redis restarted without its
    data). Only the first is seen on the row; the others are told apart from a backlog by the
    broker (`_lost`), so that a message still waiting is never sent twice; should that misjudge, a
    second delivery is harmless.
    """
    batch = _batch_size()
    queued = Job.objects.filter(status=JobStatus.QUEUED).only("pk", "time_limit_seconds", "enqueued_at")
    grace = conf.seconds("JOBS_NEVER_SENT_GRACE_SECONDS")
    never_sent = list(queued.filter(enqueued_at__isnull=True, available_at__lte=now - grace).order_by("pk")[:batch])
    jobs = never_sent + _lost(queued, now=now, limit=batch)
    if not jobs:
        return 0
    logger.warning("Sending again %d queued job(s) no worker picked up: %s", len(jobs),
                   ", ".join(f"#{job.pk}" for job in jobs[:20]))
    return queue.resend(jobs, now=now)


def _lost(queued, *, now: datetime, limit: int) -> list[Job]:
    """Queued jobs sent a while ago whose message is gone, as far as the broker and clusters can tell.

    Two rules, each safe with a long backlog:

    - Sent more than JOBS_RESEND_AFTER_SECONDS ago (5 min) while the broker holds no message at all.
    - Sooner, sent more than JOBS_RESEND_LOST_AFTER_SECONDS ago (30 s): when no worker cluster has a
      message in hand (an idle cluster takes a waiting message within a poll), every such job should
      still have its message waiting in the broker, so if it holds fewer, the difference is lost and
      that many of the oldest are sent again. The clusters are read first, then the broker, then the
      rows: a message that moves meanwhile moves from uncounted to counted, never the other way, and
      the broker's count includes messages of newer jobs (and duplicates), which only lowers the
      estimate. A busy cluster (a backlog) waits for the first rule or for its queue to drain.
    """
    sent_before = now - conf.seconds("JOBS_RESEND_LOST_AFTER_SECONDS")
    candidates = queued.filter(enqueued_at__lt=sent_before).order_by("enqueued_at", "pk")
    if not candidates.exists():
        return []  # the usual answer, from the index: no broker or cluster is asked
    clusters = queue.alive_clusters()
    in_hand = None if clusters is None else queue.messages_in_hand(clusters)
    waiting = queue.waiting_messages()
    if waiting is None:
        return []
    long_ago = now - conf.seconds("JOBS_RESEND_AFTER_SECONDS")
    if waiting == 0 and candidates.filter(enqueued_at__lt=long_ago).exists():
        return list(candidates.filter(enqueued_at__lt=long_ago)[:limit])
    if in_hand != 0:
        return []
    missing = candidates.count() - waiting
    if missing <= 0:
        return []
    logger.warning("The broker holds %d message(s) for %d job(s) queued before %s, and no worker has one in "
                   "hand: %d message(s) were lost.", waiting, waiting + missing, sent_before, missing)
    return list(candidates[:min(missing, limit)])


def jobs_announce_overdue(*, now: datetime) -> int:
    """Announce again jobs still marked "to announce" past their mark; return how many were announced.

    A small batch per step. Each job is claimed with a compare-and-set on its mark, which moves the
    mark a few seconds on: two schedulers never announce the same job at the same moment, and a job
    whose announcement fails again (a listener still raising) comes back after those seconds. The
    batch is announced at once (one transaction, one clearing UPDATE); if a listener raises, each
    job is announced alone, so only the one it raised for keeps its mark.
    """
    candidates = list(
        Job.objects.filter(announce_due_at__lte=now).order_by("announce_due_at", "pk")
        .only("pk", "job_type", "params", "status", "announce_due_at")[: int(conf.get("JOBS_ANNOUNCE_BATCH_SIZE"))]
    )
    if not candidates:
        return 0
    jobs = claim_announcements(candidates, until=now + conf.seconds("JOBS_ANNOUNCE_AGAIN_AFTER_SECONDS"))
    if not jobs:
        return 0
    logger.warning("Announcing again %d job(s) whose announcement did not complete (their worker died after its "
                   "commit, or a listener raised): %s", len(jobs), ", ".join(f"#{job.pk}" for job in jobs[:20]))
    if services.jobs_announce(jobs=jobs):
        return len(jobs)
    return 0 if len(jobs) == 1 else sum(services.jobs_announce(jobs=[job]) for job in jobs)


def claim_announcements(jobs: list[Job], *, until: datetime) -> list[Job]:
    """Claim the jobs for announcing, as read: each mark moves to `until` only if it is still the one
    read (a compare-and-set), so a job another scheduler claimed (or a worker announced) meanwhile
    is left out. One transaction for the batch; returns the jobs claimed, their marks updated."""
    with transaction.atomic():
        claimed = [job for job in jobs
                   if Job.objects.filter(pk=job.pk, announce_due_at=job.announce_due_at).update(announce_due_at=until)]
    for job in claimed:
        job.announce_due_at = until
    return claimed


def _followers_settle(*, now: datetime) -> int:
    """Send `jobs_maintained`; return how many things its listeners settled (the ints they return)."""
    settled = 0
    for receiver, response in jobs_maintained.send_robust(sender=Job, now=now):
        if isinstance(response, Exception):
            # Its traceback is logged by send_robust itself (logger django.dispatch).
            logger.error("A listener (%s) of jobs_maintained raised (%s: %s); the next step tries again.",
                         services.listener_name(receiver), type(response).__name__, response)
        elif isinstance(response, int):
            settled += response
    return settled


def _seconds(delta: timedelta) -> str:
    return f"{delta.total_seconds():.0f} s"
