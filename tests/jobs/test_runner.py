"""jobs.runner.execute, called in this process the way a django-q2 worker calls it."""

import os
import socket

import pytest
from django_q.exceptions import TimeoutException

from jobs import registry, runner
from jobs.models import Job, JobStatus
from jobs.services import job_enqueue
from tests.jobs.conftest import at

pytestmark = pytest.mark.django_db

NOW = at("2026-05-01 05:30")


@pytest.fixture
def frozen(time_machine):
    time_machine.move_to(NOW, tick=False)


@pytest.fixture
def handler(monkeypatch):
    """Register a one-off handler for this test only."""

    def register(run, *, job_type="TEST_CUSTOM", **options):
        monkeypatch.setitem(registry._handlers, job_type, registry.JobHandler(job_type, "Custom", run, **options))
        return job_type

    return register


def test_it_runs_a_queued_job_and_records_the_attempt(frozen):
    job = job_enqueue(job_type="TEST_OK", params={"echo": "hello"}, now=NOW)

    assert runner.execute(job.pk) == "completed"

    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED
    assert job.attempts == 1 and job.retries == 0
    assert job.worker == f"{socket.gethostname()}:{os.getpid()}"
    assert job.started_at == job.finished_at == NOW
    assert job.result == {"echo": "hello", "attempt": 1}
    assert job.error == ""
    assert job.attempt_log == [{"attempt": 1, "worker": job.worker, "started_at": NOW.isoformat(),
                                "finished_at": NOW.isoformat(), "outcome": "completed", "error": ""}]


def test_it_runs_a_job_once_when_its_message_is_delivered_twice(marker):
    job = job_enqueue(job_type="TEST_OK", params={"marker": str(marker)}, now=NOW)

    assert runner.execute(job.pk) == "completed"
    assert runner.execute(job.pk) == "not claimed"

    job.refresh_from_db()
    assert job.attempts == 1
    assert len(marker.read_text().splitlines()) == 1


def test_it_does_nothing_for_a_cancelled_job(marker):
    job = job_enqueue(job_type="TEST_OK", params={"marker": str(marker)}, now=NOW)
    Job.objects.filter(pk=job.pk).update(status=JobStatus.CANCELLED)

    assert runner.execute(job.pk) == "not claimed"

    job.refresh_from_db()
    assert (job.status, job.attempts, job.started_at) == (JobStatus.CANCELLED, 0, None)
    assert not marker.exists()


def test_it_does_nothing_for_a_job_that_no_longer_exists():
    assert runner.execute(987654) == "not claimed"


def test_it_schedules_a_retry_with_backoff_when_an_attempt_fails(frozen):
    job = job_enqueue(job_type="TEST_FAIL", params={"message": "feed unreachable"}, now=NOW)

    assert runner.execute(job.pk) == "attempt 1 failed"

    job.refresh_from_db()
    assert job.status == JobStatus.RETRY_WAIT
    # The test settings' backoff base is 1 s: 1 s after the first failure, 2 s after the second...
    assert job.available_at == at("2026-05-01 05:30:01")
    assert job.finished_at is None
    assert "Traceback (most recent call last)" in job.error
    assert job.error.strip().endswith("RuntimeError: feed unreachable")
    assert job.attempt_log[0]["outcome"] == "failed"
    assert job.attempt_log[0]["error"] == "RuntimeError: feed unreachable"


def test_it_fails_the_job_when_its_retries_are_used_up(frozen):
    job = job_enqueue(job_type="TEST_FAIL", now=NOW)  # max_retries 2
    Job.objects.filter(pk=job.pk).update(attempts=2)

    runner.execute(job.pk)

    job.refresh_from_db()
    assert (job.status, job.attempts, job.retries, job.max_retries) == (JobStatus.FAILED, 3, 2, 2)
    assert job.finished_at == NOW
    assert "RuntimeError" in job.error


