import json
from datetime import datetime

from django import template

register = template.Library()


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
