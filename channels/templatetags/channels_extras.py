from django import template

from common.formatting import badge_class

register = template.Library()


@register.filter
def channel_badge(channel) -> str:
    """The badge class for a channel's status; the status itself is always written out beside it."""
    if not channel.enabled:
        return "badge-muted"
    return badge_class(channel.last_outcome)


@register.filter
def short_label(is_short: bool | None) -> str:
    return {True: "Short", False: "Video"}.get(is_short, "Short or not: unknown")
