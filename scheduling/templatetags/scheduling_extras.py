from datetime import datetime, timedelta

from django import template

from common.formatting import human_duration

register = template.Library()


@register.filter
def relative_to(instant: datetime | None, now: datetime | None) -> str:
    """"in 3 h", "5 min ago", "just now": how far `instant` is from the view's clock, roughly.

    Never a bare "now": beside a status it read as part of it ("now Dispatched", "now: dispatched")."""
    if instant is None or now is None:
        return ""
    seconds = (instant - now).total_seconds()
    if abs(seconds) < 60:
        return "in under a minute" if seconds > 0 else "just now"
    amount = _rough(abs(seconds))
    return f"in {amount}" if seconds > 0 else f"{amount} ago"


def _rough(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours = seconds / 3600
    if hours < 24:
        return f"{round(hours)} h" if hours >= 10 else f"{hours:.1f} h".replace(".0 h", " h")
    days = seconds / 86400
    return f"{round(days)} d" if days >= 10 else f"{days:.1f} d".replace(".0 d", " d")


@register.filter
def lateness(value: timedelta | None) -> str:
    """How late a scheduled run started; "on time" within a second."""
    if value is None:
        return "—"
    if value.total_seconds() < 1:
        return "on time"
    return f"{human_duration(value)} late"
