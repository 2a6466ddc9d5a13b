"""django-q2's queue as a test sees it, whichever broker the pass runs on.

The SQLite pass uses the ORM broker: a message is an `OrmQ` row, written in the job's own transaction.
The PostgreSQL pass (tests.on_postgresql) uses Redis: a message is an entry of a Redis list, pushed once
the job's transaction commits. A test in the `db` fixture's transaction never commits, so `messages()`
first runs the callbacks that commit would run (`settle()`), as `captureOnCommitCallbacks` does.
"""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import connection
from django_q.brokers import get_broker
from django_q.signing import SignedPackage

on_orm_broker = not settings.REDIS_URL
orm_broker_only = pytest.mark.skipif(not on_orm_broker, reason="about the ORM broker's message in the job's "
                                                                "own transaction")


def settle() -> None:
    """Run the on-commit callbacks registered so far (the Redis broker's sends), as the commit would."""
    while connection.run_on_commit:
        _, callback, _ = connection.run_on_commit.pop(0)
        callback()


def _payloads() -> list:
    broker = get_broker()
    if on_orm_broker:
        from django_q.models import OrmQ

        return [message.payload for message in OrmQ.objects.filter(key=broker.list_key).order_by("pk")]
    return broker.connection.lrange(broker.list_key, 0, -1)


def messages() -> list[dict]:
    """The tasks waiting in the queue, oldest first, as django-q2 decodes them."""
    settle()
    return [SignedPackage.loads(payload) for payload in _payloads()]


def count() -> int:
    return len(messages())


def job_ids() -> list[int]:
    """The job ids the waiting messages carry, sorted."""
    return sorted(task["args"][0] for task in messages())


def take(n: int | None = None) -> None:
    """Remove the `n` oldest messages (default: all), as workers taking them (or a broker losing them) would."""
    settle()
    broker = get_broker()
    if on_orm_broker:
        from django_q.models import OrmQ

        waiting = OrmQ.objects.filter(key=broker.list_key).order_by("pk")
        OrmQ.objects.filter(pk__in=list(waiting.values_list("pk", flat=True)[:n])).delete()
    elif n is None:
        broker.purge_queue()
    else:
        broker.connection.ltrim(broker.list_key, n, -1)


def report_cluster(key: str, value: str, timeout: int) -> None:
    """Write a cluster's status report where django-q2 keeps them for this broker (the cache, or Redis)."""
    get_broker().set_stat(key, value, timeout)


def forget_cluster(key: str) -> None:
    """Remove a cluster's status report, as its expiry would."""
    broker = get_broker()
    if on_orm_broker:
        broker.cache.delete(key)
    else:
        broker.connection.delete(key)
