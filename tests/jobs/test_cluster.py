"""Jobs on a real django-q2 cluster (`manage.py qcluster`) and, where retries and reaping need it,
the real scheduler loop (`manage.py schedule_tick --loop`), all on the test database.

The test settings shorten the retry backoff to 1 s (doubling) and the reaping margin to 1 s; the
test handlers (tests/jobs/handlers.py) have time limits of 3 s (TEST_SLEEP) and 30 s.
"""

import os
import signal

import pytest
from django.utils import timezone

from jobs import queue
from jobs.models import Job, JobStatus
from jobs.services import job_enqueue
from scheduling.models import SchedulerHeartbeat
from tests import broker
from tests.factories import JobFactory
from tests.jobs.conftest import attempts_in, wait_for_job
from tests.servers import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def finished(job) -> bool:
    return job.status in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)


def test_it_completes_a_job_and_records_who_ran_it(cluster):
    job = job_enqueue(job_type="TEST_OK", params={"echo": "from the test"}, now=timezone.now())

    job = wait_for_job(job, finished, message="the job never finished")

    assert job.status == JobStatus.COMPLETED, job.error
    assert job.result == {"echo": "from the test", "attempt": 1}
    host, pid = job.worker.rsplit(":", 1)
    assert int(pid) != cluster.pid  # a worker process of the cluster, not its parent
    assert job.created_at <= job.started_at <= job.finished_at
    assert job.attempt_log[0]["outcome"] == "completed"
    wait_until(lambda: broker.count() == 0, timeout=10, message="the message was never acknowledged")


def test_it_runs_every_job_of_a_batch_written_in_one_insert(cluster):
    from jobs.services import JobRequest, job_create_many

    jobs = job_create_many(requests=[JobRequest("TEST_OK", {"echo": n}) for n in range(6)], now=timezone.now())

    for job in jobs:
        job = wait_for_job(job, finished, message="a job of the batch never finished")
        assert job.status == JobStatus.COMPLETED, job.error
    assert sorted(Job.objects.values_list("result__echo", flat=True)) == list(range(6))


def test_it_retries_a_failing_job_with_backoff_then_fails_with_the_error_shown(cluster, scheduler, marker,
                                                                               user_client):
    job = job_enqueue(job_type="TEST_FAIL", params={"marker": str(marker), "message": "feed unreachable"},
                      now=timezone.now())

    job = wait_for_job(job, finished, timeout=25, message="the job never failed for good")

    assert job.status == JobStatus.FAILED
    assert (job.attempts, job.retries, job.max_retries) == (3, 2, 2)
    assert [a["outcome"] for a in job.attempt_log] == ["failed", "failed", "failed"]
    starts = [a["at"] for a in attempts_in(marker)]
    assert len(starts) == 3
    # Backoff 1 s, then 2 s (test settings), each released by the scheduler process.
    assert starts[1] - starts[0] >= 1.0
    assert starts[2] - starts[1] >= 2.0
    html = user_client.get(f"/jobs/{job.pk}").content.decode()
    assert "Failed</span>" in html
    assert "<dd>3 of at most 3</dd>" in html
    assert '<p class="error-cause">feed unreachable <span class="muted">(RuntimeError)</span></p>' in html
    assert "RuntimeError: feed unreachable" in html  # the traceback, behind its disclosure
    assert "Traceback (most recent call last)" in html


def test_it_reaps_a_job_whose_worker_was_killed_and_retries_it(cluster, scheduler, marker):
    job = job_enqueue(job_type="TEST_SLEEP", params={"marker": str(marker), "seconds": 60, "sleep_on_attempts": [1]},
                      now=timezone.now())
    job = wait_for_job(job, lambda j: j.status == JobStatus.RUNNING and j.worker, message="the job never started")
    killed_pid = int(job.worker.rsplit(":", 1)[1])

    os.kill(killed_pid, signal.SIGKILL)

    job = wait_for_job(job, finished, timeout=20, message="the job was never reaped and retried")
    assert job.status == JobStatus.COMPLETED
    assert job.attempts == 2
    assert job.result == {"slept_on": 2}
    lost, completed = job.attempt_log
    assert lost["outcome"] == "lost"
    assert lost["worker"].endswith(f":{killed_pid}")
    assert "its worker was killed or lost" in lost["error"]
    assert completed["outcome"] == "completed"
    assert not completed["worker"].endswith(f":{killed_pid}")
    assert "reincarnated worker" in cluster.log()  # django-q2 replaced the dead worker


