"""The scheduler step, and `schedule_tick --loop`: steps back to back, sleeping until the next window.

One step is the pass (due windows into runs and jobs), the jobs' maintenance (due retries, lost jobs,
lost messages), the heartbeat and, once a day, a share of the history prune (scheduling/history.py).
`--loop`, the one-shot `schedule_tick` and the worker cluster's safety net all take the same step; only
how often differs.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

from django.db import close_old_connections, transaction
from django.utils import timezone

from common.processes import process_name
from jobs.maintenance import jobs_maintain
from notifications.services import notifications_step
from scheduling import tick
from scheduling.history import history_prune_when_due
from scheduling.models import HeartbeatSource, ScheduledTask, SchedulerHeartbeat

logger = logging.getLogger(__name__)

# The longest sleep between passes: a schedule created or edited meanwhile is noticed within it.
MAX_SLEEP_SECONDS = 1.0
# An idle scheduler refreshes its heartbeat this often; a busy one after every pass with work.
HEARTBEAT_EVERY = timedelta(seconds=5)
# How soon to look again when a window is still due right after a pass.
BUSY_RETRY_SECONDS = 0.05
# Heartbeats of schedulers silent this long are deleted (restarted processes get new names).
FORGET_HEARTBEATS_AFTER = timedelta(days=1)
# After a failed pass (database unavailable...), wait this long instead of crash-looping.
ERROR_BACKOFF_SECONDS = 5.0

# Stable names, so each keeps one heartbeat row per machine across restarts.
SAFETY_NET_NAME = "qcluster safety net"


def one_shot_name() -> str:
    return f"{socket.gethostname()}:schedule_tick"


def scheduler_step(*, now: datetime, source: str, name: str | None = None,
                   heartbeat: bool = True) -> tick.PassReport:
    """One step of the scheduler at `now`; the heartbeat is written if asked or if windows ran."""
    report = tick.run_pass(now=now)
    jobs_maintain(now=now)
    if heartbeat or report.windows:
        heartbeat_write(now=now, report=report, source=source, name=name)
    history_prune_when_due(now=now)
    notifications_step(now=now, source=source)
    return report


def heartbeat_write(*, now: datetime, report: tick.PassReport, source: str, name: str | None = None) -> None:
    """Say this scheduler is alive; forget schedulers that have not said so for a day."""
    defaults = {"last_pass_at": now, "source": source}
    if report.max_lateness is not None:
        defaults["lateness_seconds"] = report.max_lateness.total_seconds()
    with transaction.atomic():
        SchedulerHeartbeat.objects.update_or_create(name=name or process_name(), defaults=defaults)
        SchedulerHeartbeat.objects.filter(last_pass_at__lt=now - FORGET_HEARTBEATS_AFTER).delete()


def seconds_until_next_window(*, now: datetime) -> float:
    next_run_at = (
        ScheduledTask.objects.filter(enabled=True, next_run_at__isnull=False)
        .order_by("next_run_at")
        .values_list("next_run_at", flat=True)
        .first()
    )
    if next_run_at is None:
        return MAX_SLEEP_SECONDS
    return min(max((next_run_at - now).total_seconds(), 0.0), MAX_SLEEP_SECONDS)


def run(*, stop: threading.Event, clock: Callable[[], datetime] = timezone.now) -> Iterator[tick.PassReport]:
    """Yield one report per step until `stop` is set (by SIGTERM/SIGINT in the command)."""
    last_heartbeat: datetime | None = None
    while not stop.is_set():
        # Keep the connection across passes (cheap on SQLite, essential for latency), but drop
        # it if the server closed it or it is past CONN_MAX_AGE.
        close_old_connections()
        now = clock()
        try:
            due_heartbeat = last_heartbeat is None or now - last_heartbeat >= HEARTBEAT_EVERY
            report = scheduler_step(now=now, source=HeartbeatSource.LOOP, heartbeat=due_heartbeat)
            if due_heartbeat or report.windows:
                last_heartbeat = now
            pause = seconds_until_next_window(now=clock())
        except Exception:
            logger.exception("Scheduler pass failed; trying again in %s s", ERROR_BACKOFF_SECONDS)
            stop.wait(ERROR_BACKOFF_SECONDS)
            continue
        yield report
        # Something still due right after a pass is being handled by another scheduler
        # (PostgreSQL, SKIP LOCKED): give it a moment rather than spinning.
        stop.wait(pause or BUSY_RETRY_SECONDS)
