"""jobs.services: creating jobs, recording attempts, cancel and retry."""

import datetime as dt

import pytest
from django.db import transaction
from django_q.models import OrmQ

from jobs import services
from jobs.models import Job, JobPriority, JobStatus
from jobs.services import JobRequest, JobStateError, job_cancel, job_create_many, job_enqueue, job_retry
from tests.factories import JobFactory
from tests.jobs.conftest import at

pytestmark = pytest.mark.django_db

NOW = at("2026-05-01 05:30")
LATER = at("2026-05-01 08:00")


def test_it_writes_the_job_and_its_queue_message_together():
    job = job_enqueue(job_type="TEST_SLEEP", params={"seconds": 1}, now=NOW, priority=JobPriority.HIGH)

    job.refresh_from_db()
    assert (job.status, job.params, job.priority) == (JobStatus.QUEUED, {"seconds": 1}, JobPriority.HIGH)
    assert job.created_at == job.available_at == job.enqueued_at == NOW
    # The handler's limits are copied onto the row: the record says what applied to it.
    assert (job.max_retries, job.time_limit_seconds) == (1, 3)
    assert OrmQ.objects.count() == 1


def test_it_writes_neither_the_jobs_nor_their_messages_when_the_transaction_rolls_back():
    with pytest.raises(RuntimeError), transaction.atomic():
        job_create_many(requests=[JobRequest("TEST_OK"), JobRequest("TEST_OK")], now=NOW)
        raise RuntimeError("the schedule run failed after creating its jobs")

    assert Job.objects.count() == 0
    assert OrmQ.objects.count() == 0


def test_it_creates_many_jobs_with_one_message_each():
    jobs = job_create_many(requests=[JobRequest("TEST_OK", {"n": n}) for n in range(5)], now=NOW)

    assert [job.params["n"] for job in jobs] == list(range(5))
    assert OrmQ.objects.count() == 5


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

    assert job.status == JobStatus.QUEUED
    assert (job.attempts, job.max_retries) == (4, 4)  # "Retries 3/3" becomes "4/4" once it runs
    assert job.available_at == job.enqueued_at == LATER
    assert job.finished_at is None
    assert job.error == "boom"  # until the new attempt starts
    assert OrmQ.objects.count() == 1


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
    assert OrmQ.objects.count() == 0
