"""The scheduler's pass: turn due windows into ledger rows and jobs, exactly once.

Every due window is claimed, decided and dispatched inside one transaction together with the
advance of its schedule's `next_run_at`, so a crash leaves either all of it or none of it. Windows
are processed in batches (one transaction per batch) because a pass with a thousand due
schedules must stay well under a second on SQLite.

A paused schedule's windows are claimed like any other, but recorded as `paused` and never run;
one run stands for all the windows of a pause (each later one moves that run's `due_at` to it and
counts the one before). After its windows the pass lifts every pause that has ended.

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
from django.db.models import OuterRef, Subquery

from common.db import update_rows
from jobs.models import ACTIVE_STATUSES, Job
from scheduling import alerts, messages, services
from scheduling.models import OverlapPolicy, RunOutcome, RunTrigger, ScheduledTask, ScheduleRun

logger = logging.getLogger(__name__)

# After long downtime, windows are counted up to this many for the run's message.
MAX_WINDOWS_COUNTED = 1_000
# The smallest step of time: a pause ending at 08:00 covers the windows before 08:00, not 08:00's.
_INSTANT = timedelta(microseconds=1)


@dataclass
class PassReport:
    now: datetime
    outcomes: dict[str, int] = field(default_factory=dict)
    lost_races: int = 0
    pauses_ended: int = 0
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
    # A paused decision's windows are added to the schedule's open paused run, if it has one.
    extends: ScheduleRun | None = None

    @property
    def message(self) -> str:
        return self.run.message if self.run is not None else " ".join(self.notes)


def due_schedules(*, now: datetime):
    return ScheduledTask.objects.filter(enabled=True, next_run_at__lte=now).order_by("next_run_at", "id")


def run_pass(*, now: datetime, batch_size: int | None = None) -> PassReport:
    """One pass over everything due at `now`, then the pauses that have ended by `now`.

    Windows first: a window due before a pause's end is paused even when the pass comes late.
    """
    batch_size = batch_size or settings.SCHEDULER_BATCH_SIZE
    report = PassReport(now=now)
    # Most passes find nothing due: answer that from the index without taking SQLite's write lock.
    while due_schedules(now=now).exists():
        try:
            handled = _process_batch(now=now, limit=batch_size, report=report)
        except IntegrityError:
            # A window of this batch is already in the ledger. Go one by one, so that only
            # that window is set aside and the rest of the batch still runs.
            handled = _process_one_by_one(now=now, limit=batch_size, report=report)
        if handled < batch_size:
            break
    report.pauses_ended = services.schedule_pauses_end(now=now)
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
        claimed = [decision for decision in _decide(schedule, now=now) if ScheduleRun.objects.filter(
            schedule=schedule, trigger=RunTrigger.SCHEDULED, due_at=decision.due_at).exists()]
        if not claimed:
            return False
        logger.warning("Schedule %s: window %s is already in the ledger; moving on.", pk, claimed[-1].due_at.isoformat())
        ScheduledTask.objects.filter(pk=pk).update(next_run_at=claimed[-1].next_run_at)
    return True


def _process_batch(*, now: datetime, limit: int, report: PassReport, pk: int | None = None) -> int:
    """Claim, decide and dispatch the windows of up to `limit` due schedules in one transaction; return how
    many schedules."""
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
        # A schedule has one decision, or two when the pass is late past the end of its pause.
        decisions = [decision for schedule in schedules for decision in _decide(schedule, now=now)]
        _apply_overlap_policy(decisions)
        _find_open_paused_runs(decisions)
        new = [d for d in decisions if d.extends is None]
        runs = services.schedule_run_create_many(runs=[
            ScheduleRun(schedule=d.schedule, schedule_name=d.schedule.name, trigger=RunTrigger.SCHEDULED,
                        due_at=d.due_at, outcome=d.outcome, message=d.message, coalesced_windows=d.coalesced,
                        created_at=now)
            for d in new], now=now)
        for d, run in zip(new, runs):
            d.run, d.outcome = run, run.outcome
        _extend_paused_runs([d for d in decisions if d.extends is not None], now=now)
        for d in decisions:
            d.schedule.next_run_at = d.next_run_at
            if d.outcome != RunOutcome.PAUSED:  # a pause says nothing about how the work went
                d.schedule.last_outcome = d.outcome
            if d.outcome in (RunOutcome.DISPATCHED, RunOutcome.SUCCEEDED):
                d.schedule.last_run_at = now
        _save_schedule_state(schedules, now=now)
    alerts.windows_decided(runs=[d.run for d in decisions], now=now)
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
    return len(schedules)


def _decide(schedule: ScheduledTask, *, now: datetime) -> list[_Decision]:
    """The decisions for a due schedule: its windows inside its pause, then the others.

    Usually one. Two when the pass comes after the pause has ended and windows after the end are
    due as well (the scheduler was down): those are decided as if there had been no pause.
    """
    decision = _decide_window(schedule, now=now, first_due=schedule.next_run_at)
    if decision.outcome != RunOutcome.PAUSED or decision.next_run_at is None or decision.next_run_at > now:
        return [decision]
    return [decision, _decide_window(schedule, now=now, first_due=decision.next_run_at)]


def _decide_window(schedule: ScheduledTask, *, now: datetime, first_due: datetime) -> _Decision:
    """Which window this pass claims for a due schedule from `first_due` on, and what becomes of it.

    After downtime several windows may have passed: they are coalesced into the newest one, which
    runs if it is within the grace period and is recorded as missed otherwise. Either way the
    schedule moves on to its first window after `now`, so nothing fires twice. Windows inside the
    schedule's pause are coalesced the same way (up to the pause's end) and recorded as paused.
    """
    paused = schedule.is_paused(at=first_due)
    # The newest window a paused decision may claim is the last one before the pause's end.
    last = min(now, schedule.paused_until - _INSTANT) if paused else now
    try:
        recurrence = schedule.recurrence()
        following = recurrence.next_after(first_due)
        if following > last:  # the usual case: one window
            due_at, coalesced = first_due, 0
        else:
            due_at, following = _newest_window_at_or_before(recurrence, last, not_before=following)
            coalesced = _count_windows(recurrence, first_due, due_at)
    except Exception as exc:
        # Timing that no longer computes (a zone gone from tzdata, a row edited by hand...): one
        # schedule must not stop the pass for everyone. It pauses, visibly, until it is edited.
        logger.exception("Schedule %s: cannot compute its windows", schedule.pk)
        return _Decision(schedule, first_due, 0, None, RunOutcome.DISPATCH_FAILED, [messages.timing_invalid(exc)])
    decision = _Decision(schedule, due_at, coalesced, following)
    if paused:
        decision.outcome = RunOutcome.PAUSED
        decision.notes.append(messages.window_paused(schedule))
        return decision
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


def _find_open_paused_runs(decisions: list[_Decision]) -> None:
    """Point each paused decision at its schedule's open paused run: its newest run, if that is a
    paused window. A run of any other kind (Run now during the pause, say) closes it."""
    paused = [d for d in decisions if d.outcome == RunOutcome.PAUSED]
    if not paused:
        return
    newest = ScheduleRun.objects.filter(schedule=OuterRef("pk")).order_by("-created_at", "-pk").values("pk")[:1]
    newest_ids = ScheduledTask.objects.filter(pk__in=[d.schedule.pk for d in paused]).values(newest=Subquery(newest))
    open_runs = {run.schedule_id: run for run in ScheduleRun.objects.filter(
        pk__in=newest_ids, trigger=RunTrigger.SCHEDULED, outcome=RunOutcome.PAUSED)}
    for d in paused:
        d.extends = open_runs.get(d.schedule.pk)


def _extend_paused_runs(decisions: list[_Decision], *, now: datetime) -> None:
    """Add paused decisions' windows to their open paused runs: `due_at` moves to the newest window
    (the ledger's unique window still guards it), the windows before it are counted, and the
    message says the pause as it is now (its end may have moved)."""
    for d in decisions:
        run, message = d.extends, d.message
        if run.due_at >= d.due_at:  # another scheduler has added this window already
            raise IntegrityError(f"Window {d.due_at.isoformat()} of schedule {d.schedule.pk} is in the ledger.")
        run.coalesced_windows += d.coalesced + 1
        run.due_at, run.message = d.due_at, message
        d.run = run
    update_rows(ScheduleRun, [d.run for d in decisions], ["due_at", "coalesced_windows", "message"], now=now)


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
