"""jobs.queue: what goes into django-q2's queue, and when."""

import pytest

from jobs import queue
from jobs.models import Job, JobStatus
from jobs.services import job_enqueue
from tests import broker
from tests.factories import JobFactory
from tests.jobs.conftest import at

pytestmark = pytest.mark.django_db

NOW = at("2026-05-01 05:30")


def test_it_sends_only_the_job_id_with_the_job_time_limit():
    job = job_enqueue(job_type="TEST_SLEEP", params={"secret": "stays in the row"}, now=NOW)

    task = broker.messages()[0]

    assert task["func"] == "jobs.runner.execute"
    assert task["args"] == (job.pk,)
    assert task["kwargs"] == {}
    assert task["name"] == f"job-{job.pk}"
    # django-q2 stops the task at the job's limit; it keeps no record of successes (ours is the record).
    assert task["timeout"] == 3
    assert task["save"] is False


def test_it_never_gives_django_q_a_timeout_above_its_own(settings):
    job = JobFactory(time_limit_seconds=10 * 3600)

    assert queue.message_timeout(job) == settings.Q_CLUSTER["timeout"]


def test_it_sends_after_the_commit_with_a_broker_outside_the_database(monkeypatch, django_capture_on_commit_callbacks):
    sent = []
    monkeypatch.setattr(queue, "uses_orm_broker", lambda: False)
    monkeypatch.setattr(queue, "_send", lambda jobs, **kw: sent.append([job.pk for job in jobs]))
    job = JobFactory()

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        queue.send_with_commit([job], now=NOW)
        assert sent == []

    assert len(callbacks) == 1
    assert sent == [[job.pk]]


def test_it_resends_and_marks_the_time():
    job = JobFactory(status=JobStatus.QUEUED, enqueued_at=at("2026-05-01 05:00"))

    assert queue.resend([job], now=NOW) == 1

    assert Job.objects.get(pk=job.pk).enqueued_at == NOW
    assert broker.count() == 1


def test_it_counts_the_messages_waiting_in_the_broker():
    job_enqueue(job_type="TEST_OK", now=NOW)
    job_enqueue(job_type="TEST_OK", now=NOW)
    broker.settle()  # on Redis, the messages go with the commit

    assert queue.waiting_messages() == 2


def test_it_writes_the_messages_of_a_batch_as_async_task_would():
    from jobs.services import JobRequest, job_create_many

    single = job_enqueue(job_type="TEST_SLEEP", now=NOW)
    batch = job_create_many(requests=[JobRequest("TEST_SLEEP"), JobRequest("TEST_OK")], now=NOW)

    tasks = {task["args"][0]: task for task in broker.messages()}
    assert sorted(tasks) == sorted([single.pk, *(job.pk for job in batch)])
    reference = {k: v for k, v in tasks[single.pk].items() if k not in {"id", "name", "args", "started"}}
    for job in batch:
        task = tasks[job.pk]
        assert task["name"] == f"job-{job.pk}"
        assert {k: v for k, v in task.items() if k not in {"id", "name", "args", "started", "timeout"}} == {
            k: v for k, v in reference.items() if k != "timeout"}
        assert task["timeout"] == queue.message_timeout(job)
    assert len({task["id"] for task in tasks.values()}) == 3
