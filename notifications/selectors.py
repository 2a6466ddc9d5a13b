"""Reads of the notifications app: for its page, for the schedules' choice of channels, for the watches."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import QuerySet

from common.api import MAX_ID
from notifications.models import Delivery, DeliveryStatus, Incident, NotificationChannel

LOG_PAGE_SIZE = 50


def channel_list() -> QuerySet[NotificationChannel]:
    return NotificationChannel.objects.order_by("name", "id")


def channel_choices() -> list[tuple[int, str]]:
    """The channels a schedule may choose, as its editor lists them: name, where to, and whether enabled."""
    return [(channel.pk, f"{channel.name} ({channel.masked_target})" + ("" if channel.enabled else ", disabled"))
            for channel in channel_list()]


def channels_missing(ids: Iterable[int]) -> list[int]:
    """Of these ids, those no channel has (what a schedule's choice may not name)."""
    wanted = set(ids)
    if not wanted:
        return []
    # An id no database column can hold is simply not there (and must not reach the query).
    found = set(NotificationChannel.objects.filter(pk__in=[pk for pk in wanted if 0 < pk <= MAX_ID])
                .values_list("pk", flat=True))
    return sorted(wanted - found)


def open_incident_keys(*, kinds: Iterable[str]) -> set[str]:
    """The keys of the open incidents of these kinds (few: one query, whatever the number of schedules)."""
    return set(Incident.objects.filter(resolved_at__isnull=True, kind__in=list(kinds)).values_list("key", flat=True))


def open_incidents(*, kind: str | None = None) -> QuerySet[Incident]:
    incidents = Incident.objects.filter(resolved_at__isnull=True)
    return incidents.filter(kind=kind) if kind else incidents


def delivery_log(*, before: int | None = None, limit: int = LOG_PAGE_SIZE) -> dict:
    """Every message sent or to be sent, newest first, a page at a time by id (never counted)."""
    deliveries = Delivery.objects.select_related("incident").order_by("-id")
    if before is not None:
        deliveries = deliveries.filter(pk__lt=before)
    rows = list(deliveries[:limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return {"deliveries": rows, "older": rows[-1].pk if more else None, "before": before,
            "waiting": any(row.status in (DeliveryStatus.PENDING, DeliveryStatus.SENDING) for row in rows)}


def notifications_page(*, before: int | None = None) -> dict:
    """Everything /notifications shows, in a fixed number of queries."""
    return {
        "channels": list(channel_list()),
        "incidents": list(open_incidents().order_by("-opened_at", "-id")[:50]),
        **delivery_log(before=before),
    }
