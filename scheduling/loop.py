"""`schedule_tick --loop`: passes back to back, sleeping until the next window is due."""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

from django.db import close_old_connections, transaction
from django.utils import timezone

from jobs.maintenance import run_maintenance
from scheduling import tick
from scheduling.models import ScheduledTask, SchedulerHeartbeat

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


def process_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def write_heartbeat(*, now: datetime, report: tick.PassReport, name: str | None = None) -> None:
    """Say this scheduler is alive; forget schedulers that have not said so for a day.

    A one-shot `schedule_tick` from cron passes a stable name, so it keeps one row per machine.
    """
    defaults = {"last_pass_at": now}
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
    """Yield one report per pass until `stop` is set (by SIGTERM/SIGINT in the command)."""
    last_heartbeat: datetime | None = None
    while not stop.is_set():
        # Keep the connection across passes (cheap on SQLite, essential for latency), but drop
        # it if the server closed it or it is past CONN_MAX_AGE.
        close_old_connections()
        now = clock()
        try:
            report = tick.run_pass(now=now)
            # Release due retries, reap lost jobs, resend lost messages.
            run_maintenance(now=now)
            if report.windows or last_heartbeat is None or now - last_heartbeat >= HEARTBEAT_EVERY:
                write_heartbeat(now=now, report=report)
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
