from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.validators import MinValueValidator, ProhibitNullCharactersValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils.text import slugify
from django.utils.timezone import now

from common.actors import Via
from common.formatting import format_instant
from notifications.selectors import channels_missing
from scheduling import recurrence, registry

MIN_GRACE_MINUTES = 5
# A window later than a year is never worth running; the bound also keeps the value inside every
# database's integer (SQLite would store 10**12, PostgreSQL would refuse it with a 500).
MAX_GRACE_MINUTES = 366 * 24 * 60
# A pause is for maintenance and holidays; longer than this is what disabling is for.
MAX_PAUSE = timedelta(days=365)
# The engine's names for the fields it checks, where the model's differ.
_FIELD_OF = {"anchor": "anchor_at"}
KEY_MAX_LENGTH = 100
# Room left for "-2", "-3"... when a key made from a name is taken already.
_KEY_BASE_LENGTH = KEY_MAX_LENGTH - 10
validate_key = RegexValidator(
    r"\A[a-z0-9][a-z0-9_-]*\Z",
    "Use lower-case letters, digits, hyphens and underscores, starting with a letter or digit, e.g. news-daily.",
    code="invalid_key",
)


# The kinds are the recurrence engine's; only their labels are said here.
ScheduleKind = models.TextChoices("ScheduleKind", [(kind.upper(), (kind, label)) for kind, label in {
    "daily": "Daily at a time",
    "weekly": "Weekly on chosen days",
    "interval": "Every N minutes",
    "cron": "Cron expression",
}.items()])
assert set(ScheduleKind.values) == set(recurrence.KINDS)