def test_the_last_retry_is_still_a_retry(frozen):
    # max_retries 2: attempts 2 and 3 are the retries. Attempt 2 failing waits for attempt 3.
    job = job_enqueue(job_type="TEST_FAIL", now=NOW)
    Job.objects.filter(pk=job.pk).update(attempts=1)

    runner.execute(job.pk)

    job.refresh_from_db()
    assert (job.status, job.attempts, job.retries) == (JobStatus.RETRY_WAIT, 2, 1)
    assert job.available_at == at("2026-05-01 05:30:02")  # backoff doubles after the second attempt


def test_it_fails_at_once_without_retries_when_the_handler_says_no_retry_can_help(handler, frozen):
    def rejects(job):
        raise registry.PermanentJobError("group_id: the channel group 7 no longer exists.")

    job = job_enqueue(job_type=handler(rejects, max_retries=3), now=NOW)

    assert runner.execute(job.pk) == "attempt 1 failed permanently"

    job.refresh_from_db()
    assert (job.status, job.attempts, job.failed_permanently) == (JobStatus.FAILED, 1, True)
    assert job.error == "group_id: the channel group 7 no longer exists."
    assert job.attempts_text == "1 of at most 4; no more: a retry cannot fix this error"


def test_it_fails_a_job_of_an_unknown_type_at_once_with_a_clear_message():
    job = job_enqueue(job_type="NO_SUCH_TYPE", now=NOW)

    assert runner.execute(job.pk) == "failed: unknown job type"

    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert job.attempts == 1
    assert "No handler is registered for job type 'NO_SUCH_TYPE'" in job.error
    assert "TEST_OK" in job.error  # the known types, to spot a typo or a missing app
    assert job.failed_permanently


def test_it_records_a_time_limit_and_lets_django_q_replace_the_worker(handler, frozen):
    def too_slow(job):
        raise TimeoutException("Task exceeded maximum timeout value (3 seconds)")

    job = job_enqueue(job_type=handler(too_slow, time_limit_seconds=3), now=NOW)

    with pytest.raises(TimeoutException):
        runner.execute(job.pk)

    job.refresh_from_db()
    assert job.status == JobStatus.RETRY_WAIT
    assert job.error.startswith("Time limit of 3 s exceeded; the attempt was stopped.")
    assert job.attempt_log[0]["outcome"] == "timed out"


def test_it_fails_the_attempt_when_the_result_is_not_json(handler):
    job = job_enqueue(job_type=handler(lambda job: {"when": NOW, "what": object()}), now=NOW)

    runner.execute(job.pk)

    job.refresh_from_db()
    assert job.status == JobStatus.RETRY_WAIT
    assert "TypeError" in job.error and "not JSON serializable" in job.error


def test_it_stores_dates_in_results_as_text(handler):
    job = job_enqueue(job_type=handler(lambda job: {"backup_at": NOW, "files": 3}), now=NOW)

    runner.execute(job.pk)

    job.refresh_from_db()
    assert job.result == {"backup_at": "2026-05-01T05:30:00Z", "files": 3}


def test_it_discards_the_result_of_an_attempt_that_was_taken_over(handler):
    def reaped_meanwhile(job):
        # What the reaper does when it gives up on this attempt while the handler still runs.
        Job.objects.filter(pk=job.pk).update(status=JobStatus.RETRY_WAIT, error="reaped")
        return {"late": True}

    job = job_enqueue(job_type=handler(reaped_meanwhile), now=NOW)

    assert runner.execute(job.pk) == "result discarded"

    job.refresh_from_db()
    assert (job.status, job.result, job.error) == (JobStatus.RETRY_WAIT, None, "reaped")


@pytest.mark.django_db(transaction=True)
def test_it_does_not_hold_a_transaction_while_the_handler_runs(handler):
    from django.db import connection

    seen = {}

    def look(job):
        seen["in_atomic_block"] = connection.in_atomic_block
        return None

    job = job_enqueue(job_type=handler(look), now=NOW)
    runner.execute(job.pk)

    # A long backup inside a transaction would hold SQLite's write lock for all of its run.
    assert seen == {"in_atomic_block": False}


# --------------------------------------------------------------------------- claims (make mutation)


