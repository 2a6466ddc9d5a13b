"""Durations and statuses in the words and colours every page uses."""

from __future__ import annotations

from datetime import timedelta

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