class RunTrigger(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    MANUAL = "manual", "Run now"


class RunOutcome(models.TextChoices):
    # Jobs created and not all finished yet; the outcome follows the jobs once they are.
    DISPATCHED = "dispatched", "Dispatched"
    SUCCEEDED = "succeeded", "Succeeded"
    PARTLY_FAILED = "partly_failed", "Partly failed"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped (previous run still active)"
    MISSED = "missed", "Missed (past its grace period)"
    DISPATCH_FAILED = "dispatch_failed", "Failed to dispatch"
    # Windows that fell inside a pause: never run. One run per pause stands for all of them.
    PAUSED = "paused", "Paused"


class OverlapPolicy(models.TextChoices):
    SKIP = "skip", "Skip a window while the previous run is still active"
    ALLOW = "allow", "Run anyway"


class ScheduledTask(models.Model):
    """A recurring piece of work: which task type, with which params, on which recurrence.

    `next_run_at` is a denormalised copy of the recurrence's next window (UTC), kept current by the
    services and indexed for enabled rows, so the scheduler's pass reads only what is due.
    """

    # NUL: PostgreSQL cannot store it, and the forms refuse it; the model says so for every entrance.
    name = models.CharField(max_length=200, validators=[ProhibitNullCharactersValidator()])
    # What files and scripts call the schedule (manage.py export_schedules / import_schedules): ids
    # differ from one database to the next, names may repeat and change. Made from the name when left
    # empty, then kept when the name changes.
    key = models.CharField(max_length=KEY_MAX_LENGTH, unique=True, blank=True, validators=[validate_key],
                           help_text="A short unique name for files and scripts, e.g. news-daily; "
                                     "empty: made from the name. It stays when the name changes.")
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
    # Which notification channels this schedule's alerts go to, by id; empty: all of them.
    notify_channels = models.JSONField(default=list, db_default=[], blank=True,
                                       help_text="Notification channel ids for this schedule's alerts; empty: all.")

    # Paused: windows before this instant are not run but recorded as paused; the scheduler's pass
    # lifts the pause at this instant. Set and cleared only by the pause services.
    paused_until = models.DateTimeField(null=True, blank=True)
    # A default in the table too: code of the release before (a web process during a deploy, an
    # older migration's model) inserts schedules without the column.
    pause_reason = models.CharField(max_length=200, blank=True, default="", db_default="",
                                    validators=[ProhibitNullCharactersValidator()])

    last_run_at = models.DateTimeField(null=True, blank=True)
    last_outcome = models.CharField(max_length=16, blank=True, choices=RunOutcome.choices)
    next_run_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "scheduled_tasks"
        ordering = ["name", "id"]
        indexes = [
            # "Enabled and due" is a seek on this partial index.
            models.Index(fields=["next_run_at"], condition=Q(enabled=True), name="scheduled_task_due_idx"),
            # Every pass asks whether a pause has ended: a seek on the few paused rows.
            models.Index(fields=["paused_until"], condition=Q(paused_until__isnull=False),
                         name="scheduled_task_paused_idx"),
            # The lists' order (/schedules, the admin): a page is a walk along it, not a sort of every
            # row (10,000 schedules: 1.8 ms instead of 10 ms for the first page, 34 ms for the last).
            models.Index(fields=["name", "id"], name="scheduled_task_name_idx"),
        ]

    def __str__(self) -> str:
        return self.name

    # What a person edits, in the order an audit diff lists it. A save writes only these (never
    # last_run_at or last_outcome, which a scheduler may be updating at the same moment).
    EDITABLE_FIELDS = ("name", "key", "task_type", "params", "enabled", "schedule_kind", "schedule_time", "schedule_days",
                       "interval_minutes", "anchor_at", "cron_expr", "timezone", "grace_minutes", "overlap_policy",
                       "notify_channels")

    # --- validation: the one place every entrance (admin, pages, API, commands) goes through ---

    KIND_FIELDS = {
        ScheduleKind.DAILY: {"schedule_time"},
        ScheduleKind.WEEKLY: {"schedule_time", "schedule_days"},
        ScheduleKind.INTERVAL: {"interval_minutes", "anchor_at"},
        ScheduleKind.CRON: {"cron_expr"},
    }

    def full_clean(self, exclude=None, validate_unique=True, validate_constraints=True) -> None:
        """Django's full_clean, with one message per mistake.

        Django checks each field on its own first (choices, blank, length, minimum) and runs clean()
        whatever those found, reporting both: a schedule kind of "hourly" got "Value 'hourly' is not a
        valid choice." and clean()'s "Choose one of: daily, weekly, interval, cron (got 'hourly')."
        clean() judges these fields by the schedule's rules, in words that quote the value and say what
        would do, so where it has a message for a field, Django's generic one for that field is dropped.
        A field clean() has no word on (grace_minutes, name, a valid cron expression that is too long
        to store) keeps Django's message.
        """
        exclude = set(exclude or ())
        errors: dict[str, list] = {}
        try:
            self.clean_fields(exclude=exclude)
        except ValidationError as exc:
            errors = exc.update_error_dict(errors)
        try:
            self.clean()
        except ValidationError as exc:
            errors |= exc.update_error_dict({})
        # As Django does: uniqueness and constraints only for the fields that passed.
        exclude |= set(errors) - {NON_FIELD_ERRORS}
        for check, wanted in ((self.validate_unique, validate_unique),
                              (self.validate_constraints, validate_constraints)):
            if wanted:
                try:
                    check(exclude=exclude)
                except ValidationError as exc:
                    errors = exc.update_error_dict(errors)
        if errors:
            raise ValidationError(errors)

    def clean(self) -> None:
        if not self.key and self.name:  # before the save's audit diff, which must show the key it gets
            self.key = self.free_key(self.name)
        self._clear_fields_of_other_kinds()
        errors: dict[str, list] = {}
        # Whatever the entrance, "europe/berlin" is Europe/Berlin, stored as IANA spells it.
        self.timezone = recurrence.canonical_zone(self.timezone)
        if isinstance(self.grace_minutes, int) and self.grace_minutes > MAX_GRACE_MINUTES:
            errors["grace_minutes"] = [f"The grace period must be at most {MAX_GRACE_MINUTES} minutes (a year) "
                                       f"(got {self.grace_minutes})."]
        if self.overlap_policy not in OverlapPolicy.values:
            errors["overlap_policy"] = [f"Choose one of: {', '.join(OverlapPolicy.values)} "
                                        f"(got {self.overlap_policy!r})."]
        # The zone is its own input: check it alone, so a wrong zone and a wrong time are both reported.
        try:
            recurrence.parse_zone(self.timezone)
        except recurrence.RecurrenceError as exc:
            errors["timezone"] = [exc.message]
        try:
            timing = self.recurrence(timezone="UTC" if errors else None)
        except recurrence.RecurrenceError as exc:
            errors[_FIELD_OF.get(exc.field, exc.field)] = [exc.message]
        else:  # canonical forms: weekdays lower-case, unique, Monday first; cron as the engine reads it
            if self.schedule_kind == ScheduleKind.WEEKLY:
                self.schedule_days = [recurrence.WEEKDAYS[day] for day in timing.days]
            if self.schedule_kind == ScheduleKind.CRON:
                self.cron_expr = timing.cron_expr
        try:
            task_type = registry.get(self.task_type)
        except ValidationError as exc:
            errors.setdefault("task_type", []).extend(exc.messages)
        else:
            try:
                self.params = task_type.clean_params(self.params if self.params is not None else {})
            except ValidationError as exc:
                errors["params"] = exc.error_list
        try:
            self.notify_channels = _clean_channel_ids(self.notify_channels)
        except ValidationError as exc:
            errors["notify_channels"] = exc.error_list
        if errors:
            raise ValidationError(errors)

    def save(self, *args, **kwargs):
        # clean() makes it for every entrance; this is for the code that saves without full_clean()
        # (fixtures, data scripts).
        if not self.key:
            self.key = self.free_key(self.name)
        super().save(*args, **kwargs)

    def free_key(self, name: str) -> str:
        """A key made from `name` that no other schedule has: "news-daily", else "news-daily-2", "-3"...

        Only letters and digits of ASCII survive (accents are dropped); a name with none becomes
        "schedule". Two saves racing for the same key: the unique index lets one win.
        """
        base = slugify(name)[:_KEY_BASE_LENGTH].strip("-_") or "schedule"
        # The key itself, or those after "<base>-" and before "<base>." ("." follows "-"): a range on the
        # key's unique index. `key__startswith` is a LIKE that SQLite answers by reading every schedule,
        # 20-70 ms a save at 100,000 (and 4-6 s of bench/scheduler.py's 200 probes, seen as lateness).
        taken = set(ScheduledTask.objects.exclude(pk=self.pk)
                    .filter(Q(key=base) | Q(key__gte=f"{base}-", key__lt=f"{base}."))
                    .order_by().values_list("key", flat=True))
        key, n = base, 1
        while key in taken:
            n += 1
            key = f"{base}-{n}"
        return key

    def unique_error_message(self, model_class, unique_check):
        if tuple(unique_check) == ("key",):
            other = ScheduledTask.objects.exclude(pk=self.pk).filter(key=self.key).values_list("name", flat=True).first()
            return ValidationError(f"The key “{self.key}” is taken by the schedule “{other}”: keys are unique.",
                                   code="unique")
        return super().unique_error_message(model_class, unique_check)

    def _clear_fields_of_other_kinds(self) -> None:
        """Switching kind in a form leaves the old kind's values behind; they must not linger."""
        used = self.KIND_FIELDS.get(self.schedule_kind, set())
        if "schedule_time" not in used:
            self.schedule_time = ""
        if "schedule_days" not in used:
            self.schedule_days = []
        if "interval_minutes" not in used:
            self.interval_minutes = None
        if "anchor_at" not in used:
            self.anchor_at = None
        if "cron_expr" not in used:
            self.cron_expr = ""

    # --- pause ---

    def is_paused(self, *, at: datetime) -> bool:
        """Whether a window due at `at` falls inside the schedule's pause."""
        return self.paused_until is not None and at < self.paused_until

    def clean_pause(self, *, until: datetime | None, reason: str, now: datetime) -> str:
        """The rules of a pause, for every entrance; returns the reason as stored.

        `until` must be after `now` and at most MAX_PAUSE ahead; the reason is optional text
        (at most 200 characters, no NUL). A disabled schedule does not run anyway, so pausing it
        is refused rather than left to mean something later. Errors name `until` and `reason`.
        """
        errors: dict[str, list] = {}
        if not self.enabled:
            errors["__all__"] = [f"“{self.name}” is disabled, so it does not run and cannot be paused. "
                                 "Enable it first, or leave it disabled."]
        if until is None:
            errors["until"] = ["Give the date and time the pause ends."]
        elif until <= now:
            errors["until"] = [f"Choose a time in the future: it is already {self._wall(now)}."]
        elif until > now + MAX_PAUSE:
            errors["until"] = [f"A pause lasts at most {MAX_PAUSE.days} days (until {self._wall(now + MAX_PAUSE)}); "
                               "to stop a schedule for longer, disable it."]
        reason = (reason or "").strip()
        try:
            self._meta.get_field("pause_reason").clean(reason, self)
        except ValidationError as exc:
            errors["reason"] = exc.messages
        if errors:
            raise ValidationError(errors)
        return reason

    def _wall(self, instant: datetime) -> str:
        try:
            return f"{recurrence.local_label(instant, self.timezone)} ({self.timezone})"
        except recurrence.RecurrenceError:
            return recurrence.local_label(instant, "UTC")

    # --- time ---

    def recurrence(self, *, timezone: str | None = None) -> recurrence.Recurrence:
        """The schedule's timing as the pure engine sees it; raises RecurrenceError if invalid.

        The engine checks every field it needs for the kind and ignores the others. `timezone`
        stands in for the schedule's own (validation checks the other fields behind a bad zone).
        """
        return recurrence.Recurrence(
            kind=self.schedule_kind,
            timezone=timezone or self.timezone,
            time=self.schedule_time or None,
            days=self.schedule_days if self.schedule_days is not None else (),
            interval_minutes=self.interval_minutes,
            cron_expr=self.cron_expr or None,
            anchor=(self.anchor_at or recurrence.whole_minute(self.created_at))
            if self.schedule_kind == ScheduleKind.INTERVAL else None,
        )

    def describe(self) -> str:
        try:
            return self.recurrence().describe()
        except recurrence.RecurrenceError:
            return "Invalid schedule"

    def next_after(self, instant: datetime) -> datetime:
        return self.recurrence().next_after(instant)


def _clean_channel_ids(value) -> list[int]:
    """A schedule's notification channels: ids of channels that exist, sorted, each once."""
    if value is None:
        return []
    if not isinstance(value, list) or any(isinstance(item, bool) or not isinstance(item, int) for item in value):
        raise ValidationError("Give a list of notification channel ids, e.g. [1, 3]; an empty list means all channels.")
    if missing := channels_missing(value):
        ids = ", ".join(str(pk) for pk in missing)
        raise ValidationError(f"There is no notification channel with the id{'s' if len(missing) > 1 else ''} {ids}: "
                              "see /notifications for the channels.")
    return sorted(set(value))


class ScheduleRun(models.Model):
    """The ledger: one row per scheduled window or manual run.

    The partial unique constraint on (schedule, due_at) for scheduled triggers is what makes two
    schedulers racing for the same window harmless: one insert wins, the other gets an
    IntegrityError and moves on. Deleting a schedule keeps its runs: they say what ran, under the
    name the schedule had.
    """

    schedule = models.ForeignKey(ScheduledTask, on_delete=models.SET_NULL, null=True, related_name="runs")
    schedule_name = models.CharField(max_length=200, default="")
    trigger = models.CharField(max_length=16, choices=RunTrigger.choices)
    due_at = models.DateTimeField()
    outcome = models.CharField(max_length=16, choices=RunOutcome.choices)
    message = models.TextField(blank=True)
    # Earlier windows folded into this one after downtime (they did not run separately).
    coalesced_windows = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=now)
    # When the run's last job finished (succeeded, failed or partly failed).
    finished_at = models.DateTimeField(null=True, blank=True)
    jobs = models.ManyToManyField("jobs.Job", related_name="schedule_runs", blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["schedule", "due_at"],
                condition=Q(trigger=RunTrigger.SCHEDULED),
                name="unique_scheduled_window",
            )
        ]
        indexes = [
            models.Index(fields=["schedule", "-created_at"], name="schedule_run_recent_idx"),
            # /metrics counts the runs of the last day by task type and outcome without reading the ledger.
            models.Index(fields=["created_at"], name="schedule_run_created_idx"),
            # The step's sweep of runs left dispatched (services.runs_settle_stale): only the few
            # runs in flight are in it.
            models.Index(fields=["created_at"], condition=Q(outcome=RunOutcome.DISPATCHED),
                         name="schedule_run_dispatched_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.schedule_name} @ {format_instant(self.due_at)}: {self.outcome}"

    def get_absolute_url(self) -> str:
        return reverse("schedule_run_detail", args=[self.pk])

    @property
    def origin_label(self) -> str:
        """How the run's jobs name what caused them."""
        return f"Schedule “{self.schedule_name}”, run #{self.pk}"


class HeartbeatSource(models.TextChoices):
    LOOP = "loop", "schedule_tick --loop"
    ONCE = "once", "schedule_tick (one pass, e.g. from cron)"
    SAFETY_NET = "safety_net", "The worker cluster's once-a-minute safety net"


class SchedulerHeartbeat(models.Model):
    """Written by every scheduler pass, read by the health check and the status badge."""

    name = models.CharField(max_length=200, unique=True, help_text="host:pid of the scheduler process.")
    source = models.CharField(max_length=16, choices=HeartbeatSource.choices, default=HeartbeatSource.LOOP)
    last_pass_at = models.DateTimeField(db_index=True)
    # How late the latest dispatched window was, in seconds (dispatch time minus due time).
    lateness_seconds = models.FloatField(default=0)

    def __str__(self) -> str:
        return f"{self.name} at {format_instant(self.last_pass_at)}"


class AuditAction(models.TextChoices):
    CREATE = "create", "Created"
    UPDATE = "update", "Changed"
    ENABLE = "enable", "Enabled"
    DISABLE = "disable", "Disabled"
    DELETE = "delete", "Deleted"
    RUN_NOW = "run_now", "Run now"
    PAUSE = "pause", "Paused"
    RESUME = "resume", "Resumed"


class ScheduleAuditEntry(models.Model):
    """Who changed a schedule, when, through which entrance, and what changed (field: [old, new]).

    Written by the services, so every entrance records the same way. Kept when the schedule is
    deleted, under the name it had.
    """

    schedule = models.ForeignKey(ScheduledTask, on_delete=models.SET_NULL, null=True, related_name="audit_entries")
    schedule_name = models.CharField(max_length=200)
    action = models.CharField(max_length=16, choices=AuditAction.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                              related_name="+")
    actor_name = models.CharField(max_length=150, blank=True, help_text="The user's name at the time.")
    via = models.CharField(max_length=16, choices=Via.choices)
    changes = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "schedule audit entries"
        indexes = [models.Index(fields=["schedule", "-at"], name="schedule_audit_recent_idx")]

    def __str__(self) -> str:
        return f"{self.schedule_name}: {self.get_action_display()} by {self.actor_name or 'the system'}"
