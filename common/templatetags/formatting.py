"""`{% load formatting %}`: instants, durations and status badges, the same on every page."""

from datetime import datetime

from django import template

from common import formatting

register = template.Library()

register.filter("human_duration", formatting.human_duration)


@register.filter
def when(instant: datetime | None, zone: str = "UTC") -> str:
    """`{{ job.created_at|when }}`, `{{ run.at|when:schedule.timezone }}`: the one time format of the pages,
    "Fri 4 Dec 2026, 19:37 UTC". Use it wherever an instant is shown, inside a `<time>` element."""
    return formatting.format_instant(instant, zone)


@register.filter
def actor_words(entry) -> str:
    """`by alice on the pages`, `by the system`: who did it and through which entrance, for an object with
    `actor_name` and `via` (an audit entry)."""
    return formatting.actor_words(entry.actor_name, entry.via)


@register.filter
def status_badge(status: str) -> str:
    """The badge class for a job's, run's, backup's or channel check's status."""
    return formatting.badge_class(status)


@register.filter
def since(start: datetime | None, now: datetime | None) -> str:
    """How long before `now` (the view's clock) `start` was, in human_duration's words."""
    if start is None or now is None:
        return ""
    return formatting.human_duration(now - start)
