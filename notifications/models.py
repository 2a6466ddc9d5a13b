from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import ProhibitNullCharactersValidator, validate_email
from django.db import models
from django.db.models import Q
from django.utils import timezone

from common import notify_urls


class ChannelKind(models.TextChoices):
    APPRISE = "apprise", "Apprise"
    EMAIL = "email", "Email"


class ChannelSource(models.TextChoices):
    PAGE = "page", "Added here"
    ENV = "env", "NOTIFY_URLS (environment)"


class NotificationChannel(models.Model):
    """Where alerts go: an Apprise URL (ntfy, Gotify, Telegram, Discord, Slack, Matrix, webhooks,
    mailto://...) or an email address sent through Django's email backend.

    The kind follows the target: a URL (`scheme://...`) goes through Apprise, an address through
    Django. An Apprise URL holds secrets (tokens, passwords): it is stored to be sent to, and shown
    only masked (`masked_target`). Channels from the NOTIFY_URLS setting are kept in step with it
    by the scheduler (`env_key` is a digest of their URL) and are not edited here.
    """

    name = models.CharField(max_length=100, validators=[ProhibitNullCharactersValidator()])
    kind = models.CharField(max_length=8, choices=ChannelKind.choices, editable=False)
    target = models.TextField("Apprise URL or email address", validators=[ProhibitNullCharactersValidator()])
    enabled = models.BooleanField(default=True)
    source = models.CharField(max_length=8, choices=ChannelSource.choices, default=ChannelSource.PAGE, editable=False)
    env_key = models.CharField(max_length=64, null=True, blank=True, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    # How sending to it went: written by the sender after every attempt.
    last_sent_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_error = models.TextField(blank=True, editable=False)
    last_error_at = models.DateTimeField(null=True, blank=True, editable=False)
    consecutive_failures = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    @staticmethod
    def kind_of(target: str) -> str:
        return ChannelKind.APPRISE if "://" in target else ChannelKind.EMAIL

    def clean(self) -> None:
        self.name = (self.name or "").strip()
        self.target = (self.target or "").strip()
        self.kind = self.kind_of(self.target)
        if not self.target:
            return  # the field's own "required" says so
        if self.kind == ChannelKind.APPRISE:
            if reason := notify_urls.problem(self.target):
                raise ValidationError({"target": reason})
        else:
            try:
                validate_email(self.target)
            except ValidationError:
                raise ValidationError({"target": "Enter an email address (alerts@example.com) or an Apprise URL "
                                                 "(ntfy://…, tgram://…, mailto://…)."}) from None

    @property
    def masked_target(self) -> str:
        """What pages, the admin and logs show: an email address whole, an Apprise URL as `tgram://…`."""
        kind = self.kind or self.kind_of(self.target)
        return notify_urls.mask(self.target) if kind == ChannelKind.APPRISE else self.target

    @property
    def from_environment(self) -> bool:
        return self.source == ChannelSource.ENV


class Incident(models.Model):
    """Something that went wrong, from the moment it is noticed until it is resolved: one row each.

    `key` says what it is about (`run_failed:12`, `backups_stale`, `feed_outage:3`). At most one
    incident per key is open (a partial unique constraint), so two schedulers noticing the same
    thing at the same moment open it once: one insert wins, the other's fails and it moves on. An
    alert goes out when it opens and once more when it is resolved, never in between.
    """

    key = models.CharField(max_length=200)
    kind = models.CharField(max_length=40, help_text="What is wrong, e.g. run_failed, backups_stale.")
    title = models.CharField(max_length=300)
    detail = models.TextField(blank=True)
    link = models.CharField(max_length=500, blank=True, help_text="A path in the app, e.g. /schedules/runs/12.")
    # The schedule it is about, if any: an id, not a foreign key (notifications knows no schedules).
    schedule_id = models.BigIntegerField(null=True, blank=True)
    opened_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution = models.TextField(blank=True)

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["key"], condition=Q(resolved_at__isnull=True), name="one_open_incident_per_key"),
        ]
        indexes = [models.Index(fields=["-opened_at"], name="incident_recent_idx")]

    def __str__(self) -> str:
        return self.title

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None


class DeliveryEvent(models.TextChoices):
    OPENED = "opened", "Alert"
    RESOLVED = "resolved", "Back to normal"
    TEST = "test", "Test"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Waiting to be sent"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed, given up"
    CANCELLED = "cancelled", "Not sent"


class Delivery(models.Model):
    """One message to one channel: an incident's alert or its "back to normal", or a test. The log.

    Written when the incident opens or resolves (unique per incident, channel and event: one alert
    per incident and channel, whoever noticed it); sent by the scheduler's step, which claims it
    with a compare-and-set (`pending -> sending`). A failed attempt waits with backoff and tries
    again, up to `max_attempts`. Kept when its channel is deleted, under the name it had.
    """

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, null=True, blank=True, related_name="deliveries")
    channel = models.ForeignKey(NotificationChannel, on_delete=models.SET_NULL, null=True, blank=True,
                                related_name="deliveries")
    channel_name = models.CharField(max_length=100)
    event = models.CharField(max_length=16, choices=DeliveryEvent.choices)
    title = models.CharField(max_length=300)
    body = models.TextField(blank=True)
    requested_by = models.CharField(max_length=150, blank=True, help_text="Who asked for a test.")

    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    max_attempts = models.PositiveSmallIntegerField(default=1)
    created_at = models.DateTimeField()
    next_attempt_at = models.DateTimeField()
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(fields=["incident", "channel", "event"], condition=Q(incident__isnull=False),
                                    name="one_delivery_per_incident_channel_event"),
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="delivery_due_idx")]

    def __str__(self) -> str:
        return f"{self.get_event_display()} to {self.channel_name}: {self.title}"

    @property
    def is_final(self) -> bool:
        return self.status in (DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.CANCELLED)
