"""Writes to schedules. Views, admin actions, commands and the API parse input and call these.

Every write names its actor (who, and through which entrance) and leaves one audit entry.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet, TextField, Value
from django.db.models.functions import Concat, Trim

from common.actors import SYSTEM, Actor
from common.db import update_rows
from jobs import conf as jobs_conf
from jobs.models import ACTIVE_STATUSES, Job, JobStatus
from jobs.services import JobRequest, job_create_many
from scheduling import alerts, audit, messages, recurrence, registry
from scheduling.models import AuditAction, RunOutcome, RunTrigger, ScheduledTask, ScheduleKind, ScheduleRun

logger = logging.getLogger(__name__)


class RunActiveError(Exception):
    """Run now refused: a run of the schedule is still active. The message says which and how far it got."""

    def __init__(self, *, schedule_name: str, job_counts: dict[str, int]):
        self.schedule_name, self.job_counts = schedule_name, job_counts
        super().__init__(messages.run_active(schedule_name=schedule_name, job_counts=job_counts))


def _timing(schedule: ScheduledTask):
    """The schedule's recurrence and whether it is enabled; None for timing that does not compute."""
    try:
        return schedule.enabled, schedule.recurrence()
    except Exception:
        return None


def schedule_save(*, schedule: ScheduledTask, now: datetime, actor: Actor = SYSTEM) -> ScheduledTask:
    """Validate and save a new or edited schedule, keeping next_run_at true to its timing.

    A disabled schedule has no next run. Enabling one, or changing its timing, points next_run_at
    at the next window after `now`: windows that passed while it was disabled never fire. A user's
    save is first put to the task type (`registry.check_change`), which may refuse it with
    ParamsChangeRefused (a backup retention that would delete backups, without the permission to).
    """
    creating = schedule.pk is None
    if creating:
        schedule.created_at = now
    if schedule.schedule_kind == ScheduleKind.INTERVAL and schedule.anchor_at is None:
        schedule.anchor_at = recurrence.whole_minute(now)
    schedule.full_clean()
    with transaction.atomic():
        if creating:
            registry.check_change(old=None, new=schedule, user=actor.user, now=now)
            schedule.next_run_at = schedule.next_after(now) if schedule.enabled else None
            schedule.save()
            audit.record(schedule=schedule, action=AuditAction.CREATE, actor=actor, now=now,
                         changes=audit.diff({}, audit.snapshot(schedule)))
            return schedule
        stored = ScheduledTask.objects.select_for_update().get(pk=schedule.pk)
        registry.check_change(old=stored, new=schedule, user=actor.user, now=now)
        fields = list(ScheduledTask.EDITABLE_FIELDS)
        if _timing(stored) != _timing(schedule) or (schedule.enabled and stored.next_run_at is None):
            schedule.next_run_at = schedule.next_after(now) if schedule.enabled else None
            fields.append("next_run_at")
        else:
            schedule.next_run_at = stored.next_run_at
        # The save leaves a run's bookkeeping alone; the locked row has it as it is committed, so
        # the schedule handed back is the row as saved, with nothing to re-read.
        schedule.last_run_at, schedule.last_outcome = stored.last_run_at, stored.last_outcome
        changes = audit.diff(audit.snapshot(stored), audit.snapshot(schedule))
        schedule.save(update_fields=[*fields, "updated_at"])
        if changes:
            action = AuditAction.UPDATE
            if set(changes) == {"enabled"}:
                action = AuditAction.ENABLE if schedule.enabled else AuditAction.DISABLE
            audit.record(schedule=schedule, action=action, actor=actor, now=now, changes=changes)
    return schedule


def schedule_set_enabled(*, schedule: ScheduledTask, enabled: bool, now: datetime,
                         actor: Actor = SYSTEM, reason: str = "") -> ScheduledTask:
    """Enable (validating, like any save) or disable a schedule.

    Disabling never asks the schedule to be valid: it is how one whose channel group was deleted,
    say, is stopped. `reason` says why in the audit entry when the system does it.
    """
    if enabled:
        schedule.enabled = True
        return schedule_save(schedule=schedule, now=now, actor=actor)
    with transaction.atomic():
        changed = ScheduledTask.objects.filter(pk=schedule.pk, enabled=True).update(
            enabled=False, next_run_at=None, updated_at=now)
        schedule.enabled, schedule.next_run_at = False, None
        if changed:
            schedule.updated_at = now
            changes = {"enabled": [True, False]}
            if reason:
                changes["reason"] = reason
            audit.record(schedule=schedule, action=AuditAction.DISABLE, actor=actor, now=now, changes=changes)
    return schedule


