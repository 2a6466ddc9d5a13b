"""Is the system working? One answer for `GET /healthz`, the status badge and the pages' banners.

A handful of cheap reads: the fresh scheduler heartbeats, the worker clusters' own status entries
in the shared cache (jobs.queue), and two index seeks on the job table (jobs.selectors).

- "down" (HTTP 503): the database is unreachable, no worker cluster runs (no job runs), or nothing
  at all turns time into runs.
- "degraded" (HTTP 200): it works, but something needs a look: only the cluster's safety net runs
  the schedules (they fire up to a minute late; start `schedule_tick --loop`), or jobs wait long.
- "ok".
"""

from __future__ import annotations

import logging
import platform
from datetime import datetime, timedelta

import django
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from backups import offsite
from backups import selectors as backup_selectors
from jobs import queue
from jobs.selectors import queue_stats
from scheduling.selectors import scheduler_status

logger = logging.getLogger(__name__)

# Jobs waiting this long for a worker: the system works, but is falling behind ("degraded", 200).
# (Lateness is reported but not judged: right after downtime, or with only the safety net, the
# latest window is late by design.)
QUEUE_AGE_DEGRADED = timedelta(minutes=10)

OK, DEGRADED, DOWN = "ok", "degraded", "down"

START_SCHEDULER = "manage.py schedule_tick --loop"
START_WORKERS = "manage.py qcluster"


def health_status(*, now: datetime) -> dict:
    """The health report: `status`, the parts, and `problems` (what is wrong, what stops, what to start)."""
    database = _database()
    if not database["ok"]:
        return {"status": DOWN, "checked_at": now.isoformat(), "database": database,
                "scheduler": {"ok": False, "mode": None}, "workers": {"ok": False}, "queue": {},
                "problems": [{"what": "Database unavailable", "effect": "Nothing works until it is back.",
                              "start": ""}]}
    scheduler = scheduler_status(now=now)
    workers = _workers()
    jobs = queue_stats(now=now)
    problems = []
    if scheduler["mode"] is None:
        problems.append({"what": "Scheduler down", "effect": "No schedule fires.", "start": START_SCHEDULER,
                         "severity": DOWN})
    elif scheduler["mode"] == "safety_net":
        problems.append({"what": "Scheduler loop not running", "effect": "Schedules still fire through the "
                         "workers' safety net, but up to a minute late.", "start": START_SCHEDULER,
                         "severity": DEGRADED})
    if not workers["ok"]:
        problems.append({"what": "Workers down", "effect": "No job runs: queued jobs wait for a worker.", "start": START_WORKERS, "severity": DOWN})
    if (jobs["oldest_queued_age_seconds"] or 0) > QUEUE_AGE_DEGRADED.total_seconds():
        problems.append({"what": "Jobs waiting long", "effect": "Jobs wait more than "
                         f"{QUEUE_AGE_DEGRADED.total_seconds() / 60:.0f} minutes for a worker.",
                         "start": "", "severity": DEGRADED})
    if offsite_problem := offsite.remote_problem():
        problems.append({"what": "rclone missing", "effect": offsite_problem, "start": "apt-get install rclone",
                         "severity": DEGRADED})
    severities = {problem["severity"] for problem in problems}
    status = DOWN if DOWN in severities else DEGRADED if problems else OK
    return {"status": status, "checked_at": now.isoformat(), "database": database, "scheduler": scheduler,
            "workers": workers, "queue": jobs, "problems": problems}


def http_status(report: dict) -> int:
    return 503 if report["status"] == DOWN else 200


def summary(report: dict) -> str:
    """A few words for the badge: what is wrong, if anything."""
    if report["status"] == OK:
        return "All systems running"
    text = ", ".join(problem["what"].lower() for problem in report["problems"])
    return text[0].upper() + text[1:]


def _database() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return {"ok": True}
    except Exception as exc:
        logger.exception("Health check: database unavailable")
        return {"ok": False, "error": exc.__class__.__name__}


def _workers() -> dict:
    clusters = queue.alive_clusters()
    if clusters is None:
        return {"ok": False, "clusters": 0, "workers": 0, "error": "cluster status unavailable"}
    return {"ok": bool(clusters), "clusters": len(clusters), "workers": sum(len(c.workers) for c in clusters)}


def public_report(report: dict) -> dict:
    """The report without internal names: the scheduler's host:pid is for staff, not for anyone."""
    scheduler = {key: value for key, value in report["scheduler"].items() if key != "name"}
    return {**report, "scheduler": scheduler}


def staff_details(report: dict, *, now: datetime) -> dict:
    """What staff see besides the report (GET /api/health): the worker clusters by name, the newest good
    backup's age against the backup schedule, and the software. Internal names, so never for anyone else.
    Without a database only the software is known."""
    details: dict = {"clusters": None, "backups": None,
                     "software": {"python": platform.python_version(), "django": django.get_version(),
                                  "database": connection.vendor}}
    if not report["database"]["ok"]:
        return details
    clusters = queue.alive_clusters()
    if clusters is not None:
        details["clusters"] = [{"id": str(cluster.cluster_id), "host": str(cluster.host), "pid": cluster.pid,
                                "status": str(cluster.status), "workers": len(cluster.workers)}
                               for cluster in clusters]
    schedule, newest = backup_selectors.backup_schedule(), backup_selectors.newest_good_backup()
    freshness = backup_selectors.backup_freshness(schedule=schedule, newest_good=newest, now=now)
    details["backups"] = {
        "newest_good_id": newest.pk if newest else None,
        "newest_good_at": newest.started_at.isoformat() if newest else None,
        "age_seconds": round(freshness.age.total_seconds(), 1) if freshness.age is not None else None,
        "stale_after_seconds": freshness.limit.total_seconds() if freshness.limit is not None else None,
        "stale": freshness.stale,
        "offsite": offsite.offsite_summary(),
    }
    return details


@login_not_required
@require_safe
@never_cache
def healthz(request):
    """For monitors and load balancers: no login, JSON, 503 when jobs cannot run."""
    report = health_status(now=timezone.now())
    user = request.user
    body = report if user.is_authenticated and user.is_staff else public_report(report)
    return JsonResponse(body, status=http_status(report))
