import json
import re
from dataclasses import dataclass
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


TRACEBACK = "Traceback (most recent call last):"
# The line a traceback ends with: the exception's class (maybe dotted, CamelCase), and its message.
EXCEPTION_LINE = re.compile(r"(?:[A-Za-z_]\w*\.)*(?P<name>[A-Z][A-Za-z0-9]*):[ \t]?(?P<message>.+)", re.DOTALL)


@dataclass(frozen=True)
class ErrorParts:
    cause: str  # what happened, in the error's own words: first on the page
    exception: str  # the class that carried it ("FeedTemporaryError"), if it came with a traceback
    traceback: str  # where it happened, for whoever debugs it: behind a disclosure


@register.filter
def error_parts(error: str) -> ErrorParts:
    """A job's error split for the page: its cause first, the traceback behind it.

    A handler's own message (no traceback) is all cause. A traceback's cause is the exception it
    ends with (of a chain, the last one), its message first and its class after; words written
    before the traceback (a time limit, a cancellation) are the cause instead, the traceback
    still below.
    """
    text = (error or "").strip()
    start = text.find(TRACEBACK)
    if start == -1:
        return ErrorParts(cause=text, exception="", traceback="")
    before, traceback = text[:start].strip(), text[start:]
    if before:
        return ErrorParts(cause=before, exception="", traceback=traceback)
    last = traceback.rsplit(TRACEBACK, 1)[1].splitlines()
    # Frames are indented; the exception starts at the first line that is not (it may span lines).
    body = next((i for i, line in enumerate(last) if line.strip() and not line[:1].isspace()), None)
    if body is None:
        return ErrorParts(cause=traceback.splitlines()[-1].strip(), exception="", traceback=traceback)
    said = "\n".join(last[body:]).strip()
    match = EXCEPTION_LINE.fullmatch(said)
    if match is None:
        return ErrorParts(cause=said, exception="", traceback=traceback)
    return ErrorParts(cause=match.group("message").strip(), exception=match.group("name"), traceback=traceback)


@register.filter
def attempt_error(line: str) -> ErrorParts:
    """An attempt's one-line error (the line its traceback ended with) as the page words a cause:
    the message first, its class after."""
    match = EXCEPTION_LINE.fullmatch((line or "").strip())
    if match is None:
        return ErrorParts(cause=(line or "").strip(), exception="", traceback="")
    return ErrorParts(cause=match.group("message").strip(), exception=match.group("name"), traceback="")
