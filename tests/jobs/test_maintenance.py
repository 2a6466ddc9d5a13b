"""jobs.maintenance: releasing due retries, reaping lost jobs, the outbox; and who runs it."""

import datetime as dt
import logging
import threading
from types import SimpleNamespace

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from jobs import queue
from jobs.maintenance import jobs_maintain
from jobs.models import Job, JobStatus
from jobs.services import job_enqueue
from tests import broker
from tests.factories import JobFactory
from tests.jobs.conftest import at

pytestmark = pytest.mark.django_db

NOW = at("2026-05-01 05:30")


def seconds(n: float) -> dt.timedelta:
    return dt.timedelta(seconds=n)


def test_it_does_nothing_and_writes_nothing_when_idle(django_assert_max_num_queries):
    JobFactory(status=JobStatus.COMPLETED)

    # One read each: retries, running jobs, never-sent and stale jobs, overdue announcements, and
    # the three listening to jobs_maintained (runs, group syncs, a restore by hand: running backups).
    with django_assert_max_num_queries(8) as captured:
        assert jobs_maintain(now=NOW) == {"released": 0, "reaped": 0, "resent": 0, "announced again": 0,
                                          "settled": 0}

    assert not [q for q in captured.captured_queries if not q["sql"].startswith("SELECT")]


@pytest.mark.django_db(transaction=True)  # each step commits, as in the scheduler (on Redis, sends go with it)
def test_it_queues_and_sends_retries_whose_backoff_has_passed():
    due = JobFactory(status=JobStatus.RETRY_WAIT, attempts=1, available_at=NOW - seconds(1))
    waiting = JobFactory(status=JobStatus.RETRY_WAIT, attempts=1, available_at=NOW + seconds(1))

    assert jobs_maintain(now=NOW)["released"] == 1

    due.refresh_from_db()
    assert (due.status, due.enqueued_at) == (JobStatus.QUEUED, NOW)
    assert Job.objects.get(pk=waiting.pk).status == JobStatus.RETRY_WAIT
    assert broker.count() == 1


def test_it_releases_more_retries_than_one_batch(settings):
    settings.JOBS_MAINTENANCE_BATCH_SIZE = 3
    JobFactory.create_batch(7, status=JobStatus.RETRY_WAIT, attempts=1, available_at=NOW)

    assert jobs_maintain(now=NOW)["released"] == 7
    assert broker.count() == 7


def running_job(*, started: dt.datetime, attempts: int = 1, max_retries: int = 3, limit: int = 60) -> Job:
    return JobFactory(status=JobStatus.RUNNING, started_at=started, attempts=attempts, max_retries=max_retries,
                      time_limit_seconds=limit, worker="host-a:4242")


def test_it_retries_a_job_still_running_past_its_time_limit():
    # Time limit 60 s plus the test settings' 1 s margin.
    job = running_job(started=NOW - seconds(61))

    assert jobs_maintain(now=NOW)["reaped"] == 1

    job.refresh_from_db()
    assert job.status == JobStatus.RETRY_WAIT
    assert job.available_at == NOW + seconds(1)
    assert job.error == (
        "Attempt 1 was still marked running 61 s after it started on host-a:4242, past its time limit of 60 s "
        "(plus 1 s of grace): its worker was killed or lost, or it hung."
    )
    assert job.attempt_log[-1]["outcome"] == "lost"


def test_it_fails_a_lost_job_with_no_retries_left():
    job = running_job(started=NOW - seconds(100), attempts=4, max_retries=3)

    jobs_maintain(now=NOW)

    job.refresh_from_db()
    assert (job.status, job.finished_at) == (JobStatus.FAILED, NOW)
    assert "its worker was killed or lost" in job.error


def test_it_leaves_a_job_within_its_time_limit_alone():
    job = running_job(started=NOW - seconds(60))

    assert jobs_maintain(now=NOW)["reaped"] == 0
    assert Job.objects.get(pk=job.pk).status == JobStatus.RUNNING


