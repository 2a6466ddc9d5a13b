"""The only place that talks to django-q2's queue. Messages carry a job id, nothing else."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime

from django.conf import settings
from django.core.cache import caches
from django.db import transaction
from django.utils import timezone
from django_q.brokers import Broker, get_broker
from django_q.conf import Conf
from django_q.models import OrmQ
from django_q.signals import pre_enqueue
from django_q.signing import BadSignature, SignedPackage
from django_q.tasks import async_task

from jobs.models import Job, JobStatus

logger = logging.getLogger(__name__)

EXECUTE = "jobs.runner.execute"


def uses_orm_broker() -> bool:
    return "orm" in settings.Q_CLUSTER


def send_with_commit(jobs: Sequence[Job], *, now: datetime, mark_enqueued: bool = True) -> None:
    """Send the jobs' messages so that they go out exactly when the jobs' rows are committed.

    With the ORM broker the message is a row in the same database, written in the caller's
    transaction: both commit or neither does. With Redis the message goes out right after the
    commit; should the process die in between (or Redis be down), the jobs stay queued with no
    `enqueued_at` and the outbox sends them again (the runner's claim makes a second delivery
    harmless). `mark_enqueued=False` when the rows already carry `enqueued_at` (set on insert).
    """
    if not jobs:
        return
    if uses_orm_broker():
        with transaction.atomic():
            _send(jobs, now=now, mark_enqueued=mark_enqueued)
    else:
        # robust: a broker outage must not turn the committed write into an error; the outbox resends.
        transaction.on_commit(lambda: _send(jobs, now=now, mark_enqueued=True), robust=True)


def message_timeout(job: Job) -> int:
    """django-q2 stops the task at the job's time limit, but never later than its own timeout,
    which is what keeps it below `retry` (so the broker never hands a running task out again)."""
    cluster_timeout = Conf.TIMEOUT or job.time_limit_seconds
    return max(1, min(job.time_limit_seconds, cluster_timeout))


def _send(jobs: Sequence[Job], *, now: datetime, mark_enqueued: bool) -> None:
    broker = get_broker()
    if uses_orm_broker() and len(jobs) > 1 and not Conf.SYNC:
        _write_orm_messages(jobs, broker=broker)
    else:
        for job in jobs:
            # save=False: django-q2 keeps no record of successful runs; the Job row is the record.
            # Failures it still records (a time limit that killed the task, say).
            async_task(EXECUTE, job.pk, task_name=f"job-{job.pk}", broker=broker,
                       timeout=message_timeout(job), save=False)
    if mark_enqueued:
        Job.objects.filter(pk__in=[job.pk for job in jobs], status=JobStatus.QUEUED).update(enqueued_at=now)


def _write_orm_messages(jobs: Sequence[Job], *, broker) -> None:
    """The messages `async_task` would write, one INSERT for all of them.

    The INSERT is the ORM's (`OrmQ.objects.bulk_create`); what is written by hand is the package
    `async_task` would build, built from django-q2's own parts exactly as `async_task` builds it.
    What that buys (docs/benchmarks.md, "What the bypasses buy"): in a scheduler pass with 1,000
    due windows, `async_task` per job spent 3.9x as long writing the messages (300.8 ms against
    77.5 ms, 38 % of the pass). Against django-q2 upgrades, tests/jobs/test_queue.py checks that it
    decodes to what `async_task` writes (but id and time) and tests/jobs/test_cluster.py runs it.
    """
    started = timezone.now()
    rows = []
    for job in jobs:
        task = {
            "id": uuid.uuid4().hex,
            "name": f"job-{job.pk}",
            "func": EXECUTE,
            "args": (job.pk,),
            "kwargs": {},
            "timeout": message_timeout(job),
            "save": False,
            "started": started,
        }
        if Conf.CACHED:
            task["cached"] = Conf.CACHED
        if Conf.ACK_FAILURES:
            task["ack_failure"] = True
        pre_enqueue.send(sender="django_q", task=task)
        rows.append(OrmQ(key=broker.list_key or Conf.CLUSTER_NAME, payload=SignedPackage.dumps(task), lock=started))
    OrmQ.objects.using(Conf.ORM).bulk_create(rows)


def resend(jobs: Sequence[Job], *, now: datetime) -> int:
    """Outbox: send again jobs left queued that no worker picked up; return how many went out.

    Each job is first claimed with a compare-and-set on the `enqueued_at` it was read with, so that
    two schedulers resending at the same moment send it once: the other finds it changed and skips
    it. With the ORM broker the claim and the message commit together; with Redis the message goes
    out after the claim, and a send that fails gives the claim back (the job is picked up again).
    """
    sent = 0
    for job in jobs:
        read = job.enqueued_at
        try:
            with transaction.atomic():
                if not Job.objects.filter(pk=job.pk, status=JobStatus.QUEUED, enqueued_at=read).update(
                        enqueued_at=now):
                    continue  # sent by another scheduler meanwhile, or no longer queued
                if uses_orm_broker():
                    _send([job], now=now, mark_enqueued=False)
            if not uses_orm_broker():
                try:
                    _send([job], now=now, mark_enqueued=False)
                except Exception:
                    Job.objects.filter(pk=job.pk, enqueued_at=now).update(enqueued_at=read)
                    raise
        except Exception:
            logger.exception("Could not queue job %s; will try again on the next pass", job.pk)
        else:
            job.enqueued_at = now
            sent += 1
    return sent


def waiting_messages() -> int | None:
    """Messages in the broker not yet handed to a worker, or None if the broker cannot say."""
    try:
        return get_broker().queue_size()
    except Exception:
        logger.exception("Could not read the queue size from the broker")
        return None


def messages_in_hand(clusters: list) -> int | None:
    """Messages the worker clusters have taken from the broker and not yet handed to a worker (their
    task queues), as each last reported it; None if a cluster cannot count them on this platform.

    A full task queue also means its pusher may hold one more batch, so this is 0 only when the
    clusters have nothing waiting for a free worker.
    """
    if not Conf.QSIZE:
        return None
    return sum(int(getattr(cluster, "task_q_size", 0) or 0) for cluster in clusters)


def alive_clusters() -> list | None:
    """The django-q2 clusters that reported in the last few seconds (their entries expire after 3 s),
    or None if their status cannot be read.

    django-q2's `Stat.get_all()` reads the same entries but, with the cache-backed brokers (ORM),
    also writes the key list back to the cache on every call: a write (and on SQLite the write lock)
    per page view. This reads only. The Redis broker keeps the stats in Redis itself.
    """
    try:
        broker = get_broker()
        if type(broker).get_stats is not Broker.get_stats:
            # The broker keeps the stats itself (Redis: keys with a TTL); reading them writes nothing.
            packs = broker.get_stats(f"{Conf.Q_STAT}:*") or []
        else:
            cache = caches[Conf.CACHE]
            keys = cache.get(Conf.Q_STAT) or []
            packs = cache.get_many(keys).values() if keys else []
    except Exception:
        logger.exception("Could not read the worker clusters' status")
        return None
    clusters = []
    for pack in packs:
        try:
            stat = SignedPackage.loads(pack)
        except BadSignature:
            continue
        if str(stat.status) not in (str(Conf.STOPPING), str(Conf.STOPPED)):
            clusters.append(stat)
    return clusters


def workers_alive() -> bool | None:
    """Is any worker cluster running? None when its status cannot be read."""
    clusters = alive_clusters()
    return None if clusters is None else bool(clusters)
