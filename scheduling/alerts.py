"""What the scheduler tells the notification channels, through notifications' incidents.

- `run_failed:<schedule>`: a scheduled run failed (or partly failed) after its jobs' last retry, or
  could not dispatch; resolved when a later run of the schedule succeeds.
- `missed:<schedule>`: a window was later than its grace period; `skipped:<schedule>`: the overlap
  policy skipped several windows in a row. Both resolved by the next window that dispatches.
- `scheduler_stopped` and `workers_down`: each process watches the other. The workers' safety net
  notices that `schedule_tick` has not passed for a few minutes; the scheduler notices that no worker
  cluster is alive. When both are down, only an outside monitor on /healthz can tell.

Each alert goes to the schedule's chosen channels (all when it chose none). The pass and the
runs' follow-up call the two event hooks after their writes; the watches run from the scheduler's
step. Everything here reads a little and writes only when an incident opens or resolves.
"""

from __future__ import annotations

import functools
import logging
from datetime import datetime

from django.core.cache import cache
from django.utils.dateparse import parse_datetime

from common.actors import SYSTEM
from common.conf import AppSettings
from common.formatting import human_duration
from jobs import queue
from jobs.models import JobStatus
from jobs.services import summarise_error
from notifications.selectors import open_incident_keys, open_incidents
from notifications.services import incident_open, incident_resolve
from scheduling import audit, selectors
from scheduling.models import AuditAction, HeartbeatSource, RunOutcome, RunTrigger, ScheduledTask, ScheduleRun

SETTINGS = AppSettings({
    # Windows skipped in a row (the previous run still active) before it is an incident.
    "NOTIFY_SKIPPED_IN_A_ROW": 3,
    # `schedule_tick` silent this long, as the workers' safety net sees it: the scheduler stopped.
    # Minutes, not the health check's 30 s: a restart or a deployment is not an incident.
    "NOTIFY_SCHEDULER_STOPPED_AFTER_SECONDS": 180.0,
    # No worker cluster alive this long, as the scheduler sees it (they start seconds apart).
    "NOTIFY_WORKERS_DOWN_AFTER_SECONDS": 120.0,
})

logger = logging.getLogger(__name__)

RUN_FAILED, MISSED, SKIPPED = "run_failed", "missed", "skipped"
SCHEDULER_STOPPED, WORKERS_DOWN = "scheduler_stopped", "workers_down"
# Since when the scheduler has seen no worker cluster: in the shared cache, so a one-shot
# `schedule_tick` from cron (a new process every minute) measures it too.
WORKERS_MISSING_SINCE = "scheduling:alerts:workers-missing-since"


def key(kind: str, schedule_id: int) -> str:
    return f"{kind}:{schedule_id}"


def _utc(instant: datetime) -> str:
    return f"{instant:%Y-%m-%d %H:%M} UTC"


def _channels(schedule: ScheduledTask | None) -> list[int]:
    return list(schedule.notify_channels or []) if schedule is not None else []


# --- runs and windows ------------------------------------------------------------------------------

def _never_raises(hook):
    """The runs' bookkeeping and the pass call these after their own writes: an alert that cannot be
    written (a bug, the database gone for a moment) is logged, and must not undo or stop them."""

    @functools.wraps(hook)
    def guarded(**kwargs) -> None:
        try:
            hook(**kwargs)
        except Exception:
            logger.exception("Alerts: %s failed; the runs are not affected", hook.__name__)

    return guarded


