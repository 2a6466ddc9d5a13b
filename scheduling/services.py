"""Writes to schedules. Views, admin actions, commands and the API parse input and call these."""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet

from jobs.models import ACTIVE_STATUSES, Job
from jobs.services import job_create_many
from scheduling import registry
from scheduling.models import RunOutcome, RunTrigger, ScheduledTask, ScheduleKind, ScheduleRun

# Fields that decide when a schedule fires: changing any of them recomputes next_run_at.
TIMING_FIELDS = ("enabled", "schedule_kind", "schedule_time", "schedule_days", "interval_minutes",
                 "cron_expr", "timezone", "anchor_at")
# What a person edits. A save never writes last_run_at or last_outcome, which a scheduler may be
# updating at the same moment.
EDITABLE_FIELDS = ("name", "task_type", "params", "grace_minutes", "overlap_policy", *TIMING_FIELDS)


class RunActiveError(Exception):
    """Run now refused: a run of the schedule is still active."""


def schedule_save(*, schedule: ScheduledTask, now: datetime) -> ScheduledTask:
    """Validate and save a new or edited schedule, keeping next_run_at true to its timing.

    A disabled schedule has no next run. Enabling one, or changing its timing, points next_run_at
    at the next window after `now`: windows that passed while it was disabled never fire.
    """
    creating = schedule.pk is None
    if creating:
        schedule.created_at = now
        if schedule.schedule_kind == ScheduleKind.INTERVAL and schedule.anchor_at is None:
            schedule.anchor_at = now
    schedule.full_clean()
    with transaction.atomic():
        if creating:
            schedule.next_run_at = schedule.next_after(now) if schedule.enabled else None
            schedule.save()
            return schedule
        stored = ScheduledTask.objects.select_for_update().get(pk=schedule.pk)
        fields = list(EDITABLE_FIELDS)
        if any(getattr(stored, f) != getattr(schedule, f) for f in TIMING_FIELDS) or (
            schedule.enabled and stored.next_run_at is None
        ):
            if schedule.schedule_kind == ScheduleKind.INTERVAL and schedule.anchor_at is None:
                schedule.anchor_at = now
                fields.append("anchor_at")
            schedule.next_run_at = schedule.next_after(now) if schedule.enabled else None
            fields.append("next_run_at")
        else:
            schedule.next_run_at = stored.next_run_at
        schedule.save(update_fields=[*set(fields), "updated_at"])
    return schedule


def schedule_set_enabled(*, schedule: ScheduledTask, enabled: bool, now: datetime) -> ScheduledTask:
    """Enable (validating, like any save) or disable a schedule.

    Disabling never asks the schedule to be valid: it is how one whose channel group was deleted,
    say, is stopped.
    """
    if enabled:
        schedule.enabled = True
        return schedule_save(schedule=schedule, now=now)
    ScheduledTask.objects.filter(pk=schedule.pk).update(enabled=False, next_run_at=None, updated_at=now)
    schedule.enabled, schedule.next_run_at = False, None
    return schedule


def schedule_set_enabled_many(
    *, schedules: QuerySet[ScheduledTask], enabled: bool, now: datetime
) -> tuple[int, dict[ScheduledTask, ValidationError]]:
    """Enable or disable each schedule; return how many changed and the ones that could not be enabled."""
    changed, refused = 0, {}
    for schedule in schedules.filter(enabled=not enabled):
        try:
            schedule_set_enabled(schedule=schedule, enabled=enabled, now=now)
        except ValidationError as exc:
            refused[schedule] = exc
        else:
            changed += 1
    return changed, refused


def schedule_has_active_run(*, schedule: ScheduledTask) -> bool:
    return Job.objects.filter(schedule_runs__schedule=schedule, status__in=ACTIVE_STATUSES).exists()


def schedule_run_now(*, schedule: ScheduledTask, now: datetime, force: bool = False) -> ScheduleRun:
    """Run a schedule's task now ("Run now"): a manual run in the ledger; next_run_at stays.

    Refuses with RunActiveError while a run of the schedule is still active, unless forced.
    """
    with transaction.atomic():
        # Serialise concurrent "Run now" clicks on one schedule: the row lock on PostgreSQL, the
        # IMMEDIATE write transaction on SQLite.
        schedule = ScheduledTask.objects.select_for_update().get(pk=schedule.pk)
        if not force and schedule_has_active_run(schedule=schedule):
            raise RunActiveError(
                f"Schedule {schedule.name!r} is still running from an earlier run; wait for it or force it."
            )
        run = ScheduleRun.objects.create(
            schedule=schedule, trigger=RunTrigger.MANUAL, due_at=now, created_at=now,
            outcome=RunOutcome.DISPATCHED,
        )
        _dispatch(schedule=schedule, run=run, now=now)
        run.save(update_fields=["outcome", "message"])
        ScheduledTask.objects.filter(pk=schedule.pk).update(last_run_at=now, last_outcome=run.outcome)
    return run


def _dispatch(*, schedule: ScheduledTask, run: ScheduleRun, now: datetime) -> list[Job]:
    """Create the run's jobs; a task type that cannot dispatch marks the run failed instead."""
    try:
        requests = registry.job_requests_for(schedule)
    except registry.CannotDispatch as exc:
        run.outcome = RunOutcome.FAILED
        run.message = str(exc)
        return []
    jobs = job_create_many(requests=requests, now=now)
    run.jobs.add(*jobs)
    run.message = registry.jobs_created_message(len(jobs))
    return jobs
