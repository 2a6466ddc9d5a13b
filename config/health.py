"""Is the system working? One answer for `GET /healthz` and the status badge in the page header.

A handful of cheap reads: one row of the scheduler heartbeats, the worker clusters' own status
entries in the shared cache (what django-q2's `Stat.get_all()` reads, but without its write
back), and two index seeks on the job table.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.contrib.auth.decorators import login_not_required
from django.core.cache import caches
from django.db import connection
from django.db.models import Min
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from django_q.brokers import Broker, get_broker
from django_q.conf import Conf
from django_q.signing import BadSignature, SignedPackage

from jobs.models import Job, JobStatus
from scheduling.models import SchedulerHeartbeat

logger = logging.getLogger(__name__)

# `schedule_tick --loop` writes a heartbeat at least every 5 s. The cluster's safety net writes one
# every minute, give or take django-q2's scheduler, which looks for due tasks only every ~30 s: gaps
# of 90 s happen there, so the limit sits above them. Older than this, nothing is scheduling.
SCHEDULER_MAX_AGE = timedelta(seconds=120)
# Jobs waiting this long for a worker: the system works, but is falling behind ("degraded", 200).
# (Lateness is reported but not judged: right after downtime, or with only the safety net, the
# latest window is late by design.)
QUEUE_AGE_DEGRADED = timedelta(minutes=10)
# A heartbeat further ahead of this server's clock than this was not written by a scheduler running
# now (`schedule_tick --now <future>`, or a host whose clock runs ahead): trusted, it would keep the
# scheduler looking alive until that moment. A few seconds cover ordinary skew between hosts.
HEARTBEAT_CLOCK_TOLERANCE = timedelta(seconds=5)

OK, DEGRADED, DOWN = "ok", "degraded", "down"


def health_status(*, now: datetime) -> dict:
    """The health report: `status` is "ok", "degraded" (working, but jobs wait long) or "down"."""
    database = _database()
    if not database["ok"]:
        return {"status": DOWN, "checked_at": now.isoformat(), "database": database,
                "scheduler": {"ok": False}, "workers": {"ok": False}, "queue": {}}
    scheduler = _scheduler(now=now)
    workers = _workers()
    queue = _queue(now=now)
    if not (scheduler["ok"] and workers["ok"]):
        status = DOWN
    elif (queue["oldest_queued_age_seconds"] or 0) > QUEUE_AGE_DEGRADED.total_seconds():
        status = DEGRADED
    else:
        status = OK
    return {"status": status, "checked_at": now.isoformat(), "database": database, "scheduler": scheduler,
            "workers": workers, "queue": queue}


def http_status(report: dict) -> int:
    return 503 if report["status"] == DOWN else 200


def summary(report: dict) -> str:
    """A few words for the badge: what is wrong, if anything."""
    if report["status"] == OK:
        return "All systems running"
    problems = []
    if not report["database"]["ok"]:
        return "Database unavailable"
    if not report["scheduler"]["ok"]:
        problems.append("scheduler down")
    if not report["workers"]["ok"]:
        problems.append("workers down")
    if not problems:
        problems.append("jobs waiting long")
    text = ", ".join(problems)
    return text[0].upper() + text[1:]


def _database() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return {"ok": True}
    except Exception as exc:
        logger.exception("Health check: database unavailable")
        return {"ok": False, "error": exc.__class__.__name__}


def _scheduler(*, now: datetime) -> dict:
    heartbeat = (SchedulerHeartbeat.objects.filter(last_pass_at__lte=now + HEARTBEAT_CLOCK_TOLERANCE)
                 .order_by("-last_pass_at").first())
    if heartbeat is None:
        return {"ok": False, "last_pass_at": None, "age_seconds": None, "lateness_seconds": None, "name": None}
    # Within the tolerance a heartbeat may still be slightly ahead; it is fresh, not younger than now.
    age = max(now - heartbeat.last_pass_at, timedelta(0))
    return {
        "ok": age <= SCHEDULER_MAX_AGE,
        "last_pass_at": heartbeat.last_pass_at.isoformat(),
        "age_seconds": round(age.total_seconds(), 1),
        "lateness_seconds": round(heartbeat.lateness_seconds, 3),
        "name": heartbeat.name,
    }


def _workers() -> dict:
    clusters = alive_clusters()
    if clusters is None:
        return {"ok": False, "clusters": 0, "workers": 0, "error": "cluster status unavailable"}
    return {"ok": bool(clusters), "clusters": len(clusters), "workers": sum(len(c.workers) for c in clusters)}


def alive_clusters() -> list | None:
    """The django-q2 clusters that reported in the last few seconds (their entries expire after 3 s).

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
        logger.exception("Health check: could not read the cluster status from the cache")
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


def _queue(*, now: datetime) -> dict:
    queued = Job.objects.filter(status=JobStatus.QUEUED)
    oldest = queued.aggregate(oldest=Min("available_at"))["oldest"]
    return {
        "depth": queued.count(),
        "running": Job.objects.filter(status=JobStatus.RUNNING).count(),
        "oldest_queued_age_seconds": round(max((now - oldest).total_seconds(), 0.0), 1) if oldest else None,
    }


def public_report(report: dict) -> dict:
    """The report without internal names: the scheduler's host:pid is for staff, not for anyone."""
    scheduler = {key: value for key, value in report["scheduler"].items() if key != "name"}
    return {**report, "scheduler": scheduler}


@login_not_required
@require_safe
@never_cache
def healthz(request):
    """For monitors and load balancers: no login, JSON, 503 when jobs cannot run."""
    report = health_status(now=timezone.now())
    user = request.user
    body = report if user.is_authenticated and user.is_staff else public_report(report)
    return JsonResponse(body, status=http_status(report))
