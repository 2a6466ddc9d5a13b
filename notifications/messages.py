"""The words of the alerts: what each channel receives when an incident opens, is resolved, or is a test."""

from __future__ import annotations

from datetime import datetime

from common.formatting import human_duration
from notifications import conf
from notifications.models import Incident, NotificationChannel

PRODUCT = "Channel archive"


def absolute(link: str) -> str:
    """A path in the app as a link the reader can open: SITE_URL in front when it is set."""
    site = str(conf.get("SITE_URL") or "").rstrip("/")
    if not link or link.startswith(("http://", "https://")) or not site:
        return link
    return f"{site}/{link.lstrip('/')}"


def _utc(instant: datetime) -> str:
    return f"{instant:%Y-%m-%d %H:%M} UTC"


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def opened(incident: Incident) -> tuple[str, str]:
    """The alert: its title, and a body with what happened, since when, and where to look."""
    lines = [incident.detail.strip(), f"Since {_utc(incident.opened_at)}."]
    if incident.link:
        lines.append(f"Details: {absolute(incident.link)}")
    return _one_line(f"{PRODUCT}: {incident.title}"), "\n\n".join(line for line in lines if line)


def resolved(incident: Incident) -> tuple[str, str]:
    """The "back to normal" message: what resolved it, and how long it lasted."""
    lasted = human_duration(incident.resolved_at - incident.opened_at)
    lines = [incident.resolution.strip(),
             f"It lasted {lasted}: from {_utc(incident.opened_at)} to {_utc(incident.resolved_at)}."]
    if incident.link:
        lines.append(f"Details: {absolute(incident.link)}")
    return _one_line(f"{PRODUCT}: back to normal: {incident.title}"), "\n\n".join(line for line in lines if line)


def test(channel: NotificationChannel, *, requested_by: str) -> tuple[str, str]:
    by = f" by {requested_by}" if requested_by else ""
    return (_one_line(f"{PRODUCT}: test notification"),
            f"This is a test of the notification channel “{channel.name}”, asked for{by} on the Notifications "
            "page. Alerts about failed runs, missed windows, stale backups, stopped processes and feed outages "
            "will arrive here.")
