"""A notification channel this server cannot get to at all says so, naming the host it tried: a
port nobody listens on and a name no resolver knows (`.invalid`, RFC 6761). Real sockets, no mocks."""

import pytest

from notifications.models import Delivery
from tests.factories import NotificationChannelFactory
from tests.notifications.conftest import NOW, send_all
from tests.servers import free_port

pytestmark = pytest.mark.django_db

NO_WAY_OUT = "(no DNS or no internet?)"


def open_incident():
    from notifications import services

    return services.incident_open(key="backups_stale", kind="backups_stale", title="Backups are stale",
                                  detail="The newest good backup is 3 d old.", link="/backups", now=NOW)


def error_after_sending() -> str:
    open_incident()
    send_all()
    return Delivery.objects.get().error


@pytest.fixture
def smtp_at(settings):
    def point(host: str, port: int) -> None:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = host, port
        settings.EMAIL_TIMEOUT = 2

    return point


def test_a_webhook_on_a_port_nobody_listens_on(db):
    NotificationChannelFactory(target=f"json://127.0.0.1:{free_port()}/nobody-listens")

    error = error_after_sending()

    assert error.startswith(f"This server could not reach 127.0.0.1 {NO_WAY_OUT}. Apprise said: ")
    assert "Connection error" in error


def test_a_webhook_whose_host_has_no_address(db):
    NotificationChannelFactory(target="json://hooks.archive-test.invalid/alerts")

    assert error_after_sending().startswith(f"This server could not reach hooks.archive-test.invalid {NO_WAY_OUT}.")


def test_a_mail_server_that_refuses_the_connection(smtp_at):
    port = free_port()
    smtp_at("127.0.0.1", port)
    NotificationChannelFactory(target="ops@example.com")

    assert error_after_sending() == (f"This server could not reach the mail server 127.0.0.1:{port} {NO_WAY_OUT}: "
                                     "the connection was refused (nothing listens there).")


def test_a_mail_server_whose_name_has_no_address(smtp_at):
    smtp_at("mail.archive-test.invalid", 25)
    NotificationChannelFactory(target="ops@example.com")

    assert error_after_sending().startswith(
        f"This server could not reach the mail server mail.archive-test.invalid:25 {NO_WAY_OUT}: "
        "its name could not be looked up")
