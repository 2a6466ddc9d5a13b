from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.timezone import now

from scheduling import recurrence, registry

MIN_GRACE_MINUTES = 5


class ScheduleKind(models.TextChoices):
    DAILY = "daily", "Daily at a time"
    WEEKLY = "weekly", "Weekly on chosen days"
    INTERVAL = "interval", "Every N minutes"
    CRON = "cron", "Cron expression"


class OverlapPolicy(models.TextChoices):
    SKIP = "skip", "Skip a window while the previous run is still active"
    ALLOW = "allow", "Run anyway"


class ScheduledTask(models.Model):
    """A recurring piece of work: which task type, with which params, on which recurrence.

    `next_run_at` is a denormalised copy of the recurrence's next window (UTC), kept current by the
    services and indexed for enabled rows, so the scheduler's pass reads only what is due.
    """

    name = models.CharField(max_length=200)
    task_type = models.CharField(max_length=64)
    enabled = models.BooleanField(default=True)

    schedule_kind = models.CharField(max_length=16, choices=ScheduleKind.choices, default=ScheduleKind.DAILY)
    schedule_time = models.CharField(max_length=16, blank=True, help_text="HH:MM, 24-hour, in the schedule's time zone.")
    schedule_days = models.JSONField(default=list, blank=True, help_text='Weekdays, e.g. ["mon", "wed", "fri"].')
    interval_minutes = models.PositiveIntegerField(null=True, blank=True)
    cron_expr = models.CharField(max_length=120, blank=True, help_text="Five fields: minute hour day month weekday.")
    timezone = models.CharField(max_length=64, default="UTC", help_text="IANA time zone, e.g. Europe/Berlin.")
    # Interval schedules count from here (creation time unless given), so they never drift.
    anchor_at = models.DateTimeField(null=True, blank=True)

    params = models.JSONField(default=dict, blank=True, db_column="params_json")

    # At least a few minutes: a pass is always a little late, and with only the cluster's
    # once-a-minute safety net running, up to about 90 s late.
    grace_minutes = models.PositiveIntegerField(
        default=60,
        validators=[MinValueValidator(MIN_GRACE_MINUTES)],
        help_text="A window later than this (e.g. after downtime) is recorded as missed, not run.",
    )
    overlap_policy = models.CharField(max_length=8, choices=OverlapPolicy.choices, default=OverlapPolicy.SKIP)

    last_run_at = models.DateTimeField(null=True, blank=True)
    last_outcome = models.CharField(max_length=16, blank=True)
    next_run_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "scheduled_tasks"
        ordering = ["name", "id"]
        indexes = [
            # "Enabled and due" is a seek on this partial index.
            models.Index(fields=["next_run_at"], condition=Q(enabled=True), name="scheduled_task_due_idx"),
        ]

    def __str__(self) -> str:
        return self.name

    # --- validation: the one place every entrance (admin, pages, API, commands) goes through ---

    KIND_FIELDS = {
        ScheduleKind.DAILY: {"schedule_time"},
        ScheduleKind.WEEKLY: {"schedule_time", "schedule_days"},
        ScheduleKind.INTERVAL: {"interval_minutes"},
        ScheduleKind.CRON: {"cron_expr"},
    }

    def clean(self) -> None:
        self._clear_fields_of_other_kinds()
        errors: dict[str, list[str]] = {}

        def check(parse):
            try:
                return parse()
            except recurrence.RecurrenceError as exc:
                errors.setdefault(exc.field, []).append(str(exc))

        check(lambda: recurrence.parse_zone(self.timezone))
        kind = self.schedule_kind
        if kind in (ScheduleKind.DAILY, ScheduleKind.WEEKLY):
            check(lambda: recurrence.parse_time(self._required("schedule_time", self.schedule_time)))
        if kind == ScheduleKind.WEEKLY:
            days = check(lambda: recurrence.parse_days(self.schedule_days))
            if days is not None:  # canonical form: lower-case, unique, Monday first
                self.schedule_days = [recurrence.WEEKDAYS[d] for d in days]
        if kind == ScheduleKind.INTERVAL:
            check(lambda: self._required("interval_minutes", self.interval_minutes))
        if kind == ScheduleKind.CRON:
            expr = check(lambda: recurrence.validate_cron(self._required("cron_expr", self.cron_expr)))
            if expr is not None:
                self.cron_expr = expr
        if not errors:
            check(self.recurrence)  # the remaining rules: kind known, interval minimum, ...

        try:
            task_type = registry.get(self.task_type)
        except ValidationError as exc:
            errors.setdefault("task_type", []).extend(exc.messages)
        else:
            try:
                self.params = task_type.clean_params(self.params if self.params is not None else {})
            except ValidationError as exc:
                errors.setdefault("params", []).extend(exc.messages)
        if errors:
            raise ValidationError(errors)

    def _required(self, field: str, value):
        if value in (None, "", []):
            label = {"schedule_time": "A time (HH:MM)", "interval_minutes": "A number of minutes",
                     "cron_expr": "A cron expression"}[field]
            raise recurrence.RecurrenceError(field, f"{label} is required for {self.schedule_kind} schedules.")
        return value

    def _clear_fields_of_other_kinds(self) -> None:
        """Switching kind in a form leaves the old kind's values behind; they must not linger."""
        used = self.KIND_FIELDS.get(self.schedule_kind, set())
        if "schedule_time" not in used:
            self.schedule_time = ""
        if "schedule_days" not in used:
            self.schedule_days = []
        if "interval_minutes" not in used:
            self.interval_minutes = None
        if "cron_expr" not in used:
            self.cron_expr = ""

    # --- time ---

    def recurrence(self) -> recurrence.Recurrence:
        """The schedule's timing as the pure engine sees it; raises RecurrenceError if invalid."""
        kind = self.schedule_kind
        if kind not in recurrence.KINDS:
            raise recurrence.RecurrenceError(
                "schedule_kind", f"Choose one of: {', '.join(recurrence.KINDS)} (got {kind!r})."
            )
        common = {"kind": kind, "timezone": self.timezone}
        if kind == ScheduleKind.DAILY:
            return recurrence.Recurrence(**common, time=recurrence.parse_time(self._required("schedule_time", self.schedule_time)))
        if kind == ScheduleKind.WEEKLY:
            return recurrence.Recurrence(
                **common,
                time=recurrence.parse_time(self._required("schedule_time", self.schedule_time)),
                days=recurrence.parse_days(self.schedule_days),
            )
        if kind == ScheduleKind.INTERVAL:
            return recurrence.Recurrence(
                **common,
                interval_minutes=self._required("interval_minutes", self.interval_minutes),
                anchor=self.anchor_at or self.created_at,
            )
        return recurrence.Recurrence(**common, cron_expr=self._required("cron_expr", self.cron_expr))

    def describe(self) -> str:
        try:
            return self.recurrence().describe()
        except recurrence.RecurrenceError:
            return "Invalid schedule"

    def next_after(self, instant: datetime) -> datetime:
        return self.recurrence().next_after(instant)


