import json
from datetime import datetime, timedelta

from django import template

from jobs.models import JobStatus

register = template.Library()

STATUS_BADGES = {
    JobStatus.QUEUED: "badge-neutral",
    JobStatus.RUNNING: "badge-info",
    JobStatus.RETRY_WAIT: "badge-warn",
    JobStatus.COMPLETED: "badge-ok",
    JobStatus.FAILED: "badge-error",
    JobStatus.CANCELLED: "badge-muted",
}


@register.filter
def status_badge(status: str) -> str:
    return STATUS_BADGES.get(status, "badge-neutral")


@register.filter
def human_duration(value) -> str:
    """5 s, 2 min 3 s, 1 h 2 min, 3 d 4 h; fractions only under ten seconds."""
    if value is None or value == "":
        return ""
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    seconds = max(seconds, 0.0)
    if seconds < 10:
        return f"{seconds:.1f} s".replace(".0 s", " s")
    whole = int(round(seconds))
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    return f"{secs} s"


@register.filter
def since(start: datetime | None, now: datetime | None) -> str:
    """How long before `now` (the view's clock) `start` was, in human_duration's words."""
    if start is None or now is None:
        return ""
    return human_duration(now - start)


@register.filter
def pretty_json(value) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


@register.filter
def compact_json(value, limit: int = 80) -> str:
    """One line for the table; the detail page shows it whole."""
    if value in (None, {}, []):
        return ""
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(", ", ": "), default=str)
    return text if len(text) <= int(limit) else text[: int(limit) - 1] + "…"


@register.filter
def parse_instant(value: str | None) -> datetime | None:
    """Instants stored as ISO text in the attempt log, back to datetimes for the date filter."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None
