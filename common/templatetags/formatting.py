"""`{% load formatting %}`: durations and status badges, the same on every page."""

from datetime import datetime

from django import template

from common import formatting

register = template.Library()

register.filter("human_duration", formatting.human_duration)


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
