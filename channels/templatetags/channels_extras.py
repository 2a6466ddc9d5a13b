from django import template

from channels.models import SKIPPED_OUTCOMES, SUCCESS_OUTCOMES, SyncOutcome

register = template.Library()


@register.filter
def channel_badge(channel) -> str:
    """The badge class for a channel's status; the status itself is always written out beside it."""
    if not channel.enabled:
        return "badge-muted"
    if not channel.last_outcome:
        return "badge-neutral"
    if channel.last_outcome in SUCCESS_OUTCOMES:
        return "badge-ok"
    if channel.last_outcome in SKIPPED_OUTCOMES or channel.last_outcome == SyncOutcome.FEED_OUTAGE:
        return "badge-warn"
    return "badge-error"


@register.filter
def short_label(is_short: bool | None) -> str:
    return {True: "Short", False: "Video"}.get(is_short, "Short or not: unknown")