def test_it_sends_a_job_whose_message_never_went_out():
    # A Redis deployment that died between the commit and the send leaves enqueued_at empty.
    never = JobFactory(status=JobStatus.QUEUED, enqueued_at=None, available_at=NOW - seconds(30))
    just_created = JobFactory(status=JobStatus.QUEUED, enqueued_at=None, available_at=NOW)

    assert jobs_maintain(now=NOW)["resent"] == 1

    assert Job.objects.get(pk=never.pk).enqueued_at == NOW
    assert Job.objects.get(pk=just_created.pk).enqueued_at is None
    assert broker.count() == 1


def test_it_sends_again_a_job_sent_long_ago_when_the_queue_is_empty():
    # Its message was taken by a worker that died before claiming it.
    lost = JobFactory(status=JobStatus.QUEUED, enqueued_at=NOW - dt.timedelta(minutes=6))
    recent = JobFactory(status=JobStatus.QUEUED, enqueued_at=NOW - dt.timedelta(minutes=4))

    assert jobs_maintain(now=NOW)["resent"] == 1

    assert Job.objects.get(pk=lost.pk).enqueued_at == NOW
    assert Job.objects.get(pk=recent.pk).enqueued_at == NOW - dt.timedelta(minutes=4)


def test_it_does_not_resend_while_the_queue_still_has_a_backlog():
    JobFactory(status=JobStatus.QUEUED, enqueued_at=NOW - dt.timedelta(minutes=6))
    job_enqueue(job_type="TEST_OK", now=NOW)  # a message waiting for a worker
    broker.settle()

    assert jobs_maintain(now=NOW)["resent"] == 0
    assert broker.count() == 1


@pytest.mark.django_db(transaction=True)  # the loop checks its connection between passes
def test_it_is_run_by_the_scheduler_loop_on_every_pass():
    from scheduling import loop

    job = JobFactory(status=JobStatus.RETRY_WAIT, attempts=1, available_at=NOW - seconds(1))
    stop = threading.Event()
    guard = threading.Timer(10, stop.set)  # a failing pass retries forever; don't hang the suite
    guard.start()

    for _ in loop.run(stop=stop, clock=lambda: NOW):
        stop.set()
    guard.cancel()

    assert Job.objects.get(pk=job.pk).status == JobStatus.QUEUED


def test_it_is_run_by_the_cluster_safety_net_too(time_machine):
    from scheduling import tasks

    time_machine.move_to(NOW, tick=False)
    job = running_job(started=NOW - seconds(120))

    tasks.safety_net_pass()

    assert Job.objects.get(pk=job.pk).status == JobStatus.RETRY_WAIT


# --- what an operator reads: the counts, the errors and the log lines ----------------------------


def test_it_reaps_every_lost_job_not_only_those_before_one_still_within_its_limit():
    lost = [running_job(started=NOW - seconds(100)) for _ in range(2)]
    fresh = running_job(started=NOW - seconds(10))  # the newest row: read first

    assert jobs_maintain(now=NOW)["reaped"] == 2

    assert [Job.objects.get(pk=job.pk).status for job in lost] == [JobStatus.RETRY_WAIT] * 2
    assert Job.objects.get(pk=fresh.pk).status == JobStatus.RUNNING


def test_a_lost_job_whose_worker_never_said_its_name_says_so():
    job = JobFactory(status=JobStatus.RUNNING, started_at=NOW - seconds(61), attempts=1, time_limit_seconds=60,
                     worker="")

    jobs_maintain(now=NOW)

    assert Job.objects.get(pk=job.pk).error.startswith(
        "Attempt 1 was still marked running 61 s after it started on an unknown worker, past its time limit")


def test_it_logs_each_job_it_reaps_and_what_the_pass_did(caplog):
    job = running_job(started=NOW - seconds(61))

    with caplog.at_level(logging.INFO, logger="jobs.maintenance"):
        jobs_maintain(now=NOW)

    assert [record.getMessage() for record in caplog.records if record.name == "jobs.maintenance"] == [
        f"Job {job.pk} reaped (retry_wait): Attempt 1 was still marked running 61 s after it started on host-a:4242, "
        "past its time limit of 60 s (plus 1 s of grace): its worker was killed or lost, or it hung.",
        "Job maintenance: 0 released, 1 reaped, 0 resent, 0 announced again, 0 settled",
    ]


