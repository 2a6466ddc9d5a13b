"""jobs.services: creating jobs, recording attempts, cancel and retry."""

import datetime as dt

import pytest
from django.db import transaction

from jobs import queue, runner, services
from jobs.maintenance import jobs_reap_lost, jobs_release_due_retries
from jobs.models import Job, JobPriority, JobStatus
from jobs.services import JobRequest, JobStateError, job_cancel, job_create_many, job_enqueue, job_retry
from jobs.signals import job_status_changed
from tests import broker
from tests.factories import JobFactory
from tests.jobs.conftest import at

pytestmark = pytest.mark.django_db

NOW = at("2026-05-01 05:30")
LATER = at("2026-05-01 08:00")


@broker.orm_broker_only
def test_it_writes_the_job_and_its_queue_message_together():
    job = job_enqueue(job_type="TEST_SLEEP", params={"seconds": 1}, now=NOW, priority=JobPriority.HIGH)

    job.refresh_from_db()
    assert (job.status, job.params, job.priority) == (JobStatus.QUEUED, {"seconds": 1}, JobPriority.HIGH)
    assert job.created_at == job.available_at == job.enqueued_at == NOW
    # The handler's limits are copied onto the row: the record says what applied to it.
    assert (job.max_retries, job.time_limit_seconds) == (1, 3)
    assert broker.count() == 1


def test_it_writes_neither_the_jobs_nor_their_messages_when_the_transaction_rolls_back():
    with pytest.raises(RuntimeError), transaction.atomic():
        job_create_many(requests=[JobRequest("TEST_OK"), JobRequest("TEST_OK")], now=NOW)
        raise RuntimeError("the schedule run failed after creating its jobs")

    assert Job.objects.count() == 0
    assert broker.count() == 0


def test_it_creates_many_jobs_with_one_message_each():
    jobs = job_create_many(requests=[JobRequest("TEST_OK", {"n": n}) for n in range(5)], now=NOW)

    assert [job.params["n"] for job in jobs] == list(range(5))
    assert broker.count() == 5


@pytest.mark.parametrize(("attempt", "seconds"), [(1, 30), (2, 60), (3, 120), (8, 3600), (30, 3600)])
def test_it_backs_off_exponentially_up_to_a_cap(settings, attempt, seconds):
    settings.JOBS_RETRY_BACKOFF_SECONDS = 30
    settings.JOBS_RETRY_BACKOFF_MAX_SECONDS = 3600

    assert services.retry_delay(attempt=attempt) == dt.timedelta(seconds=seconds)


def test_it_ignores_a_failed_attempt_that_was_taken_over():
    job = JobFactory(status=JobStatus.RUNNING, attempts=1, started_at=NOW)
    stale = Job.objects.get(pk=job.pk)
    Job.objects.filter(pk=job.pk).update(status=JobStatus.RETRY_WAIT, attempts=1)

    assert services.job_attempt_failed(job=stale, error="boom", now=NOW) is None
    assert Job.objects.get(pk=job.pk).error == ""


# --- hand-back: a worker stopped mid-attempt ---------------------------------------------------------


def stopped_attempt(*, max_retries: int = 1) -> Job:
    """Attempt 2 of a job, running on host-a since NOW, as its runner holds it."""
    log = [{"attempt": 1, "outcome": "failed"}]
    job = JobFactory(status=JobStatus.RUNNING, attempts=2, max_retries=max_retries, started_at=NOW, worker="host-a:1",
                     time_limit_seconds=60, available_at=NOW, enqueued_at=NOW, attempt_log=log)
    return Job.objects.get(pk=job.pk)


def test_it_hands_a_stopped_attempt_back_uncounted_and_sends_it_again():
    job = stopped_attempt()

    assert services.job_attempt_handed_back(job=job, now=LATER) is True

    broker.settle()  # on Redis, the message and its `enqueued_at` go with the commit
    job.refresh_from_db()
    # Its last retry, yet queued rather than failed: the stopped attempt did not count.
    assert (job.status, job.attempts, job.worker, job.started_at) == (JobStatus.QUEUED, 1, "", None)
    assert job.available_at == job.enqueued_at == LATER
    assert job.attempt_log[0] == {"attempt": 1, "outcome": "failed"}
    assert job.attempt_log[1] == {
        "attempt": 2, "worker": "host-a:1", "started_at": NOW.isoformat(), "finished_at": LATER.isoformat(),
        "outcome": "handed back", "error": "Its worker was stopped; back in the queue, not counted as an attempt.",
    }
    assert broker.count() == 1


@broker.orm_broker_only
def test_it_hands_nothing_back_when_the_new_message_cannot_be_written(monkeypatch):
    """The row and its fresh message commit together: no queued job is left without one."""
    def broker_down(*args, **kwargs):
        raise RuntimeError("the message could not be written")

    monkeypatch.setattr(queue, "async_task", broker_down)
    job = stopped_attempt()

    with pytest.raises(RuntimeError):
        services.job_attempt_handed_back(job=job, now=LATER)

    job.refresh_from_db()
    assert (job.status, job.attempts, job.worker, len(job.attempt_log)) == (JobStatus.RUNNING, 2, "host-a:1", 1)


