"""A local HTTP endpoint for Apprise's json:// and a local SMTP server (aiosmtpd): the internet, simulated.

`webhook.url` is an Apprise URL posting to a pytest-httpserver on 127.0.0.1; `smtp` is an aiosmtpd
server on a free port with Django's SMTP backend pointed at it. Both record what they received
and can be told to refuse (`webhook.answer(500)`, `smtp.refuse = True`).
"""

from __future__ import annotations

import datetime as dt

import pytest

from notifications import services
from tests.servers import free_port

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


class Webhook:
    path = "/alerts"

    def __init__(self, server):
        self.server = server

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.server.port}{self.path}"

    def answer(self, status: int = 200) -> None:
        self.server.clear_all_handlers()
        self.server.expect_request(self.path, method="POST").respond_with_data("ok" if status < 400 else "nope",
                                                                               status=status)

    @property
    def messages(self) -> list[dict]:
        """The JSON Apprise posted: {"title": ..., "message": ..., "type": ...}, oldest first."""
        return [request.get_json() for request, _ in self.server.log if request.path == self.path]

    @property
    def titles(self) -> list[str]:
        return [message["title"] for message in self.messages]


@pytest.fixture
def webhook(httpserver):
    hook = Webhook(httpserver)
    hook.answer(200)
    yield hook
    httpserver.clear()


class Inbox:
    """aiosmtpd's handler: keeps each message, or refuses it with a 550 while `refuse` is set."""

    def __init__(self):
        self.messages = []
        self.refuse = False

    async def handle_DATA(self, server, session, envelope):
        if self.refuse:
            return "550 5.7.1 Relaying denied"
        from email import message_from_bytes

        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"

    @property
    def subjects(self) -> list[str]:
        return [message["Subject"] for message in self.messages]


@pytest.fixture
def smtp(settings):
    from aiosmtpd.controller import Controller

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    yield inbox
    controller.stop()


def send_all(*, now: dt.datetime = NOW) -> int:
    """What the scheduler's steps do at `now` until nothing due is left: claim and send."""
    total = 0
    while claimed := services.deliveries_send_due(now=now):
        total += claimed
    return total
