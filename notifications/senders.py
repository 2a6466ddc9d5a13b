"""Sending one message to one channel: Apprise for URLs, Django's email backend for addresses.

Network time, bounded: Apprise's per-service budget and Django's email timeout. Called by the
scheduler's step outside any transaction, never from a web request. An error comes back as
`SendError` with a message fit to show on the page: the URL masked, Apprise's or the mail
server's own words otherwise.
"""

from __future__ import annotations

import logging

from common import notify_urls
from notifications import conf
from notifications.models import ChannelKind, NotificationChannel

logger = logging.getLogger(__name__)


class SendError(Exception):
    """The channel did not take the message; the text says why."""


def send(*, channel: NotificationChannel, title: str, body: str) -> None:
    """Send, or raise SendError."""
    if channel.kind == ChannelKind.APPRISE:
        _send_apprise(url=channel.target, title=title, body=body)
    else:
        _send_email(address=channel.target, title=title, body=body)


def _send_apprise(*, url: str, title: str, body: str) -> None:
    from apprise import Apprise, AppriseAsset

    # In memory only: Apprise may keep per-service state and result logs on disk otherwise.
    asset = AppriseAsset(service_timeout=float(conf.get("NOTIFY_SEND_TIMEOUT_SECONDS")), result_log_disk_size=0)
    apprise = Apprise(asset=asset)
    if not apprise.add(url):
        raise SendError(notify_urls.problem(url) or "Apprise cannot use this URL.")
    result = apprise.notify(title=title, body=body)
    if result:
        return
    said = [notify_urls.scrub(entry.message, url) for entry in result.logs() if entry.level in ("WARNING", "ERROR")]
    raise SendError(" ".join(said) or "Apprise reported a failure without saying why.")


def _send_email(*, address: str, title: str, body: str) -> None:
    from django.core.mail import get_connection, send_mail

    timeout = float(conf.get("NOTIFY_SEND_TIMEOUT_SECONDS"))
    try:
        send_mail(title, body, None, [address], connection=get_connection(fail_silently=False, timeout=timeout))
    except Exception as exc:  # smtplib's, socket's, the backend's: all are the server's answer to show
        raise SendError(f"The mail server did not take it: {exc.__class__.__name__}: {exc}".rstrip(": ")) from exc
