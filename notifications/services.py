"""Writes of the notifications app: channels, incidents, deliveries, and the scheduler step's part.

Exactly once, as the scheduler does it: an incident is opened by a unique insert (one open
incident per key), resolved by a compare-and-set on `resolved_at`, and each of its messages is a
`Delivery` row, unique per incident, channel and event, claimed for sending by a compare-and-set.
Two schedulers noticing the same thing at the same moment write one incident and send one alert
per channel. Sending happens only in the scheduler's step, outside any transaction, a few per
step with bounded timeouts; never in a web request.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F

from common import notify_urls
from notifications import conf, messages, registry, senders
from notifications.models import (
    ChannelKind,
    ChannelSource,
    Delivery,
    DeliveryEvent,
    DeliveryStatus,
    Incident,
    NotificationChannel,
)
from notifications.signals import channel_deleted

logger = logging.getLogger(__name__)

ENV_GONE = "No longer in NOTIFY_URLS: not sent to until it is back there."


# --- channels -------------------------------------------------------------------------------------

class FromEnvironment(ValidationError):
    """A channel from NOTIFY_URLS is changed there, not here."""

    def __init__(self, channel: NotificationChannel):
        super().__init__(f"“{channel.name}” comes from the NOTIFY_URLS setting: change or remove it there.")


def channel_save(*, channel: NotificationChannel, now: datetime) -> NotificationChannel:
    """Validate (Apprise checks the URL) and save a channel added or edited on the page or in the admin."""
    if channel.pk is not None and NotificationChannel.objects.filter(pk=channel.pk, source=ChannelSource.ENV).exists():
        raise FromEnvironment(channel)
    if channel.pk is None:
        channel.created_at, channel.source = now, ChannelSource.PAGE
    channel.full_clean()
    channel.save()
    return channel


def channel_delete(*, channel: NotificationChannel) -> None:
    """Delete a channel; its log entries stay under its name, schedules that chose it forget it.

    A channel from NOTIFY_URLS is deleted only once it has left the setting (it is disabled then).
    """
    if channel.from_environment and channel.enabled:
        raise FromEnvironment(channel)
    channel_id = channel.pk
    with transaction.atomic():
        Delivery.objects.filter(channel_id=channel_id, status=DeliveryStatus.PENDING).update(
            status=DeliveryStatus.CANCELLED, error="The channel was deleted before this was sent.")
        channel.delete()
        transaction.on_commit(lambda: channel_deleted.send(sender=NotificationChannel, channel_id=channel_id))


def env_key(url: str) -> str:
    return hashlib.sha256(url.strip().encode()).hexdigest()


def channels_sync_env(*, urls: Sequence[str], now: datetime) -> int:
    """Keep the channels from NOTIFY_URLS in step with the setting; return how many rows changed.

    A URL new in the setting becomes a channel, one that left it is disabled (its id stays, so the
    schedules that chose it keep their choice should it come back), one back is enabled again.
    Two schedulers doing this at once: the unique `env_key` lets one insert through.
    """
    wanted: dict[str, tuple[int, str]] = {}
    for number, url in enumerate(urls, 1):
        wanted.setdefault(env_key(url), (number, url.strip()))
    existing = {channel.env_key: channel for channel in NotificationChannel.objects.filter(source=ChannelSource.ENV)}
    changed = 0
    for key, (number, url) in wanted.items():
        name = f"NOTIFY_URLS #{number} ({notify_urls.mask(url)})"
        channel = existing.get(key)
        if channel is None:
            try:
                with transaction.atomic():
                    NotificationChannel.objects.create(name=name, kind=ChannelKind.APPRISE, target=url,
                                                       source=ChannelSource.ENV, env_key=key, created_at=now)
            except IntegrityError:
                continue  # another scheduler added it a moment ago
            changed += 1
        elif not channel.enabled or channel.name != name:
            error = {"last_error": ""} if channel.last_error == ENV_GONE else {}
            changed += NotificationChannel.objects.filter(pk=channel.pk).update(
                name=name, enabled=True, updated_at=now, **error)
    gone = [channel.pk for key, channel in existing.items() if key not in wanted and channel.enabled]
    if gone:
        changed += NotificationChannel.objects.filter(pk__in=gone).update(
            enabled=False, last_error=ENV_GONE, last_error_at=now, updated_at=now)
    return changed


# --- incidents ------------------------------------------------------------------------------------

def _new_delivery(*, channel: NotificationChannel, event: str, title: str, body: str, now: datetime,
                  incident: Incident | None = None, max_attempts: int | None = None,
                  requested_by: str = "") -> Delivery:
    return Delivery(incident=incident, channel=channel, channel_name=channel.name, event=event, title=title[:300],
                    body=body, requested_by=requested_by, created_at=now, next_attempt_at=now,
                    max_attempts=max_attempts or int(conf.get("NOTIFY_MAX_ATTEMPTS")))


def incident_open(*, key: str, kind: str, title: str, detail: str = "", link: str = "", schedule_id: int | None = None,
                  channel_ids: Sequence[int] | None = None, now: datetime) -> Incident | None:
    """Open the incident `key` and queue its alert to each channel; None if it is open already.

    `channel_ids` limits the alert to those channels (a schedule's choice); empty or None: every
    enabled channel. The "back to normal" goes later to the channels the alert went to.
    """
    if Incident.objects.filter(key=key, resolved_at__isnull=True).exists():
        return None  # the usual answer for a watch asking every half minute: no write
    try:
        with transaction.atomic():
            incident = Incident.objects.create(key=key, kind=kind, title=title[:300], detail=detail, link=link[:500],
                                               schedule_id=schedule_id, opened_at=now)
            channels = NotificationChannel.objects.filter(enabled=True)
            if channel_ids:
                channels = channels.filter(pk__in=list(channel_ids))
            title, body = messages.opened(incident)
            Delivery.objects.bulk_create([_new_delivery(incident=incident, channel=channel, event=DeliveryEvent.OPENED,
                                                        title=title, body=body, now=now) for channel in channels])
    except IntegrityError:
        if Incident.objects.filter(key=key, resolved_at__isnull=True).exists():
            return None  # opened a moment ago by another process: one insert wins
        raise
    logger.warning("Incident opened: %s (%s). %s", key, incident.title, detail)
    return incident


def incident_resolve(*, key: str, detail: str = "", now: datetime) -> Incident | None:
    """Resolve the open incident `key` and queue its "back to normal"; None if none is open.

    A compare-and-set on `resolved_at`: of two resolving at once, one does it and sends.
    """
    incident = Incident.objects.filter(key=key, resolved_at__isnull=True).first()
    if incident is None:
        return None
    with transaction.atomic():
        if not Incident.objects.filter(pk=incident.pk, resolved_at__isnull=True).update(resolved_at=now,
                                                                                        resolution=detail):
            return None
        incident.resolved_at, incident.resolution = now, detail
        told = NotificationChannel.objects.filter(
            enabled=True, deliveries__incident=incident, deliveries__event=DeliveryEvent.OPENED).distinct()
        title, body = messages.resolved(incident)
        Delivery.objects.bulk_create([_new_delivery(incident=incident, channel=channel, event=DeliveryEvent.RESOLVED,
                                                    title=title, body=body, now=now) for channel in told])
    logger.info("Incident resolved: %s (%s). %s", key, incident.title, detail)
    return incident


# --- deliveries -----------------------------------------------------------------------------------

def delivery_test(*, channel: NotificationChannel, now: datetime, requested_by: str = "") -> Delivery:
    """Queue a test message to the channel (enabled or not); the scheduler's step sends it within
    seconds. One attempt: its result is what the page reports."""
    title, body = messages.test(channel, requested_by=requested_by)
    delivery = _new_delivery(channel=channel, event=DeliveryEvent.TEST, title=title, body=body, now=now,
                             max_attempts=1, requested_by=requested_by)
    delivery.save()
    return delivery


def retry_delay(*, attempt: int) -> timedelta:
    """After the first failed attempt the base delay, doubling each time, up to the cap."""
    base = float(conf.get("NOTIFY_RETRY_BACKOFF_SECONDS"))
    cap = float(conf.get("NOTIFY_RETRY_BACKOFF_MAX_SECONDS"))
    return timedelta(seconds=min(base * 2 ** max(attempt - 1, 0), cap))


def deliveries_due(*, now: datetime, limit: int) -> list[Delivery]:
    """Pending deliveries whose time has come, and claims whose process died (`sending` past its
    deadline: a claim moves `next_attempt_at` to the moment it counts as lost).

    The scheduler asks every second and the answer is nearly always "none": that is one seek on
    the (status, next_attempt_at) index for ids only (0.2 ms here against 0.6 ms for the rows
    with their channel); the rows are read only when there are some.
    """
    due = Delivery.objects.filter(status__in=(DeliveryStatus.PENDING, DeliveryStatus.SENDING), next_attempt_at__lte=now)
    ids = list(due.order_by("next_attempt_at", "id").values_list("pk", flat=True)[:limit])
    if not ids:
        return []
    # Read again through the same filter: a row another scheduler sent between the two reads is no
    # longer due, and claiming it by the status it has now would send it twice.
    return list(due.filter(pk__in=ids).select_related("channel", "incident").order_by("next_attempt_at", "id"))


def deliveries_send_due(*, now: datetime, limit: int | None = None) -> int:
    """Send up to `limit` due deliveries, each claimed first; return how many were claimed.

    The claim is a compare-and-set on (status, next_attempt_at): of two schedulers reading the same
    row, one claims it and sends, the other changes nothing. A claim counts an attempt and says when
    it counts as lost; only the claimer's own attempt writes the result. Run outside transactions:
    the network time must hold no lock.
    """
    limit = limit or int(conf.get("NOTIFY_SENDS_PER_STEP"))
    lost_after = conf.seconds("NOTIFY_CLAIM_STALE_SECONDS")
    claimed = 0
    for delivery in deliveries_due(now=now, limit=limit):
        attempt = delivery.attempts + 1
        if not Delivery.objects.filter(pk=delivery.pk, status=delivery.status,
                                       next_attempt_at=delivery.next_attempt_at).update(
                status=DeliveryStatus.SENDING, claimed_at=now, next_attempt_at=now + lost_after, attempts=attempt):
            continue  # another scheduler claimed it
        claimed += 1
        delivery.attempts = attempt
        _attempt(delivery, now=now)
    return claimed


def _attempt(delivery: Delivery, *, now: datetime) -> None:
    channel = delivery.channel
    if channel is None:
        return _finish(delivery, DeliveryStatus.CANCELLED, error="The channel was deleted before this was sent.")
    if not channel.enabled and delivery.event != DeliveryEvent.TEST:
        return _finish(delivery, DeliveryStatus.CANCELLED, error="The channel was disabled before this was sent.")
    try:
        senders.send(channel=channel, title=delivery.title, body=delivery.body)
    except senders.SendError as exc:
        error = str(exc)
    except Exception as exc:  # a bug in a plugin must not stop the scheduler's step
        logger.exception("Delivery %s to channel %s: the sender raised", delivery.pk, channel.pk)
        error = notify_urls.scrub(f"{exc.__class__.__name__}: {exc}", channel.target)
    else:
        _finish(delivery, DeliveryStatus.SENT, sent_at=now)
        NotificationChannel.objects.filter(pk=channel.pk).update(last_sent_at=now, consecutive_failures=0)
        logger.info("Notification sent: delivery %s, %s of incident %s, to channel %s (%s)", delivery.pk,
                    delivery.event, delivery.incident_id, channel.pk, channel.masked_target,
                    extra=_alert_fields(delivery, status=DeliveryStatus.SENT))
        return None
    NotificationChannel.objects.filter(pk=channel.pk).update(
        last_error=error, last_error_at=now, consecutive_failures=F("consecutive_failures") + 1)
    if delivery.attempts >= delivery.max_attempts:
        _finish(delivery, DeliveryStatus.FAILED, error=error)
        retry = "given up"
    else:
        at = now + retry_delay(attempt=delivery.attempts)
        _finish(delivery, DeliveryStatus.PENDING, error=error, next_attempt_at=at)
        retry = f"next attempt at {at:%H:%M:%S} UTC"
    logger.warning("Notification failed: delivery %s (attempt %s of %s, %s), %s of incident %s, to channel %s "
                   "(%s): %s", delivery.pk, delivery.attempts, delivery.max_attempts, retry, delivery.event,
                   delivery.incident_id, channel.pk, channel.masked_target, error,
                   extra=_alert_fields(delivery, status=DeliveryStatus.FAILED, error=error))
    return None


def _alert_fields(delivery: Delivery, *, status: str, error: str = "") -> dict:
    """The structured fields of an `alert_sent` log line (docs/architecture.md, "Metrics, logs, history")."""
    incident = delivery.incident
    return {"event": "alert_sent", "delivery_id": delivery.pk, "incident_id": delivery.incident_id,
            "kind": incident.kind if incident else "test", "state": delivery.event, "channel_id": delivery.channel_id,
            "channel_name": delivery.channel_name, "status": status, "attempt": delivery.attempts, "error": error,
            "schedule_id": incident.schedule_id if incident else None}


def _finish(delivery: Delivery, status: str, **fields) -> bool:
    """Write the attempt's result, only while the row is still this attempt's claim."""
    return bool(Delivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.SENDING, attempts=delivery.attempts)
                .update(status=status, claimed_at=None, **fields))


# --- the scheduler's step -------------------------------------------------------------------------

def watches_run(*, now: datetime, source: str) -> int:
    """Run every registered watch; one that raises is logged and the others still run."""
    ran = 0
    for watch in registry.watches():
        try:
            watch(now=now, source=source)
        except Exception:
            logger.exception("Watch %s failed", getattr(watch, "__qualname__", watch))
        else:
            ran += 1
    return ran


class _Every:
    """At most once per period in this process (the loop takes its step every second)."""

    def __init__(self):
        self.last: datetime | None = None

    def due(self, now: datetime, period: timedelta) -> bool:
        # A clock that went back (or a test at an earlier instant) is not "not yet".
        if self.last is None or now >= self.last + period or now < self.last:
            self.last = now
            return True
        return False


_watch_clock = _Every()


def notifications_step(*, now: datetime, source: str) -> None:
    """The scheduler step's part: keep NOTIFY_URLS' channels in step and run the watches (at most
    every NOTIFY_WATCH_EVERY_SECONDS), then send what is due.

    Nothing here may stop the scheduler: an error is logged and the step goes on.
    """
    try:
        if _watch_clock.due(now, conf.seconds("NOTIFY_WATCH_EVERY_SECONDS")):
            channels_sync_env(urls=conf.get("NOTIFY_URLS"), now=now)
            watches_run(now=now, source=source)
        deliveries_send_due(now=now)
    except Exception:
        logger.exception("Notifications: the step failed; trying again on the next one")


# --- history ----------------------------------------------------------------------------------------

FINAL_DELIVERY_STATUSES = (DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.CANCELLED)


def alerts_prune_batch(*, before: datetime, after_id: int, batch_size: int) -> tuple[int, int | None]:
    """History that stays small (the scheduler's daily round): delete up to `batch_size` incidents
    resolved before `before`, with ids above `after_id`, with their deliveries, and then the test
    messages (deliveries of no incident) done before it. An open incident, or one with a message still
    to send, stays. Returns how many rows went and the last id looked at (None: done)."""
    ids = list(Incident.objects.filter(pk__gt=after_id, resolved_at__lt=before)
               .exclude(deliveries__status__in=(DeliveryStatus.PENDING, DeliveryStatus.SENDING))
               .order_by("pk").values_list("pk", flat=True)[:batch_size])
    if ids:
        with transaction.atomic():
            deleted = Incident.objects.filter(pk__in=ids).delete()[0]
        return deleted, ids[-1]  # asked again until no incident is left, then the tests
    tests = list(Delivery.objects.filter(incident__isnull=True, status__in=FINAL_DELIVERY_STATUSES,
                                         created_at__lt=before).values_list("pk", flat=True)[:batch_size])
    if not tests:
        return 0, None
    with transaction.atomic():
        deleted = Delivery.objects.filter(pk__in=tests).delete()[0]
    return deleted, after_id  # more tests may be left: the same phase is asked again
