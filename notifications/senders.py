"""Sending one message to one channel: Apprise for URLs, Django's email backend for addresses.

Network time, bounded: Apprise's per-service budget and Django's email timeout. Called by the
scheduler's step outside any transaction, never from a web request. An error comes back as
`SendError` with a message fit to show on the page: the URL masked, Apprise's or the mail
server's own words otherwise. A channel this server could not get to at all says so first, naming
the host it tried (`common.network`): no DNS or no internet here is not the service's failure.
"""

from __future__ import annotations

import logging
import re

from django.conf import settings

from common import notify_urls
from common.network import NO_WAY_OUT, could_not_reach
from notifications import conf
from notifications.models import ChannelKind, NotificationChannel

logger = logging.getLogger(__name__)

# Apprise's words when the HTTP request never got an answer (requests' ConnectionError: no DNS,
# refused, no route); it names the host, and keeps the exception to itself.
APPRISE_CONNECTION_ERROR = re.compile(r"A Connection error occurred sending .+ notification to (?P<host>[^\s]+?)\.?$")


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
    unreachable = next((m.group("host") for line in said if (m := APPRISE_CONNECTION_ERROR.search(line))), None)
    if unreachable is not None:
        said.insert(0, f"This server could not reach {unreachable} {NO_WAY_OUT}. Apprise said:")
    raise SendError(" ".join(said) or "Apprise reported a failure without saying why.")


def _send_email(*, address: str, title: str, body: str) -> None:
    from django.core.mail import get_connection, send_mail

    timeout = float(conf.get("NOTIFY_SEND_TIMEOUT_SECONDS"))
    try:
        send_mail(title, body, None, [address], connection=get_connection(fail_silently=False, timeout=timeout))
    except Exception as exc:  # smtplib's, socket's, the backend's: all are the server's answer to show
        host = f"{settings.EMAIL_HOST}:{settings.EMAIL_PORT}"
        if reason := could_not_reach(exc, host=f"the mail server {host}"):
            raise SendError(reason) from exc
        raise SendError(f"The mail server did not take it: {exc.__class__.__name__}: {exc}".rstrip(": ")) from exc