@_never_raises
def run_settled(*, run: ScheduleRun, outcome: str, now: datetime) -> None:
    """A run's jobs are all done (scheduling.services.runs_follow_jobs changed its outcome)."""
    if run.schedule_id is None:
        return
    if outcome == RunOutcome.SUCCEEDED:
        incident_resolve(key=key(RUN_FAILED, run.schedule_id), detail=f"Run #{run.pk} succeeded.", now=now)
    elif outcome in (RunOutcome.FAILED, RunOutcome.PARTLY_FAILED) and run.trigger == RunTrigger.SCHEDULED:
        statuses_errors = list(run.jobs.values_list("status", "error"))
        failed = [error for status, error in statuses_errors if status != JobStatus.COMPLETED]
        first_error = next((summarise_error(error) for error in failed if error.strip()), "")
        how = "failed" if outcome == RunOutcome.FAILED else "partly failed"
        detail = (f"Run #{run.pk} (window {_utc(run.due_at)}): {len(failed)} of {len(statuses_errors)} "
                  f"job{'s' if len(statuses_errors) != 1 else ''} failed after the last retry.")
        if first_error:
            detail += f" {first_error}"
        incident_open(key=key(RUN_FAILED, run.schedule_id), kind=RUN_FAILED,
                      title=f"Schedule “{run.schedule_name}” {how}", detail=detail, link=run.get_absolute_url(),
                      schedule_id=run.schedule_id, channel_ids=_channels(run.schedule), now=now)


@_never_raises
def windows_decided(*, runs: list[ScheduleRun], now: datetime) -> None:
    """After a batch of the pass: alert on missed windows, on too many skips in a row and on runs that
    could not dispatch; a window that dispatched resolves its schedule's missed and skipped incidents
    (and a failure, when it succeeded at once). One query for the batch when nothing is open."""
    going = [run for run in runs if run.outcome in (RunOutcome.DISPATCHED, RunOutcome.SUCCEEDED)]
    if going:
        open_keys = open_incident_keys(kinds=(MISSED, SKIPPED, RUN_FAILED))
        for run in going if open_keys else ():
            done = f"Run #{run.pk} (window {_utc(run.due_at)}) was dispatched."
            for kind in (MISSED, SKIPPED) + ((RUN_FAILED,) if run.outcome == RunOutcome.SUCCEEDED else ()):
                if key(kind, run.schedule_id) in open_keys:
                    incident_resolve(key=key(kind, run.schedule_id), detail=done, now=now)
    for run in runs:
        if run.outcome == RunOutcome.MISSED:
            incident_open(key=key(MISSED, run.schedule_id), kind=MISSED,
                          title=f"Schedule “{run.schedule_name}” missed a window",
                          detail=f"Run #{run.pk} (window {_utc(run.due_at)}): {run.message}",
                          link=run.get_absolute_url(), schedule_id=run.schedule_id,
                          channel_ids=_channels(run.schedule), now=now)
        elif run.outcome == RunOutcome.SKIPPED and _skipped_in_a_row(run.schedule_id) >= SETTINGS.get(
                "NOTIFY_SKIPPED_IN_A_ROW"):
            times = SETTINGS.get("NOTIFY_SKIPPED_IN_A_ROW")
            incident_open(key=key(SKIPPED, run.schedule_id), kind=SKIPPED,
                          title=f"Schedule “{run.schedule_name}” skipped {times} windows in a row",
                          detail=f"Its previous run is still active, and its overlap policy skips a window while "
                                 f"it is. The latest skipped window: {_utc(run.due_at)}.",
                          link=run.get_absolute_url(), schedule_id=run.schedule_id,
                          channel_ids=_channels(run.schedule), now=now)
        elif run.outcome == RunOutcome.DISPATCH_FAILED:
            incident_open(key=key(RUN_FAILED, run.schedule_id), kind=RUN_FAILED,
                          title=f"Schedule “{run.schedule_name}” could not dispatch",
                          detail=f"Run #{run.pk} (window {_utc(run.due_at)}): {run.message}",
                          link=run.get_absolute_url(), schedule_id=run.schedule_id,
                          channel_ids=_channels(run.schedule), now=now)


def _skipped_in_a_row(schedule_id: int) -> int:
    times = SETTINGS.get("NOTIFY_SKIPPED_IN_A_ROW")
    latest = (ScheduleRun.objects.filter(schedule_id=schedule_id, trigger=RunTrigger.SCHEDULED)
              .order_by("-due_at").values_list("outcome", flat=True)[:times])
    count = 0
    for outcome in latest:
        if outcome != RunOutcome.SKIPPED:
            break
        count += 1
    return count


# --- the watches -----------------------------------------------------------------------------------

