"""Stopping the worker while it runs a job: the job finishes, or goes back to the queue uncounted.

Real processes on the test database: honcho running the Procfile's worker line (what `make run`
does), and deploy/run_worker.py stopped as systemd stops it (deploy/channel-archive-worker.service).
The job is a TEST_SLEEP of 2.5 s, under its 3 s time limit.
"""

import contextlib
import os
import re
import signal
import sys
import time

import pytest
from django.utils import timezone

from jobs import registry, runner, services
from jobs.models import Job, JobStatus
from jobs.services import job_enqueue
from tests import broker, servers
from tests.jobs.conftest import attempts_in, wait_for_job
from tests.servers import ROOT, wait_until

SLEEP_SECONDS = 2.5


@pytest.fixture
def sleeping_job(marker):
    return job_enqueue(job_type="TEST_SLEEP", params={"marker": str(marker), "seconds": SLEEP_SECONDS},
                       now=timezone.now())


def wait_until_running(job):
    return wait_for_job(job, lambda j: j.status == JobStatus.RUNNING, timeout=20, message="the job never started")


def wait_until_gone(process, timeout: float = 15) -> None:
    wait_until(lambda: not process.group_alive(), timeout=timeout,
               message=f"{process.name} or one of its processes is still running", details=process.log)


@pytest.fixture
def kill_leftovers():
    """Register a worker started through deploy/run_worker.py: whatever is left of its cluster is
    killed at the end, so that a failing test leaves no cluster taking the next tests' jobs."""
    watched = []
    yield watched.append
    for process in watched:
        for pgid in cluster_groups(process.log()):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)


def cluster_groups(log: str) -> list[int]:
    return [int(pgid) for pgid in re.findall(r"qcluster started, process group (\d+)", log)]


def cluster_processes_left(log: str) -> list[int]:
    return [pid for pgid in cluster_groups(log) for pid in servers.group_members(pgid)]


def assert_runs_again_and_counts_one_attempt(job, start_cluster, marker, start_process):
    # The stopped cluster's status entry outlives it for a few seconds; the next must not count it.
    wait_until(lambda: servers.working_clusters() == 0, timeout=10, message="the stopped cluster still reports")
    start_cluster()
    # With Redis, the stopping cluster may have taken the handed-back message off the list before it died
    # (seen once in ten runs): then the scheduler's outbox sends it again, once it has been lost for
    # JOBS_RESEND_LOST_AFTER_SECONDS (30 s), as in production.
    start_process("scheduler", "schedule_tick", "--loop")
    job = wait_for_job(job, lambda j: j.status == JobStatus.COMPLETED, timeout=60,
                       message="the handed-back job never ran again")
    assert job.attempts == 1
    assert [entry["outcome"] for entry in job.attempt_log] == ["handed back", "completed"]
    assert len(attempts_in(marker)) == 2  # started twice, counted once


@pytest.fixture
def handler(monkeypatch):
    def register(run) -> str:
        monkeypatch.setitem(registry._handlers, "TEST_STOPPED",
                            registry.JobHandler("TEST_STOPPED", "Stopped", run, time_limit_seconds=30, max_retries=0))
        return "TEST_STOPPED"

    return register


@pytest.mark.django_db
def test_it_hands_the_job_back_uncounted_when_sigterm_comes_mid_attempt(handler):
    def run(job):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the signal interrupts this
        raise AssertionError("not interrupted")

    job = job_enqueue(job_type=handler(run), now=timezone.now())
    broker.take()  # as if a worker had taken the message
    previous = signal.getsignal(signal.SIGTERM)

    with pytest.raises(runner.WorkerStopping):
        runner.execute(job.pk)

    broker.settle()
    job.refresh_from_db()
    # No retries left (max_retries=0), yet not failed: the attempt did not count.
    assert (job.status, job.attempts, job.worker, job.started_at) == (JobStatus.QUEUED, 0, "", None)
    assert job.attempt_log[-1]["outcome"] == "handed back"
    assert broker.count() == 1 and job.enqueued_at is not None  # sent again
    assert signal.getsignal(signal.SIGTERM) is previous