def test_a_hand_back_tells_no_listener(django_capture_on_commit_callbacks):
    """The job stays active (running, then queued), so a schedule run it belongs to stays dispatched."""
    heard = []

    def listener(sender, jobs, **kwargs):
        heard.extend(job.pk for job in jobs)

    job_status_changed.connect(listener, weak=False, dispatch_uid="test-hand-back")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            services.job_attempt_handed_back(job=stopped_attempt(), now=LATER)
    finally:
        job_status_changed.disconnect(dispatch_uid="test-hand-back")

    assert Job.objects.get().status == JobStatus.QUEUED
    assert heard == []


@pytest.mark.parametrize("then_run_again", [False, True])
def test_it_does_not_hand_back_an_attempt_the_reaper_took_over(then_run_again):
    job = stopped_attempt(max_retries=2 if then_run_again else 1)
    # The worker took too long to stop: attempt 2 is recorded lost, the job failed...
    assert jobs_reap_lost(now=LATER) == 1
    if then_run_again:  # ...or, with a retry left, run again on another worker as attempt 3
        jobs_release_due_retries(now=LATER + dt.timedelta(minutes=5))
        runner.claim(job.pk, worker="host-b:1", now=LATER + dt.timedelta(minutes=5))
    taken_over = Job.objects.get(pk=job.pk)
    broker.take()

    assert services.job_attempt_handed_back(job=job, now=LATER + dt.timedelta(minutes=6)) is False

    job.refresh_from_db()
    assert (job.status, job.attempts, job.worker, job.attempt_log) == (
        taken_over.status, taken_over.attempts, taken_over.worker, taken_over.attempt_log)
    assert (job.status, job.attempts) == ((JobStatus.RUNNING, 3) if then_run_again else (JobStatus.FAILED, 2))
    assert broker.count() == 0


# --- cancel ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [JobStatus.QUEUED, JobStatus.RETRY_WAIT])
def test_it_cancels_a_job_that_has_not_started(status):
    job = JobFactory(status=status)

    job = job_cancel(job=job, now=LATER, by="alice")

    assert job.status == JobStatus.CANCELLED
    assert job.finished_at == LATER
    assert job.error == "Cancelled by alice at 2026-05-01 08:00:00 UTC."


def test_it_keeps_the_previous_error_below_the_cancel_note():
    job = JobFactory(status=JobStatus.RETRY_WAIT, attempts=1, error="Traceback...\nOSError: disk full")

    job = job_cancel(job=job, now=LATER)

    assert job.error == "Cancelled at 2026-05-01 08:00:00 UTC.\n\nTraceback...\nOSError: disk full"


@pytest.mark.parametrize("status", [JobStatus.RUNNING, JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED])
def test_it_refuses_to_cancel_a_job_that_started_or_ended(status):
    job = JobFactory(status=status)

    with pytest.raises(JobStateError, match=f"Job #{job.pk} is {job.get_status_display().lower()}; only queued"):
        job_cancel(job=job, now=LATER)

    assert Job.objects.get(pk=job.pk).status == status


# --- retry ----------------------------------------------------------------------------------------


def test_it_retries_a_failed_job_as_one_more_attempt():
    job = JobFactory(status=JobStatus.FAILED, attempts=4, max_retries=3, finished_at=NOW, error="boom")

    job = job_retry(job=job, now=LATER)
    broker.settle()  # on Redis, the message and its `enqueued_at` go with the commit
    job.refresh_from_db()

    assert job.status == JobStatus.QUEUED
    assert (job.attempts, job.max_retries) == (4, 4)  # "Retries 3/3" becomes "4/4" once it runs
    assert job.available_at == job.enqueued_at == LATER
    assert job.finished_at is None
    assert job.error == "boom"  # until the new attempt starts
    assert broker.count() == 1


def test_it_keeps_the_remaining_retries_of_a_job_cancelled_while_waiting():
    job = JobFactory(status=JobStatus.CANCELLED, attempts=1, max_retries=3)

    job = job_retry(job=job, now=LATER)

    assert (job.status, job.attempts, job.max_retries) == (JobStatus.QUEUED, 1, 3)


@pytest.mark.parametrize("status", [JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.RETRY_WAIT, JobStatus.COMPLETED])
def test_it_refuses_to_retry_a_job_that_has_not_failed(status):
    job = JobFactory(status=status)

    with pytest.raises(JobStateError, match="only failed or cancelled jobs can be retried"):
        job_retry(job=job, now=LATER)

    assert Job.objects.get(pk=job.pk).status == status
    assert broker.count() == 0
