"""The scheduler's pass: turn due windows into ledger rows and jobs, exactly once.

Every due window is claimed, decided and dispatched inside one transaction together with the
advance of its schedule's `next_run_at`, so a crash leaves either all of it or none of it. Windows
are processed in batches (one transaction per batch) because a pass with a thousand due
schedules must stay well under a second on SQLite.

Racing schedulers are harmless. Each batch is read inside its own transaction: on PostgreSQL with
FOR UPDATE SKIP LOCKED, so two schedulers split the due rows between them; on SQLite the IMMEDIATE
transaction serialises writers, so what is read is still due. The ledger's unique
(schedule, due_at) backs both up: a second claim of a window fails with an IntegrityError, the
batch is redone window by window, and the window already claimed is set aside.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction

from common.db import update_rows
from jobs.models import ACTIVE_STATUSES, Job
from scheduling import messages, services
from scheduling.models import OverlapPolicy, RunOutcome, RunTrigger, ScheduledTask, ScheduleRun

logger = logging.getLogger(__name__)

# After long downtime, windows are counted up to this many for the run's message.
MAX_WINDOWS_COUNTED = 1_000


@dataclass
class PassReport:
    now: datetime
    outcomes: dict[str, int] = field(default_factory=dict)
    lost_races: int = 0
    # Dispatch time minus due time of the latest window dispatched in this pass.
    max_lateness: timedelta | None = None

    def count(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1

    @property
    def windows(self) -> int:
        return sum(self.outcomes.values())


@dataclass
class _Decision:
    schedule: ScheduledTask
    due_at: datetime  # the newest window that has passed: the one claimed in the ledger
    coalesced: int  # earlier windows folded into it
    next_run_at: datetime | None
    outcome: str = RunOutcome.DISPATCHED
    notes: list[str] = field(default_factory=list)
    run: ScheduleRun | None = None

    @property
    def message(self) -> str:
        return self.run.message if self.run is not None else " ".join(self.notes)


def due_schedules(*, now: datetime):
    return ScheduledTask.objects.filter(enabled=True, next_run_at__lte=now).order_by("next_run_at", "id")


def run_pass(*, now: datetime, batch_size: int | None = None) -> PassReport:
    """One pass over everything due at `now`."""
    batch_size = batch_size or settings.SCHEDULER_BATCH_SIZE
    report = PassReport(now=now)
    # Most passes find nothing due: answer that from the index without taking SQLite's write lock.
    if not due_schedules(now=now).exists():
        return report
    while True:
        try:
            handled = _process_batch(now=now, limit=batch_size, report=report)
        except IntegrityError:
            # A window of this batch is already in the ledger. Go one by one, so that only
            # that window is set aside and the rest of the batch still runs.
            handled = _process_one_by_one(now=now, limit=batch_size, report=report)
        if handled < batch_size or not due_schedules(now=now).exists():
            return report


def _process_one_by_one(*, now: datetime, limit: int, report: PassReport) -> int:
    pks = list(due_schedules(now=now).values_list("pk", flat=True)[:limit])
    for pk in pks:
        try:
            _process_batch(now=now, limit=1, report=report, pk=pk)
        except IntegrityError:
            if not _move_past_claimed_window(pk, now=now):
                raise
            report.lost_races += 1
    return len(pks)


def _move_past_claimed_window(pk: int, *, now: datetime) -> bool:
    """If the schedule's window is in the ledger already (claimed by a racing scheduler, or by a
    simulated `--now` pass ahead of real time), move the schedule past it: it must not run again,
    and it must not block the schedule either. False if the ledger does not explain the conflict."""
    with transaction.atomic():
        schedule = due_schedules(now=now).select_for_update().filter(pk=pk).first()
        if schedule is None:  # another scheduler has moved it on meanwhile
            return True
        decision = _decide_window(schedule, now=now)
        claimed = ScheduleRun.objects.filter(schedule=schedule, trigger=RunTrigger.SCHEDULED, due_at=decision.due_at)
        if not claimed.exists():
            return False
        logger.warning("Schedule %s: window %s is already in the ledger; moving on.", pk, decision.due_at.isoformat())
        ScheduledTask.objects.filter(pk=pk).update(next_run_at=decision.next_run_at)
    return True


def _process_batch(*, now: datetime, limit: int, report: PassReport, pk: int | None = None) -> int:
    """Claim, decide and dispatch up to `limit` due windows in one transaction; return how many."""
    with transaction.atomic():
        # Read inside the transaction: on PostgreSQL the rows are locked and rows another
        # scheduler holds are skipped, so two schedulers split the work; on SQLite the IMMEDIATE
        # transaction holds the write lock, so what we read is what is still due.
        due = due_schedules(now=now).select_for_update(skip_locked=True)
        if pk is not None:
            due = due.filter(pk=pk)
        schedules = list(due[:limit])
        if not schedules:
            return 0
        decisions = [_decide_window(schedule, now=now) for schedule in schedules]
        _apply_overlap_policy(decisions)
        runs = services.schedule_run_create_many(runs=[
            ScheduleRun(schedule=d.schedule, schedule_name=d.schedule.name, trigger=RunTrigger.SCHEDULED,
                        due_at=d.due_at, outcome=d.outcome, message=d.message, coalesced_windows=d.coalesced,
                        created_at=now)
            for d in decisions], now=now)
        for d, run in zip(decisions, runs):
            d.run, d.outcome = run, run.outcome
            d.schedule.next_run_at = d.next_run_at
            d.schedule.last_outcome = d.outcome
            if d.outcome in (RunOutcome.DISPATCHED, RunOutcome.SUCCEEDED):
                d.schedule.last_run_at = now
        _save_schedule_state([d.schedule for d in decisions], now=now)
    for d in decisions:
        report.count(d.outcome)
        if d.outcome in (RunOutcome.DISPATCHED, RunOutcome.SUCCEEDED):
            lateness = now - d.due_at
            report.max_lateness = max(report.max_lateness or lateness, lateness)
        logger.info("Window %s of schedule “%s”: %s.%s", d.due_at.isoformat(), d.schedule.name, d.outcome,
                    f" {d.message}" if d.message else "",
                    extra={"event": "window", "schedule_id": d.schedule.pk, "run_id": d.run.pk, "outcome": d.outcome,
                           "due_at": d.due_at, "late_seconds": round((now - d.due_at).total_seconds(), 3),
                           "coalesced": d.coalesced})
    return len(decisions)


def _decide_window(schedule: ScheduledTask, *, now: datetime) -> _Decision:
    """Which window this pass claims for a due schedule, and whether it is too late to run.

    After downtime several windows may have passed: they are coalesced into the newest one, which
    runs if it is within the grace period and is recorded as missed otherwise. Either way the
    schedule moves on to its first window after `now`, so nothing fires twice.
    """
    first_due = schedule.next_run_at
    try:
        recurrence = schedule.recurrence()
        following = recurrence.next_after(first_due)
        if following > now:  # the usual case: nothing was missed
            due_at, coalesced = first_due, 0
        else:
            due_at, following = _newest_window_at_or_before(recurrence, now, not_before=following)
            coalesced = _count_windows(recurrence, first_due, due_at)
    except Exception as exc:
        # Timing that no longer computes (a zone gone from tzdata, a row edited by hand...): one
        # schedule must not stop the pass for everyone. It pauses, visibly, until it is edited.
        logger.exception("Schedule %s: cannot compute its windows", schedule.pk)
        return _Decision(schedule, first_due, 0, None, RunOutcome.DISPATCH_FAILED, [messages.timing_invalid(exc)])
    decision = _Decision(schedule, due_at, coalesced, following)
    if coalesced:
        decision.notes.append(messages.windows_coalesced(coalesced, since=first_due,
                                                         at_least=coalesced >= MAX_WINDOWS_COUNTED))
    if now - due_at > timedelta(minutes=schedule.grace_minutes):
        decision.outcome = RunOutcome.MISSED
        decision.notes.append(messages.window_missed(late=now - due_at, grace_minutes=schedule.grace_minutes))
    return decision


def _newest_window_at_or_before(recurrence, now: datetime, *, not_before: datetime) -> tuple[datetime, datetime]:
    """The last window <= now and the one after it, given that `not_before` is a window <= now.

    Looks back from `now` over a growing span instead of stepping forward from `not_before`, so
    a year of downtime on a five-minute schedule costs a handful of calls, not a hundred thousand.
    """
    lookback = timedelta(minutes=1)
    while True:
        probe = now - lookback
        if probe < not_before:
            window = not_before
            break
        window = recurrence.next_after(probe)
        if window <= now:
            break
        lookback *= 4
    while (following := recurrence.next_after(window)) <= now:
        window = following
    return window, following


def _count_windows(recurrence, first: datetime, last: datetime) -> int:
    """Windows strictly between `first` and `last` plus `first` itself, up to a cap."""
    count, window = 0, first
    while window < last and count < MAX_WINDOWS_COUNTED:
        count += 1
        window = recurrence.next_after(window)
    return count


def _apply_overlap_policy(decisions: list[_Decision]) -> None:
    skip_candidates = [d for d in decisions
                       if d.outcome == RunOutcome.DISPATCHED and d.schedule.overlap_policy == OverlapPolicy.SKIP]
    if not skip_candidates:
        return
    busy = set(
        Job.objects.filter(
            status__in=ACTIVE_STATUSES,
            schedule_runs__schedule__in=[d.schedule.pk for d in skip_candidates],
        ).values_list("schedule_runs__schedule", flat=True)
    )
    for d in skip_candidates:
        if d.schedule.pk in busy:
            d.outcome = RunOutcome.SKIPPED
            d.notes.append(messages.RUN_SKIPPED)


def _save_schedule_state(schedules: list[ScheduledTask], *, now: datetime) -> None:
    """Write each schedule's new next_run_at, last_run_at and last_outcome (and updated_at).

    Through `common.db.update_rows`, not `bulk_update`: its docstring says what that buys.
    """
    update_rows(ScheduledTask, schedules, ["next_run_at", "last_run_at", "last_outcome"], now=now)
