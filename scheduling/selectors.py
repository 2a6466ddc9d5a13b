"""Reading schedules and the scheduler's state for the pages, the API and the health report."""

from __future__ import annotations

from datetime import datetime, timedelta

from scheduling import conf, recurrence
from scheduling.models import HeartbeatSource, SchedulerHeartbeat

# A one-shot `schedule_tick` from cron, and the cluster's safety net, pass about once a minute; the
# safety net rides on django-q2's scheduler, which looks for due tasks only every ~30 s, so gaps of
# 90 s happen there. Older than this, it is not running.
MINUTELY_MAX_AGE = timedelta(seconds=120)
# A heartbeat further ahead of this server's clock than this was not written by a scheduler running
# now (`schedule_tick --now <future>`, or a host whose clock runs ahead): trusted, it would keep the
# scheduler looking alive until that moment. A few seconds cover ordinary skew between hosts.
HEARTBEAT_CLOCK_TOLERANCE = timedelta(seconds=5)


def _max_age(source: str) -> timedelta:
    if source == HeartbeatSource.LOOP:
        return conf.seconds("SCHEDULER_LOOP_MAX_AGE_SECONDS")
    return MINUTELY_MAX_AGE


def scheduler_status(*, now: datetime) -> dict:
    """Is anything turning time into runs, and what?

    `mode` is "scheduler" while `schedule_tick` (loop, or one-shot from cron) is passing, "safety_net"
    when only the worker cluster's once-a-minute pass is (schedules still fire, up to a minute
    late), None when nothing is.
    """
    fresh = {}
    for beat in SchedulerHeartbeat.objects.filter(last_pass_at__lte=now + HEARTBEAT_CLOCK_TOLERANCE,
                                                  last_pass_at__gte=now - MINUTELY_MAX_AGE):
        if now - beat.last_pass_at <= _max_age(beat.source):
            fresh.setdefault(beat.source != HeartbeatSource.SAFETY_NET, []).append(beat)
    mode = "scheduler" if fresh.get(True) else "safety_net" if fresh.get(False) else None
    latest = (SchedulerHeartbeat.objects.filter(last_pass_at__lte=now + HEARTBEAT_CLOCK_TOLERANCE)
              .order_by("-last_pass_at").first())
    if latest is None:
        return {"ok": False, "mode": None, "last_pass_at": None, "age_seconds": None, "lateness_seconds": None,
                "name": None}
    # Within the tolerance a heartbeat may still be slightly ahead; it is fresh, not younger than now.
    age = max(now - latest.last_pass_at, timedelta(0))
    return {
        "ok": mode == "scheduler",
        "mode": mode,
        "last_pass_at": latest.last_pass_at.isoformat(),
        "age_seconds": round(age.total_seconds(), 1),
        "lateness_seconds": round(latest.lateness_seconds, 3),
        "name": latest.name,
    }


def schedule_preview(*, schedule, now: datetime, count: int = 5) -> dict:
    """What the editor's live preview and `POST /api/schedules/preview` show for an unsaved schedule:
    its description, time zone and next runs (UTC, local wall time, DST notes).

    The schedule must have passed `full_clean()`; nothing is written.
    """
    timing = schedule.recurrence()
    return {
        "description": timing.describe(),
        "timezone": timing.timezone,
        "runs": recurrence.preview_runs(timing, now, count),
    }