def schedule_set_enabled_many(
    *, schedules: QuerySet[ScheduledTask], enabled: bool, now: datetime, actor: Actor = SYSTEM
) -> tuple[int, dict[ScheduledTask, ValidationError]]:
    """Enable or disable each schedule; return how many changed and the ones that could not be enabled.

    Schedules already in the wanted state are left alone (no save, no audit entry).
    """
    changed, refused = 0, {}
    for schedule in schedules.filter(enabled=not enabled):
        try:
            schedule_set_enabled(schedule=schedule, enabled=enabled, now=now, actor=actor)
        except ValidationError as exc:
            refused[schedule] = exc
        else:
            changed += 1
    return changed, refused


# --- pause and resume -----------------------------------------------------------------------

def schedule_pause(*, schedule: ScheduledTask, until: datetime, reason: str = "", now: datetime,
                   actor: Actor = SYSTEM) -> ScheduledTask:
    """Pause a schedule until `until`, saying why; pausing a paused one changes its end or reason.

    Its windows before `until` are not run but recorded as paused, and the scheduler's pass lifts
    the pause at `until`. `next_run_at` keeps pointing at the next window, so the pass still meets
    each one. Raises ValidationError naming `until` or `reason` (`ScheduledTask.clean_pause`).
    """
    with transaction.atomic():
        stored = ScheduledTask.objects.select_for_update().get(pk=schedule.pk)
        reason = stored.clean_pause(until=until, reason=reason, now=now)
        _set_pause(stored, until=until, reason=reason, action=AuditAction.PAUSE, actor=actor, now=now)
    schedule.paused_until, schedule.pause_reason, schedule.updated_at = (stored.paused_until, stored.pause_reason,
                                                                          stored.updated_at)
    return schedule


def schedule_resume(*, schedule: ScheduledTask, now: datetime, actor: Actor = SYSTEM) -> ScheduledTask:
    """Lift a schedule's pause now ("Resume now"); a schedule that is not paused is left alone.

    Windows from now on run as usual.
    """
    with transaction.atomic():
        stored = ScheduledTask.objects.select_for_update().get(pk=schedule.pk)
        _set_pause(stored, until=None, reason="", action=AuditAction.RESUME, actor=actor, now=now)
    schedule.paused_until, schedule.pause_reason, schedule.updated_at = None, "", stored.updated_at
    return schedule


def schedule_pauses_end(*, now: datetime, limit: int = 500) -> int:
    """Lift every pause that has ended by `now`, as the system; return how many. The pass calls it.

    Each lifted pause leaves a "resume" audit entry by the system. Two schedulers at it at once
    lift each pause once: PostgreSQL skips the rows the other holds, SQLite serialises the writes.
    """
    ended = ScheduledTask.objects.filter(paused_until__lte=now)
    lifted = 0
    # Most passes find no pause ending: answer that from the index without taking SQLite's write lock.
    while ended.exists():
        with transaction.atomic():
            schedules = list(ended.select_for_update(skip_locked=True).order_by("paused_until", "pk")[:limit])
            for schedule in schedules:
                _set_pause(schedule, until=None, reason="", action=AuditAction.RESUME, actor=SYSTEM, now=now)
        lifted += len(schedules)
        if len(schedules) < limit:
            break
    return lifted


def _set_pause(schedule: ScheduledTask, *, until: datetime | None, reason: str, action: str, actor: Actor,
               now: datetime) -> None:
    """Write a locked schedule's pause and its audit entry (with the diff), if anything changes."""
    changes = {field: [audit.to_json(old), audit.to_json(new)]
               for field, old, new in (("paused_until", schedule.paused_until, until),
                                       ("pause_reason", schedule.pause_reason, reason)) if old != new}
    if not changes:
        return
    schedule.paused_until, schedule.pause_reason, schedule.updated_at = until, reason, now
    ScheduledTask.objects.filter(pk=schedule.pk).update(paused_until=until, pause_reason=reason, updated_at=now)
    audit.record(schedule=schedule, action=action, actor=actor, now=now, changes=changes)


def schedule_delete(*, schedule: ScheduledTask, now: datetime, actor: Actor = SYSTEM) -> None:
    """Delete a schedule. Its runs and audit entries stay, under its name; its jobs keep their origin."""
    with transaction.atomic():
        audit.record(schedule=schedule, action=AuditAction.DELETE, actor=actor, now=now,
                     changes=audit.diff(audit.snapshot(schedule), {field: None for field in ScheduledTask.EDITABLE_FIELDS}))
        schedule.delete()


