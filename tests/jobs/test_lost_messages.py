"""The outbox's quick rule: a queued job whose message was lost (a broker restarted without its data, a
cluster killed with messages in hand) is sent again after 30 s, not 5 min; a backlog never is.

The broker is the ORM broker of the test database, or the Redis of the PostgreSQL pass (tests/broker.py):
what it holds is what the test writes; the clusters' reports are given where a test needs a busy one. tests/jobs/test_redis_broker.py restarts
a real Redis under a real cluster and scheduler.
"""

import datetime as dt
import logging
from types import SimpleNamespace

import pytest
from django.utils import timezone

from jobs import queue
from jobs.maintenance import jobs_resend_unsent
from jobs.models import Job, JobStatus
from jobs.services import job_enqueue
from tests import broker
from tests.factories import JobFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def now():
    # The ORM broker counts the messages whose lock has passed by the real clock.
    return timezone.now()


def sent(now, seconds_ago: float, *, message: bool = False) -> Job:
    """A queued job sent `seconds_ago`, with its message still waiting in the broker or (default) lost."""
    when = now - dt.timedelta(seconds=seconds_ago)
    if message:
        job = job_enqueue(job_type="TEST_OK", now=when)
        broker.settle()  # the Redis broker's message goes out with the commit
        return job
    return JobFactory(status=JobStatus.QUEUED, enqueued_at=when, available_at=when)


def messages_for() -> list[int]:
    return broker.job_ids()


def test_it_sends_again_a_job_whose_message_is_gone_after_30_seconds(now):
    lost = sent(now, 31)
    recent = sent(now, 29)

    assert jobs_resend_unsent(now=now) == 1

    assert messages_for() == [lost.pk]
    assert Job.objects.get(pk=lost.pk).enqueued_at == now
    assert Job.objects.get(pk=recent.pk).enqueued_at == now - dt.timedelta(seconds=29)


def test_it_never_sends_again_a_job_whose_message_still_waits(now):
    backlog = [sent(now, 60 + n, message=True) for n in range(5)]

    assert jobs_resend_unsent(now=now) == 0
    assert messages_for() == sorted(job.pk for job in backlog)


def test_it_sends_again_as_many_of_the_oldest_as_the_broker_is_short_of(now):
    oldest, older, old = sent(now, 90, message=True), sent(now, 80, message=True), sent(now, 70, message=True)
    broker.take(2)

    assert jobs_resend_unsent(now=now) == 2

    assert messages_for() == sorted([oldest.pk, older.pk, old.pk])


def test_it_waits_while_a_cluster_has_messages_in_hand(now, monkeypatch):
    """A cluster working through a backlog holds some of its messages in its task queue: the
    broker's count says nothing about those."""
    sent(now, 45)
    monkeypatch.setattr(queue, "alive_clusters", lambda: [SimpleNamespace(task_q_size=0), SimpleNamespace(task_q_size=4)])

    assert jobs_resend_unsent(now=now) == 0

    monkeypatch.setattr(queue, "alive_clusters", lambda: [SimpleNamespace(task_q_size=0)])
    assert jobs_resend_unsent(now=now) == 1


def test_it_waits_when_the_clusters_or_the_broker_cannot_say(now, monkeypatch):
    sent(now, 45)
    monkeypatch.setattr(queue, "alive_clusters", lambda: None)
    assert jobs_resend_unsent(now=now) == 0

    monkeypatch.undo()
    monkeypatch.setattr(queue, "waiting_messages", lambda: None)
    assert jobs_resend_unsent(now=now) == 0


def test_it_asks_neither_broker_nor_clusters_while_nothing_waits_long(now, monkeypatch):
    sent(now, 10)

    def must_not_be_asked():
        raise AssertionError("asked")

    monkeypatch.setattr(queue, "alive_clusters", must_not_be_asked)
    monkeypatch.setattr(queue, "waiting_messages", must_not_be_asked)

    assert jobs_resend_unsent(now=now) == 0


def test_two_schedulers_send_a_job_again_once(now):
    """Both read the job as lost; the first to claim it (compare-and-set on `enqueued_at`) sends it."""
    job = sent(now, 45)
    first, second = Job.objects.get(pk=job.pk), Job.objects.get(pk=job.pk)

    assert queue.resend([first], now=now) == 1
    assert queue.resend([second], now=now + dt.timedelta(milliseconds=5)) == 0

    assert messages_for() == [job.pk]
    assert Job.objects.get(pk=job.pk).enqueued_at == now


def test_a_send_that_fails_gives_the_claim_back(now, monkeypatch):
    """Redis: the claim commits before the message goes out; if it cannot go out, the job is as it was."""
    job = sent(now, 45)

    def broker_down(jobs, **kwargs):
        raise ConnectionError("Redis is down")

    monkeypatch.setattr(queue, "uses_orm_broker", lambda: False)
    monkeypatch.setattr(queue, "_send", broker_down)

    assert queue.resend([Job.objects.get(pk=job.pk)], now=now) == 0
    assert Job.objects.get(pk=job.pk).enqueued_at == now - dt.timedelta(seconds=45)


def test_short_of_messages_it_sends_again_the_job_sent_longest_ago_not_the_lowest_id(now):
    """A job sent again lately keeps its old id: what counts is when its message went out."""
    resent_lately = sent(now, 35)
    sent_long_ago = sent(now, 60)
    newer = sent(now, 5, message=True)  # its message is the one the broker holds: the two are short of one

    assert jobs_resend_unsent(now=now) == 1

    assert messages_for() == sorted([sent_long_ago.pk, newer.pk])
    assert Job.objects.get(pk=resent_lately.pk).enqueued_at == now - dt.timedelta(seconds=35)


def test_it_says_how_many_messages_were_lost_and_stays_quiet_when_none_was(now, caplog):
    for seconds_ago in (90, 80, 70):
        sent(now, seconds_ago, message=True)

    with caplog.at_level(logging.WARNING, logger="jobs.maintenance"):
        assert jobs_resend_unsent(now=now) == 0
    assert [record for record in caplog.records if record.name == "jobs.maintenance"] == []

    broker.take(2)
    with caplog.at_level(logging.WARNING, logger="jobs.maintenance"):
        assert jobs_resend_unsent(now=now) == 2

    assert [record.getMessage() for record in caplog.records if record.name == "jobs.maintenance"][0] == (
        f"The broker holds 1 message(s) for 3 job(s) queued before {now - dt.timedelta(seconds=30)}, and no "
        "worker has one in hand: 2 message(s) were lost.")