def test_it_stops_a_job_at_its_time_limit_and_retries_it(cluster, scheduler, marker):
    job = job_enqueue(job_type="TEST_SLEEP", params={"marker": str(marker), "seconds": 60, "sleep_on_attempts": [1]},
                      now=timezone.now())

    job = wait_for_job(job, finished, timeout=20, message="the job was never stopped and retried")

    assert job.status == JobStatus.COMPLETED
    timed_out, completed = job.attempt_log
    assert timed_out["outcome"] == "timed out"
    assert timed_out["error"] == "django_q.exceptions.TimeoutException: Task exceeded maximum timeout value (3 seconds)"
    assert completed["outcome"] == "completed"


def test_it_runs_a_job_delivered_twice_only_once(start_cluster, marker):
    job = JobFactory(job_type="TEST_OK", params={"marker": str(marker)}, enqueued_at=timezone.now())
    queue.resend([job], now=timezone.now())  # two messages for one job, before any worker runs
    job.refresh_from_db()
    queue.resend([job], now=timezone.now())  # claimed again from what the row now says
    assert broker.count() == 2

    cluster = start_cluster()

    job = wait_for_job(job, finished, message="the job never ran")
    wait_until(lambda: "not claimed: it is no longer queued" in cluster.log(), timeout=15,
               message="the second message was never consumed", details=cluster.log)
    assert job.status == JobStatus.COMPLETED
    assert job.attempts == 1
    assert len(attempts_in(marker)) == 1
    assert "not claimed: it is no longer queued" in cluster.log()


def test_it_cancels_and_retries_from_the_page(start_cluster, marker, operator_client):
    cancelled = job_enqueue(job_type="TEST_OK", params={"marker": str(marker), "echo": "cancelled"},
                            now=timezone.now())
    failing = job_enqueue(job_type="TEST_FAIL", params={"marker": str(marker), "succeed_on_attempt": 2},
                          now=timezone.now())
    Job.objects.filter(pk=failing.pk).update(max_retries=0)  # fail for good on the first attempt
    response = operator_client.post(f"/jobs/{cancelled.pk}/cancel", follow=True)
    assert f"Job #{cancelled.pk} cancelled." in response.content.decode()

    start_cluster()

    failing = wait_for_job(failing, finished, message="the failing job never failed")
    assert failing.status == JobStatus.FAILED
    # The cancelled job's message was delivered too, and did nothing.
    wait_until(lambda: broker.count() == 0, timeout=10, message="the messages were never consumed")
    cancelled.refresh_from_db()
    assert (cancelled.status, cancelled.attempts, cancelled.started_at) == (JobStatus.CANCELLED, 0, None)

    response = operator_client.post(f"/jobs/{failing.pk}/retry", follow=True)
    assert f"Job #{failing.pk} queued again." in response.content.decode()
    failing = wait_for_job(failing, finished, message="the retried job never finished")
    assert failing.status == JobStatus.COMPLETED
    assert (failing.attempts, failing.max_retries) == (2, 1)
    assert "<dd>2 of at most 2</dd>" in operator_client.get(f"/jobs/{failing.pk}").content.decode()

    response = operator_client.post(f"/jobs/{cancelled.pk}/retry", follow=True)
    assert response.status_code == 200
    cancelled = wait_for_job(cancelled, lambda j: j.status == JobStatus.COMPLETED,
                             message="the cancelled job never ran after its retry")
    assert sorted(a["job"] for a in attempts_in(marker)) == sorted([failing.pk, failing.pk, cancelled.pk])


def test_it_turns_healthz_503_when_the_cluster_stops(cluster, client):
    SchedulerHeartbeat.objects.create(name="test", last_pass_at=timezone.now())

    response = client.get("/healthz")
    assert response.status_code == 200, response.json()
    assert response.json()["workers"]["ok"] is True
    assert response.json()["workers"]["workers"] == 2

    cluster.stop()

    wait_until(lambda: client.get("/healthz").status_code == 503, timeout=10,
               message="/healthz still says the workers are up")
    body = client.get("/healthz").json()
    assert body["status"] == "down"
    assert body["workers"]["ok"] is False