@pytest.mark.django_db
def test_it_records_the_result_before_stopping_when_sigterm_comes_after_the_handler(handler, monkeypatch):
    record = services.job_attempt_succeeded

    def record_after_sigterm(**kwargs):
        os.kill(os.getpid(), signal.SIGTERM)
        return record(**kwargs)

    monkeypatch.setattr(services, "job_attempt_succeeded", record_after_sigterm)
    job = job_enqueue(job_type=handler(lambda job: "done"), now=timezone.now())

    with pytest.raises(runner.WorkerStopping):
        runner.execute(job.pk)

    job.refresh_from_db()
    assert (job.status, job.attempts, job.result) == (JobStatus.COMPLETED, 1, "done")


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_it_finishes_or_hands_back_the_job_on_ctrl_c_in_make_run(sleeping_job, start_process, start_cluster,
                                                                   marker, tmp_path, kill_leftovers):
    # The Procfile's own worker line, with this interpreter for the project's .venv/bin/python.
    lines = dict(line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if ":" in line)
    procfile = tmp_path / "Procfile"
    procfile.write_text(f"worker: {lines['worker'].strip().replace('.venv/bin/python', sys.executable)}\n")
    (tmp_path / "empty.env").write_text("")
    honcho = start_process("honcho", "start", "-f", str(procfile), "-d", str(ROOT), "-e", str(tmp_path / "empty.env"),
                           "worker", program=(sys.executable, "-m", "honcho"))
    kill_leftovers(honcho)
    wait_until_running(sleeping_job)

    # Ctrl-C: the terminal sends SIGINT to its foreground group (make, honcho); honcho then sends
    # SIGTERM to each process's group and SIGKILL 5 s later.
    os.killpg(honcho.pid, signal.SIGINT)
    wait_until_gone(honcho)

    sleeping_job.refresh_from_db()
    # Whether the job finishes within the worker's 2 s of grace depends on how far it had got.
    assert sleeping_job.status in (JobStatus.COMPLETED, JobStatus.QUEUED), (sleeping_job.status, sleeping_job.error)
    assert "SIGKILL" not in honcho.log()
    assert cluster_groups(honcho.log()) and not cluster_processes_left(honcho.log())
    if sleeping_job.status == JobStatus.QUEUED:
        assert sleeping_job.attempts == 0
        assert_runs_again_and_counts_one_attempt(sleeping_job, start_cluster, marker, start_process)
    else:
        assert sleeping_job.attempts == 1


@pytest.mark.parametrize("grace, outcome", [(30, JobStatus.COMPLETED), (0, JobStatus.QUEUED)])
@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_it_lets_the_job_finish_within_the_grace_then_hands_it_back(grace, outcome, sleeping_job, start_process,
                                                                    start_cluster, marker, kill_leftovers):
    """SIGTERM to the worker's main process only, as systemd sends it (KillMode=mixed)."""
    worker = start_process("worker", "deploy/run_worker.py", "--grace", str(grace), program=(sys.executable,))
    kill_leftovers(worker)
    wait_until_running(sleeping_job)
    # Its handler has begun (the row says running a moment before): the attempt is in the marker file.
    wait_until(lambda: attempts_in(marker), timeout=10, message="the handler never started")

    worker.popen.send_signal(signal.SIGTERM)
    assert worker.popen.wait(timeout=40) == 0
    wait_until_gone(worker)

    sleeping_job.refresh_from_db()
    assert sleeping_job.status == outcome, (sleeping_job.status, sleeping_job.error, worker.log()[-3000:])
    assert cluster_groups(worker.log()) and not cluster_processes_left(worker.log())
    if outcome == JobStatus.QUEUED:
        assert sleeping_job.attempts == 0
        assert sleeping_job.enqueued_at is not None  # sent again, for the next worker
        assert_runs_again_and_counts_one_attempt(sleeping_job, start_cluster, marker, start_process)
    else:
        assert sleeping_job.attempts == 1


def test_a_worker_stopped_by_sigterm_exits_with_the_status_of_a_sigterm():
    """128 + 15, as a process ended by SIGTERM reports itself: supervisors count it as a stop asked
    for, not as a crash."""
    with pytest.raises(SystemExit) as stopped:
        raise runner.WorkerStopping
    assert stopped.value.code == 143


@pytest.mark.django_db
def test_a_sigterm_while_the_job_is_claimed_hands_it_back_before_its_handler_runs(handler, monkeypatch, caplog):
    """The claim is never cut in half: the stop is noted, and honoured once the claim is written."""
    ran = []
    claim = runner.claim

    def claim_then_sigterm(*args, **kwargs):
        job = claim(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGTERM)
        return job

    monkeypatch.setattr(runner, "claim", claim_then_sigterm)
    job = job_enqueue(job_type=handler(ran.append), now=timezone.now())

    with caplog.at_level("INFO", logger="jobs.runner"), pytest.raises(runner.WorkerStopping):
        runner.execute(job.pk)

    job.refresh_from_db()
    assert not ran
    assert (job.status, job.attempts) == (JobStatus.QUEUED, 0)
    assert job.attempt_log[-1]["outcome"] == "handed back"
    assert (f"Worker {runner.process_name()} stopping (SIGTERM) after job {job.pk}: handed back to the queue."
            in caplog.messages)


@pytest.mark.django_db
def test_a_sigterm_after_the_attempt_was_taken_over_leaves_the_job_as_the_reaper_left_it(handler, caplog):
    def reaped_then_sigterm(job):
        # The reaper gave up on this attempt while the handler still ran; then the worker is stopped.
        Job.objects.filter(pk=job.pk).update(status=JobStatus.RETRY_WAIT, error="reaped")
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the signal interrupts this

    job = job_enqueue(job_type=handler(reaped_then_sigterm), now=timezone.now())

    with caplog.at_level("INFO", logger="jobs.runner"), pytest.raises(runner.WorkerStopping):
        runner.execute(job.pk)

    job.refresh_from_db()
    assert (job.status, job.error) == (JobStatus.RETRY_WAIT, "reaped")
    assert f"Job {job.pk} attempt 1 was stopped after it was taken over (reaped)." in caplog.messages
    assert (f"Worker {runner.process_name()} stopping (SIGTERM) after job {job.pk}: stopped after it was taken over."
            in caplog.messages)
