"""Reading schedules and the scheduler's state for the pages, the API and the health report."""

from __future__ import annotations

import heapq
import itertools
from datetime import datetime, timedelta

from django.db.models import Count, Max, Q, QuerySet

from jobs.models import JobStatus
from jobs.selectors import LIVE_WAIT
from scheduling import conf, recurrence
from scheduling.models import HeartbeatSource, RunOutcome, RunTrigger, ScheduledTask, SchedulerHeartbeat, ScheduleRun

# A one-shot `schedule_tick` from cron, and the cluster's safety net, pass about once a minute; the
# safety net rides on django-q2's scheduler, which looks for due tasks only every ~30 s, so gaps of
# 90 s happen there. Older than this, it is not running.
MINUTELY_MAX_AGE = timedelta(seconds=120)
# A heartbeat further ahead of this server's clock than this was not written by a scheduler running
# now (`schedule_tick --now <future>`, or a host whose clock runs ahead): trusted, it would keep the
# scheduler looking alive until that moment. A few seconds cover ordinary skew between hosts.
HEARTBEAT_CLOCK_TOLERANCE = timedelta(seconds=5)

FAILING_OUTCOMES = (RunOutcome.FAILED, RunOutcome.PARTLY_FAILED, RunOutcome.DISPATCH_FAILED)
UPCOMING_DAYS = 7
# The timeline merges every schedule's runs lazily and stops here (a five-minute schedule alone has
# 2,016 runs a week); the page shows a frequent schedule's runs of one day as one line.
UPCOMING_LIMIT = 5000


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


def scheduler_last_pass(*, now: datetime) -> datetime | None:
    """When `schedule_tick` (the loop, or a one-shot from cron) last passed; the safety net's passes
    do not count. None if none has for a day (heartbeats are forgotten then)."""
    return (SchedulerHeartbeat.objects.exclude(source=HeartbeatSource.SAFETY_NET)
            .filter(last_pass_at__lte=now + HEARTBEAT_CLOCK_TOLERANCE)
            .order_by("-last_pass_at").values_list("last_pass_at", flat=True).first())


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


def schedules_live(*, schedule_ids, now: datetime) -> set[int]:
    """Which of these schedules a live page keeps watching (common.live): a run still dispatched, written
    within jobs.selectors.LIVE_WAIT or with a job running. A dispatched run is settled by its last job's
    announcement just after that job's commit, so "dispatched" itself, not the jobs' statuses, says
    whether the row may still change."""
    recent = Q(created_at__gte=now - LIVE_WAIT) | Q(jobs__status=JobStatus.RUNNING)
    return set(ScheduleRun.objects.filter(recent, schedule_id__in=schedule_ids, outcome=RunOutcome.DISPATCHED)
               .values_list("schedule_id", flat=True).distinct())


def runs_finished(run_ids: list[int]) -> dict[int, tuple[ScheduleRun, int, int] | None]:
    """Of these runs, those no longer dispatched: (run, jobs, failed jobs); a run deleted maps to None."""
    runs = {run.pk: run for run in ScheduleRun.objects.filter(pk__in=run_ids)
            .annotate(jobs_total=Count("jobs", distinct=True),
                      jobs_failed=Count("jobs", filter=Q(jobs__status__in=(JobStatus.FAILED, JobStatus.CANCELLED)),
                                        distinct=True))}
    done: dict[int, tuple[ScheduleRun, int, int] | None] = {pk: None for pk in run_ids if pk not in runs}
    for run in runs.values():
        if run.outcome != RunOutcome.DISPATCHED:
            done[run.pk] = (run, run.jobs_total, run.jobs_failed)
    return done


def schedule_list(*, task_type: str = "", state: str = "") -> QuerySet[ScheduledTask]:
    """Schedules by name, filtered as the /schedules page offers: by task type, and enabled, disabled,
    paused or failing (the last run failed, partly failed or could not dispatch)."""
    schedules = ScheduledTask.objects.order_by("name", "pk")
    if task_type:
        schedules = schedules.filter(task_type=task_type)
    if state == "enabled":
        schedules = schedules.filter(enabled=True)
    elif state == "disabled":
        schedules = schedules.filter(enabled=False)
    elif state == "failing":
        schedules = schedules.filter(last_outcome__in=FAILING_OUTCOMES)
    elif state == "paused":
        schedules = schedules.filter(paused_until__isnull=False)
    return schedules