class RunTrigger(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    MANUAL = "manual", "Run now"


class RunOutcome(models.TextChoices):
    DISPATCHED = "dispatched", "Dispatched"
    SKIPPED = "skipped", "Skipped (previous run still active)"
    MISSED = "missed", "Missed (past its grace period)"
    FAILED = "failed", "Failed to dispatch"


class ScheduleRun(models.Model):
    """The ledger: one row per scheduled window or manual run.

    The partial unique constraint on (schedule, due_at) for scheduled triggers is what makes two
    schedulers racing for the same window harmless: one insert wins, the other gets an
    IntegrityError and moves on.
    """

    schedule = models.ForeignKey(ScheduledTask, on_delete=models.CASCADE, related_name="runs")
    trigger = models.CharField(max_length=16, choices=RunTrigger.choices)
    due_at = models.DateTimeField()
    outcome = models.CharField(max_length=16, choices=RunOutcome.choices)
    message = models.TextField(blank=True)
    # Earlier windows folded into this one after downtime (they did not run separately).
    coalesced_windows = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=now)
    jobs = models.ManyToManyField("jobs.Job", related_name="schedule_runs", blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["schedule", "due_at"],
                condition=Q(trigger="scheduled"),
                name="unique_scheduled_window",
            )
        ]
        indexes = [models.Index(fields=["schedule", "-created_at"], name="schedule_run_recent_idx")]

    def __str__(self) -> str:
        return f"{self.schedule} @ {self.due_at:%Y-%m-%d %H:%M} UTC: {self.outcome}"

    @property
    def lateness(self):
        return self.created_at - self.due_at


class SchedulerHeartbeat(models.Model):
    """Written by every scheduler pass, read by the health check and the status badge."""

    name = models.CharField(max_length=200, unique=True, help_text="host:pid of the scheduler process.")
    last_pass_at = models.DateTimeField(db_index=True)
    # How late the latest dispatched window was, in seconds (dispatch time minus due time).
    lateness_seconds = models.FloatField(default=0)

    def __str__(self) -> str:
        return f"{self.name} at {self.last_pass_at:%Y-%m-%d %H:%M:%S} UTC"