def test_it_releases_the_retries_that_waited_longest_first(settings, monkeypatch):
    settings.JOBS_MAINTENANCE_BATCH_SIZE = 2
    due_at = [NOW - seconds(1), NOW - seconds(3), NOW - seconds(2)]
    jobs = [JobFactory(status=JobStatus.RETRY_WAIT, attempts=1, available_at=when) for when in due_at]
    batches = []
    send = queue.send_with_commit

    def recording(sent, **kwargs):
        batches.append([job.pk for job in sent])
        send(sent, **kwargs)

    monkeypatch.setattr(queue, "send_with_commit", recording)

    assert jobs_maintain(now=NOW)["released"] == 3

    assert batches == [[jobs[1].pk, jobs[2].pk], [jobs[0].pk]]


def test_a_released_retry_whose_message_did_not_go_out_is_sent_by_the_outbox_even_while_workers_are_busy(
        monkeypatch):
    """Redis: the message goes out after the commit. If the process dies in between, the released job
    must read as never sent (not as sent when its first attempt was), so the outbox's quick rule takes
    it after its grace, whatever the clusters hold."""
    job = JobFactory(status=JobStatus.RETRY_WAIT, attempts=1, available_at=NOW,
                     enqueued_at=NOW - dt.timedelta(minutes=2))
    monkeypatch.setattr(queue, "uses_orm_broker", lambda: False)  # and the commit's send never runs

    assert jobs_maintain(now=NOW)["released"] == 1
    assert Job.objects.get(pk=job.pk).enqueued_at is None

    monkeypatch.undo()
    monkeypatch.setattr(queue, "alive_clusters", lambda: [SimpleNamespace(task_q_size=4)])  # a backlog in hand
    assert jobs_maintain(now=NOW + seconds(2))["resent"] == 1
    assert Job.objects.get(pk=job.pk).enqueued_at == NOW + seconds(2)


def test_releasing_a_batch_of_retries_reads_each_once():
    """Their messages need their time limits: read with the batch, not one query per job."""
    def queries_to_release(n: int) -> int:
        JobFactory.create_batch(n, status=JobStatus.RETRY_WAIT, attempts=1, available_at=NOW)
        with CaptureQueriesContext(connection) as captured:
            assert jobs_maintain(now=NOW)["released"] == n
        return len(captured.captured_queries)

    assert queries_to_release(5) == queries_to_release(2)  # 2: one job goes through async_task


def test_it_names_the_jobs_it_sends_again_twenty_at_most(caplog):
    jobs = JobFactory.create_batch(21, status=JobStatus.QUEUED, enqueued_at=None, available_at=NOW - seconds(30))

    with caplog.at_level(logging.WARNING, logger="jobs.maintenance"):
        assert jobs_maintain(now=NOW)["resent"] == 21

    ids = ", ".join(f"#{job.pk}" for job in sorted(jobs, key=lambda job: job.pk)[:20])
    assert f"Sending again 21 queued job(s) no worker picked up: {ids}" in [
        record.getMessage() for record in caplog.records]


def test_the_outbox_reads_the_jobs_it_sends_again_once():
    """Their messages need their time limits and their claims the send time they were read with: both
    come with the outbox's read, not one more query per job."""
    def job_reads_to_resend(n: int) -> int:
        JobFactory.create_batch(n, status=JobStatus.QUEUED, enqueued_at=None, available_at=NOW - seconds(30))
        with CaptureQueriesContext(connection) as captured:
            assert jobs_maintain(now=NOW)["resent"] == n
        return len([query for query in captured.captured_queries
                    if query["sql"].startswith("SELECT") and 'FROM "jobs_job"' in query["sql"]])

    assert job_reads_to_resend(3) == job_reads_to_resend(1)