def active_jobs_of(schedule: ScheduledTask) -> QuerySet[Job]:
    return Job.objects.filter(schedule_runs__schedule=schedule, status__in=ACTIVE_STATUSES)


def schedule_has_active_run(*, schedule: ScheduledTask) -> bool:
    return active_jobs_of(schedule).exists()


def schedule_run_now(*, schedule: ScheduledTask, now: datetime, force: bool = False,
                     actor: Actor = SYSTEM) -> ScheduleRun:
    """Run a schedule's task now ("Run now"): a manual run in the ledger; next_run_at stays.

    Refuses with RunActiveError while a run of the schedule is still active, unless forced.
    """
    with transaction.atomic():
        # Serialise concurrent "Run now" clicks on one schedule: the row lock on PostgreSQL, the
        # IMMEDIATE write transaction on SQLite.
        schedule = ScheduledTask.objects.select_for_update().get(pk=schedule.pk)
        if not force and schedule_has_active_run(schedule=schedule):
            counts: dict[str, int] = {}
            for status in active_jobs_of(schedule).values_list("status", flat=True):
                counts[status] = counts.get(status, 0) + 1
            raise RunActiveError(schedule_name=schedule.name, job_counts=counts)
        by = f" by {actor.name}" if actor.name else ""
        [run] = schedule_run_create_many(
            runs=[ScheduleRun(schedule=schedule, schedule_name=schedule.name, trigger=RunTrigger.MANUAL, due_at=now,
                              created_at=now, outcome=RunOutcome.DISPATCHED)],
            now=now, origin_note=f" (Run now{by})")
        ScheduledTask.objects.filter(pk=schedule.pk).update(last_run_at=now, last_outcome=run.outcome, updated_at=now)
        audit.record(schedule=schedule, action=AuditAction.RUN_NOW, actor=actor, now=now,
                     changes={"forced": force} if force else {})
    return run


def schedule_run_create_many(*, runs: list[ScheduleRun], now: datetime, origin_note: str = "") -> list[ScheduleRun]:
    """Write runs into the ledger and dispatch those that are to run; the one way both the pass and
    Run now make runs. Returns the runs, saved, with their outcome and message.

    A run given with the outcome `dispatched` is handed, saved, to its schedule's task type, which
    says which jobs it creates (and may record the run on rows of its own). The jobs are created,
    each naming the run as its origin (plus `origin_note`), and linked to it. A run whose task type
    cannot say fails to dispatch, with the reason as its message; one that wants no job succeeds at
    once. Runs given with another outcome (skipped, missed...) are only written.

    All in one transaction, and in a number of statements that does not grow with the runs (one
    INSERT of the runs, of the jobs, of their links; one executemany UPDATE of the runs the task
    types' answers changed), besides what the task types do. A scheduled window already in the
    ledger raises IntegrityError, and nothing is written.
    """
    with transaction.atomic():
        runs = ScheduleRun.objects.bulk_create(runs)
        wanted: list[tuple[ScheduleRun, JobRequest]] = []
        answered = []
        for run in runs:
            if run.outcome != RunOutcome.DISPATCHED:
                continue
            try:
                requests = registry.job_requests_for(run, now=now)
            except registry.CannotDispatch as exc:
                run.outcome, note = RunOutcome.DISPATCH_FAILED, str(exc)
            else:
                wanted.extend((run, request) for request in requests)
                note = messages.jobs_created(len(requests))
                if not requests:  # nothing to do (a group without enabled channels) is done at once
                    run.outcome, run.finished_at = RunOutcome.SUCCEEDED, now
            run.message = " ".join(part for part in (run.message.strip(), note) if part)
            answered.append(run)
        jobs = job_create_many(requests=[
            # followed: the run waits for them (runs_follow_jobs), so their ends are announced durably.
            dataclasses.replace(request, origin_label=run.origin_label + origin_note, origin_url=run.get_absolute_url(),
                                followed=True)
            for run, request in wanted], now=now)
        Link = ScheduleRun.jobs.through
        Link.objects.bulk_create([Link(schedulerun_id=run.pk, job_id=job.pk) for (run, _), job in zip(wanted, jobs)])
        update_rows(ScheduleRun, answered, ["outcome", "message", "finished_at"], now=now)
    return runs


def schedule_run_add_note(*, run_id: int, note: str) -> None:
    """Add a sentence to a run's message (a group sync's feed outage, say), so that the run's page says
    it without knowing what it is about."""
    ScheduleRun.objects.filter(pk=run_id).update(
        message=Trim(Concat(F("message"), Value(" " + note), output_field=TextField())))


# --- run outcomes follow their jobs ------------------------------------------------------------

