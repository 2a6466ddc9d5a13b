"""Apprise URLs: checked by Apprise itself, and never shown whole.

An Apprise URL names a service and carries what it needs to post there: a bot token, a webhook's
secret path, a password (`tgram://123456:AAE.../987`, `mailtos://user:password@host`). So the
settings (NOTIFY_URLS), the notification channels' model and their pages share these two helpers:
`mask()` for anything shown or logged, `problem()` for what Apprise says about a URL it cannot use.

Apprise's own log lines can quote a URL whole ("Unparseable Telegram URL tgram://..."), so its
logger is kept out of the application's logs: what it says while a URL is checked is captured for
the message, with the URL masked, and the senders log their own lines.
"""

from __future__ import annotations

import logging
import re
import threading

_apprise_log = logging.getLogger("apprise")
_ANY_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://(?:[^\s\"'<>]*[^\s\"'<>.,;:!?)])?")


class _ThreadCapture(logging.Handler):
    """What Apprise logs in this thread while a capture is open; nothing otherwise."""

    def __init__(self):
        super().__init__(level=logging.WARNING)
        self.local = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        lines = getattr(self.local, "lines", None)
        if lines is not None:
            lines.append(record.getMessage())

    def __enter__(self) -> list[str]:
        self.local.lines = []
        return self.local.lines

    def __exit__(self, *exc) -> None:
        self.local.lines = None


_capture = _ThreadCapture()
_apprise_log.addHandler(_capture)
_apprise_log.propagate = False


def mask(url: str) -> str:
    """`tgram://…`: the service's scheme, nothing that may be a secret."""
    scheme, separator, _ = url.strip().partition("://")
    if separator and scheme and scheme.replace("+", "").replace("-", "").isalnum():
        return f"{scheme.lower()}://…"
    return "…"


def scrub(text: str, url: str) -> str:
    """Apprise's words about `url`, with the URL masked, and any URL in them: Apprise masks some
    itself, keeping a token's first and last characters (`tgram://1...p/`), which is still too much."""
    url = url.strip()
    if url:
        text = text.replace(url, mask(url))
        _, separator, rest = url.partition("://")
        if separator and rest:
            text = text.replace(rest, "…")
    return _ANY_URL.sub(lambda found: mask(found.group(0)), text).strip()


def problem(url: str) -> str:
    """Why Apprise cannot use `url`, in its words with the URL masked; "" when it can."""
    from apprise import Apprise

    url = url.strip()
    if not url:
        return "Enter an Apprise URL, e.g. ntfy://ntfy.example.com/alerts."
    with _capture as said:
        plugin = Apprise.instantiate(url)
    if plugin is not None:
        return ""
    reason = " ".join(scrub(line, url).rstrip(". ") + "." for line in said) or "Apprise does not know it."
    return f"Apprise cannot use this URL: {reason}"
