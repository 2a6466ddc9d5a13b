"""Instants, durations and statuses in the words and colours every page uses."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils import dateformat

from common.actors import Via

# The one way pages, fragments and the admin write an instant: "Fri 4 Dec 2026, 19:37 UTC". The shape most
# pages already used (weekday, day, month, time, zone), with the year: a channel's archive keeps videos
# and backups for years, and the zone says which clock without a note elsewhere on the page.
INSTANT_FORMAT = "D j M Y, H:i T"

# The badge colour of every status word the apps show (jobs, runs, backups, channel checks, alerts).
# The status is always written out beside the colour; this only says which colour.
BADGE_TONES = {
    "ok": ("completed", "succeeded", "synced", "unchanged", "sent"),
    "info": ("running", "dispatched", "pending", "sending"),
    "warn": ("retry_wait", "partly_failed", "missed", "feed_outage", "skipped_backoff", "skipped_cooldown"),
    "error": ("failed", "dispatch_failed", "not_found", "throttled", "server_error", "unreachable", "bad_feed"),
    "muted": ("cancelled", "skipped", "paused", "deleted"),
}
_TONE_OF = {status: tone for tone, statuses in BADGE_TONES.items() for status in statuses}


def badge_class(status: str | None) -> str:
    """`badge-ok`, `badge-error`...; `badge-neutral` for a status with no colour of its own (queued)."""
    return f"badge-{_TONE_OF.get(status or '', 'neutral')}"


def human_duration(value) -> str:
    """5 s, 2 min 3 s, 1 h 2 min, 3 d 4 h; fractions only under ten seconds. Seconds or a timedelta."""
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


def format_instant(instant: datetime | None, zone: str | ZoneInfo = "UTC") -> str:
    """An instant on a zone's wall clock in INSTANT_FORMAT; "" for none.

    A zone name that tzdata no longer knows falls back to UTC: the time is still shown, and says so.
    A naive datetime is taken as UTC (stored instants are UTC).
    """
    if instant is None or instant == "":
        return ""
    try:
        tz = zone if isinstance(zone, ZoneInfo) else ZoneInfo(str(zone or "UTC"))
    except (ZoneInfoNotFoundError, ValueError):
        tz = ZoneInfo("UTC")
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=ZoneInfo("UTC"))
    local = instant.astimezone(tz)
    # Django's "T" writes nothing for a wall time the clocks repeat (02:30 on a fall-back night), not
    # knowing which of the two is meant; the datetime knows (its fold), and so does its tzname().
    return dateformat.format(local, INSTANT_FORMAT.removesuffix(" T")) + f" {local.tzname()}"


_VIA_WORDS = {
    Via.ADMIN: "in the admin",
    Via.PAGE: "on the pages",
    Via.API: "through the API",
}


def actor_words(name: str, via: str) -> str:
    """Who did something, through which entrance, as one phrase after the action.

    "by alice on the pages", "by alice through the API", "by alice from the command line",
    "from the command line" (no user given), "by the system" — never "by the system via The system".
    """
    if via == Via.SYSTEM:
        return "by the system"
    if via == Via.COMMAND:
        return f"by {name} from the command line" if name else "from the command line"
    where = _VIA_WORDS.get(via, "")
    who = f"by {name}" if name else "by an unknown user"
    return f"{who} {where}".strip()