def schedule_api_list(*, task_type: str | None = None, enabled: bool | None = None) -> QuerySet[ScheduledTask]:
    """Schedules as the API lists them (by id, a page at a time), filtered by task type and state."""
    schedules = ScheduledTask.objects.all()
    if task_type is not None:
        schedules = schedules.filter(task_type=task_type)
    if enabled is not None:
        schedules = schedules.filter(enabled=enabled)
    return schedules


def _runs_of(schedule: ScheduledTask, *, start: datetime, until: datetime):
    """One schedule's (run, schedule) pairs from `start` (or the end of its pause) until `until`,
    computed one at a time as the merge asks for them."""
    try:
        timing = schedule.recurrence()
    except recurrence.RecurrenceError:
        return
    cursor = start
    # The scheduler runs the schedule next at `next_run_at`: the windows before it are done, even those
    # still ahead of the clock (a simulated pass, `schedule_tick --now <future>`, claimed them).
    if schedule.next_run_at is not None and schedule.next_run_at > cursor:
        cursor = schedule.next_run_at - timedelta(microseconds=1)
    if schedule.paused_until is not None and schedule.paused_until > cursor:
        cursor = schedule.paused_until - timedelta(microseconds=1)  # its windows before then will not run
    while True:
        runs = recurrence.preview_runs(timing, cursor, 1)
        if not runs or runs[0].at >= until:
            return
        yield runs[0], schedule
        cursor = runs[0].at


def upcoming_runs(*, now: datetime, days: int = UPCOMING_DAYS, limit: int = UPCOMING_LIMIT):
    """Every enabled schedule's runs over the next `days`, in time order, at most `limit`.

    Only the `limit` schedules due first can contribute to the first `limit` runs (each of them
    has a run before any later schedule's first one), so that many rows are read, along the
    due-schedules index.
    """
    until = now + timedelta(days=days)
    schedules = list(ScheduledTask.objects.filter(enabled=True, next_run_at__lt=until)
                     .order_by("next_run_at", "pk")[:limit])
    streams = [_runs_of(schedule, start=now, until=until) for schedule in schedules]
    merged = heapq.merge(*streams, key=lambda item: (item[0].at, item[1].pk))
    runs = list(itertools.islice(merged, limit + 1))
    return runs[:limit], len(runs) > limit, until


def simulated_runs(*, now: datetime) -> dict | None:
    """Runs in the ledger written ahead of the clock, by a simulated pass (`schedule_tick --now <future>
    --allow-future`): {count, schedules, until}, or None when there are none. Their windows will not run
    again, so the pages say so beside "Next run" and "Upcoming", which start after them. Read along the
    index on created_at."""
    ahead = ScheduleRun.objects.filter(created_at__gt=now + HEARTBEAT_CLOCK_TOLERANCE)
    found = ahead.aggregate(count=Count("pk"), schedules=Count("schedule", distinct=True), until=Max("created_at"))
    return found if found["count"] else None


# --- /metrics: aggregates in a fixed number of queries, whatever the number of rows ------------------

# Outcomes of runs that were dispatched when their window was decided: their lateness is the pass's.
DISPATCHED_OUTCOMES = (RunOutcome.DISPATCHED, RunOutcome.SUCCEEDED, RunOutcome.PARTLY_FAILED, RunOutcome.FAILED)


def schedule_counts() -> list[dict]:
    """Schedules by task type, enabled and last outcome: [{task_type, enabled, last_outcome, count}]."""
    return list(ScheduledTask.objects.order_by().values("task_type", "enabled", "last_outcome")
                .annotate(count=Count("pk")))


def run_counts(*, since: datetime) -> list[dict]:
    """Runs created since `since`, by their schedule's task type ("" once the schedule is deleted) and outcome:
    [{task_type, outcome, count}]. Read along the index on created_at: only the runs of the window."""
    return [{"task_type": row["schedule__task_type"] or "", "outcome": row["outcome"], "count": row["count"]}
            for row in ScheduleRun.objects.filter(created_at__gte=since).order_by()
            .values("schedule__task_type", "outcome").annotate(count=Count("pk"))]


def recent_dispatch_lateness(*, limit: int = 1000) -> list[float]:
    """How late (seconds, run written minus window) the newest `limit` dispatched scheduled windows were."""
    rows = (ScheduleRun.objects.filter(trigger=RunTrigger.SCHEDULED, outcome__in=DISPATCHED_OUTCOMES)
            .order_by("-pk").values_list("created_at", "due_at")[:limit])
    return [max((created - due).total_seconds(), 0.0) for created, due in rows]
