"""Two schedulers noticing the same thing at the same moment send one alert (and one "back to normal").

Two threads, each with its own database connection, as two scheduler processes would be: they open
the same incidents, then send what is due, each step started at the same moment by a barrier. On
SQLite here; `python -m tests.on_postgresql tests/notifications` runs it on PostgreSQL.
"""

import threading

import pytest
from django.db import connection

from notifications import services
from notifications.models import Delivery, DeliveryEvent, DeliveryStatus, Incident
from tests.factories import NotificationChannelFactory
from tests.notifications.conftest import NOW, send_all

pytestmark = pytest.mark.django_db(transaction=True)

KEYS = [f"run_failed:{n}" for n in range(12)]


def race(step) -> list:
    """Run `step(racer)` in two threads released together; their results, and no exception lost."""
    barrier = threading.Barrier(2)
    results, errors = [None, None], []

    def racer(number: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[number] = step(number)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=racer, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return results


def test_two_schedulers_racing_open_each_incident_once_and_send_one_alert_per_channel(webhook, smtp):
    NotificationChannelFactory(name="Webhook", target=webhook.url)
    NotificationChannelFactory(name="Mail", target="ops@example.com")

    opened = race(lambda n: [services.incident_open(key=key, kind="run_failed", title=f"{key} failed", now=NOW)
                             is not None for key in KEYS])
    assert [a + b for a, b in zip(*opened)] == [1] * len(KEYS)  # each incident opened by exactly one of them
    assert Incident.objects.count() == len(KEYS)
    assert Delivery.objects.count() == 2 * len(KEYS)

    claimed = race(lambda n: send_all())
    assert sum(claimed) == 2 * len(KEYS)
    assert sorted(webhook.titles) == sorted(f"Channel archive: {key} failed" for key in KEYS)
    assert len(smtp.messages) == len(KEYS)
    assert set(Delivery.objects.values_list("status", "attempts")) == {(DeliveryStatus.SENT, 1)}

    resolved = race(lambda n: [services.incident_resolve(key=key, now=NOW) is not None for key in KEYS])
    assert [a + b for a, b in zip(*resolved)] == [1] * len(KEYS)
    race(lambda n: send_all())
    assert Delivery.objects.filter(event=DeliveryEvent.RESOLVED).count() == 2 * len(KEYS)
    assert len(webhook.messages) == 2 * len(KEYS)
    assert len(smtp.messages) == 2 * len(KEYS)