def test_it_claims_only_the_job_it_was_sent(frozen):
    job, other = (job_enqueue(job_type="TEST_OK", params={"echo": "hello"}, now=NOW) for _ in range(2))

    assert runner.execute(job.pk) == "completed"

    other.refresh_from_db()
    assert (other.status, other.attempts, other.started_at, other.worker) == (JobStatus.QUEUED, 0, None, "")


def test_a_new_attempt_shows_as_running_without_the_last_attempts_error_or_end(handler, frozen):
    seen = {}

    def run(job):
        row = Job.objects.get(pk=job.pk)  # what the job pages show while it runs
        seen.update(status=row.status, error=row.error, finished_at=row.finished_at, attempts=row.attempts)
        return "done"

    job = job_enqueue(job_type=handler(run), now=NOW)
    # Its last attempt failed and ended; the job is queued again (a retry, or retried by hand).
    Job.objects.filter(pk=job.pk).update(attempts=1, error="Traceback: boom", finished_at=at("2026-05-01 05:00"))

    assert runner.execute(job.pk) == "completed"
    assert seen == {"status": JobStatus.RUNNING, "error": "", "finished_at": None, "attempts": 2}


# --------------------------------------------------------------------------- log lines (make mutation)


def test_it_logs_the_start_of_an_attempt_for_the_operator(frozen, caplog):
    job = job_enqueue(job_type="TEST_OK", params={"echo": "hello"}, now=NOW)

    with caplog.at_level("INFO", logger="jobs.runner"):
        runner.execute(job.pk)

    [start] = [record for record in caplog.records if getattr(record, "event", None) == "job_start"]
    assert start.getMessage() == f"Job {job.pk} started: TEST_OK, attempt 1"
    assert (start.job_id, start.job_type, start.attempt, start.worker) == (
        job.pk, "TEST_OK", 1, f"{socket.gethostname()}:{os.getpid()}")


def test_it_logs_why_it_did_not_run_a_job(caplog):
    with caplog.at_level("INFO", logger="jobs.runner"):
        runner.execute(987654)

    assert "Job 987654 not claimed: it is no longer queued (a second delivery, or cancelled)." in caplog.messages


def test_it_names_every_known_job_type_when_a_type_is_unknown(monkeypatch):
    monkeypatch.setattr(registry, "job_types", lambda: ["TEST_FAIL", "TEST_OK"])
    job = job_enqueue(job_type="NO_SUCH_TYPE", now=NOW)

    runner.execute(job.pk)

    job.refresh_from_db()
    assert job.error == (f"No handler is registered for job type 'NO_SUCH_TYPE' on worker {job.worker} "
                         "(known: TEST_FAIL, TEST_OK).")


def test_it_says_no_job_type_is_known_when_none_is(monkeypatch):
    monkeypatch.setattr(registry, "job_types", lambda: [])
    job = job_enqueue(job_type="NO_SUCH_TYPE", now=NOW)

    runner.execute(job.pk)

    job.refresh_from_db()
    assert job.error.endswith("(known: none).")


@pytest.mark.parametrize(("ending", "outcome", "line"), [
    ("returns", "result discarded", "Job {pk} attempt 1 finished after it was taken over (reaped); its result was discarded."),
    ("raises", "attempt 1 failed", "Job {pk} attempt 1 failed after it was taken over; its error was not recorded."),
])
def test_it_logs_an_attempt_that_ended_after_it_was_taken_over(handler, caplog, ending, outcome, line):
    def reaped_meanwhile(job):
        Job.objects.filter(pk=job.pk).update(status=JobStatus.RETRY_WAIT, error="reaped")
        if ending == "raises":
            raise RuntimeError("late failure")
        return {"late": True}

    job = job_enqueue(job_type=handler(reaped_meanwhile), now=NOW)

    with caplog.at_level("INFO", logger="jobs.runner"):
        assert runner.execute(job.pk) == outcome

    job.refresh_from_db()
    assert (job.status, job.error) == (JobStatus.RETRY_WAIT, "reaped")
    assert line.format(pk=job.pk) in caplog.messages