def watch_processes(*, now: datetime, source: str) -> None:
    """Each process watches the other: the safety net (in the worker cluster) the scheduler's
    heartbeat, the scheduler the worker clusters' status. The one taking the step is alive itself."""
    if source == HeartbeatSource.SAFETY_NET:
        _watch_scheduler(now=now)
        _workers_seen(now=now)
    else:
        incident_resolve(key=SCHEDULER_STOPPED, detail="schedule_tick is passing again.", now=now)
        _watch_workers(now=now)


def _watch_scheduler(*, now: datetime) -> None:
    last_pass = selectors.scheduler_last_pass(now=now)
    limit = SETTINGS.seconds("NOTIFY_SCHEDULER_STOPPED_AFTER_SECONDS")
    if last_pass is not None and now - last_pass <= limit:
        incident_resolve(key=SCHEDULER_STOPPED, detail="schedule_tick is passing again.", now=now)
        return
    silent = (f"for {human_duration(now - last_pass)} (its last pass: {_utc(last_pass)})" if last_pass
              else "for a day or more")
    incident_open(key=SCHEDULER_STOPPED, kind=SCHEDULER_STOPPED, title="The scheduler has stopped",
                  detail=f"schedule_tick has not passed {silent}. Schedules still fire through the workers' "
                         "once-a-minute safety net, up to a minute late. Start it: manage.py schedule_tick --loop.",
                  link="/healthz", now=now)


def _watch_workers(*, now: datetime) -> None:
    clusters = queue.alive_clusters()
    if clusters is None:
        return  # their status cannot be read: say nothing rather than something wrong
    if clusters:
        _workers_seen(now=now)
        return
    cache.add(WORKERS_MISSING_SINCE, now.isoformat(), timeout=None)
    since = parse_datetime(cache.get(WORKERS_MISSING_SINCE) or "") or now
    if since > now:  # written by a process whose clock is ahead, or by a test at a later instant
        cache.set(WORKERS_MISSING_SINCE, now.isoformat(), timeout=None)
        return
    if now - since >= SETTINGS.seconds("NOTIFY_WORKERS_DOWN_AFTER_SECONDS"):
        incident_open(key=WORKERS_DOWN, kind=WORKERS_DOWN, title="No worker is running",
                      detail=f"No worker cluster has been alive since {_utc(since)}: no job runs, and queued jobs "
                             "wait (backups, channel syncs). Start one: manage.py qcluster.",
                      link="/healthz", now=now)


def _workers_seen(*, now: datetime) -> None:
    if cache.get(WORKERS_MISSING_SINCE) is not None:  # a read: the usual answer writes nothing
        cache.delete(WORKERS_MISSING_SINCE)
    incident_resolve(key=WORKERS_DOWN, detail="A worker cluster is running again.", now=now)


def watch_schedules(*, now: datetime, source: str) -> None:
    """An incident about a schedule that has been deleted is over."""
    about = dict(open_incidents().filter(schedule_id__isnull=False).values_list("key", "schedule_id"))
    if not about:
        return
    existing = set(ScheduledTask.objects.filter(pk__in=set(about.values())).values_list("pk", flat=True))
    for incident_key, schedule_id in about.items():
        if schedule_id not in existing:
            incident_resolve(key=incident_key, detail="The schedule was deleted.", now=now)


# --- a channel deleted -----------------------------------------------------------------------------

def schedules_forget_channel(*, channel_id: int, now: datetime) -> int:
    """Take a deleted channel out of the schedules that chose it (an audit entry each, by the system).
    A schedule left with none alerts every channel. Returns how many changed."""
    changed = 0
    for schedule in ScheduledTask.objects.exclude(notify_channels=[]).only("pk", "name", "notify_channels"):
        chosen = list(schedule.notify_channels or [])
        if channel_id not in chosen:
            continue
        remaining = [pk for pk in chosen if pk != channel_id]
        if ScheduledTask.objects.filter(pk=schedule.pk).update(notify_channels=remaining, updated_at=now):
            changed += 1
            audit.record(schedule=schedule, action=AuditAction.UPDATE, actor=SYSTEM, now=now,
                         changes={"notify_channels": [chosen, remaining],
                                  "reason": f"notification channel #{channel_id} deleted"})
    return changed