# Windows that say nothing about how the work went: a failure before them stays the last outcome.
QUIET_OUTCOMES = (RunOutcome.SKIPPED, RunOutcome.PAUSED)
FOLLOWING_OUTCOMES = (RunOutcome.DISPATCHED, RunOutcome.SUCCEEDED, RunOutcome.FAILED, RunOutcome.PARTLY_FAILED)


def outcome_of_jobs(statuses: list[str]) -> str:
    """Dispatched while any job is active; then succeeded, failed, or partly failed."""
    if any(status in ACTIVE_STATUSES for status in statuses):
        return RunOutcome.DISPATCHED
    completed = sum(status == JobStatus.COMPLETED for status in statuses)
    if completed == len(statuses):
        return RunOutcome.SUCCEEDED
    return RunOutcome.FAILED if completed == 0 else RunOutcome.PARTLY_FAILED


def runs_follow_jobs(*, job_ids: list[int], now: datetime) -> int:
    """Bring the outcome of the runs these jobs belong to up to date; return how many changed.

    Called when jobs finish or are queued again by hand (jobs.signals.job_status_changed), maybe
    more than once for the same change: a run already up to date is left as it is. The schedule's
    last outcome follows its newest run that was not skipped or paused (such a window says nothing
    new about how the work went).
    """
    # Most finished jobs belong to no run (Sync now, retries of old jobs...): one seek on the link
    # table's job index answers that; a worker pays it after every job (bench/jobs_throughput.py).
    run_ids = set(ScheduleRun.jobs.through.objects.filter(job_id__in=job_ids).values_list("schedulerun_id", flat=True))
    if not run_ids:
        return 0
    # A savepoint inside the announcement's transaction: should this fail half-way, none of its
    # writes stand, and the jobs' next announcement does all of it again (jobs.signals).
    with transaction.atomic():
        return _runs_follow(run_ids, now=now)


def runs_settle_stale(*, now: datetime, limit: int = 100) -> int:
    """Settle runs still dispatched although none of their jobs is active; return how many.

    The net under the jobs' announcements (each scheduler step, through jobs.signals.jobs_maintained):
    a run whose last job's announcement never came, and never will (its jobs are no longer marked to
    be announced: they finished before announcements were durable, say). A job still marked is the
    announcement's to settle, so in normal operation this finds nothing: an announcement clears the
    mark in the transaction that settles the run. Reads only runs dispatched longer than the
    announcements are given, through the partial index of dispatched runs.
    """
    waiting = Q(job__status__in=ACTIVE_STATUSES) | Q(job__announce_due_at__isnull=False)
    unsettled = ScheduleRun.jobs.through.objects.filter(waiting, schedulerun_id=OuterRef("pk"))
    stale = (ScheduleRun.objects.filter(outcome=RunOutcome.DISPATCHED,
                                        created_at__lt=now - jobs_conf.seconds("JOBS_ANNOUNCE_AGAIN_AFTER_SECONDS"))
             .exclude(Exists(unsettled)).order_by("created_at").values_list("pk", flat=True)[:limit])
    run_ids = set(stale)
    if not run_ids:
        return 0
    changed = _runs_follow(run_ids, now=now)
    if changed:
        logger.warning("Settled %d run(s) left dispatched after their last job finished.", changed)
    return changed


def _runs_follow(run_ids: set[int], *, now: datetime) -> int:
    changed = 0
    for run in ScheduleRun.objects.filter(pk__in=run_ids, outcome__in=FOLLOWING_OUTCOMES):
        if run.outcome == RunOutcome.DISPATCHED and run.jobs.filter(status__in=ACTIVE_STATUSES).exists():
            continue  # still dispatched: a group sync's 200 jobs would otherwise read 200 statuses each
        outcome = outcome_of_jobs(list(run.jobs.values_list("status", flat=True)))
        if outcome == run.outcome:
            continue
        finished_at = None if outcome == RunOutcome.DISPATCHED else now
        if not ScheduleRun.objects.filter(pk=run.pk, outcome=run.outcome).update(outcome=outcome,
                                                                                finished_at=finished_at):
            continue  # another worker's job finished at the same moment and got there first
        changed += 1
        alerts.run_settled(run=run, outcome=outcome, now=now)
        newer = ScheduleRun.objects.filter(schedule_id=run.schedule_id, pk__gt=run.pk).exclude(
            outcome__in=QUIET_OUTCOMES)
        if run.schedule_id and not newer.exists():
            ScheduledTask.objects.filter(pk=run.schedule_id).update(last_outcome=outcome, updated_at=now)
    return changed
