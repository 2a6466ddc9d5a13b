"""The chaos run's checks (chaos/db.py `check`) on a ledger and a work log made by hand: each catches
what it is there for, and a run with nothing wrong passes."""

import datetime as dt
import json

import pytest

from chaos import db, feeds
from jobs.models import Job, JobStatus
from scheduling.models import RunOutcome, RunTrigger, ScheduleRun
from tests import broker
from tests.factories import ChannelFactory, JobFactory, ScheduledTaskFactory, VideoFactory

pytestmark = pytest.mark.django_db
UTC = dt.timezone.utc
T0 = dt.datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def work_log(tmp_path, monkeypatch):
    path = tmp_path / "work.log"
    path.touch()
    monkeypatch.setenv("CHAOS_WORK_LOG", str(path))

    def write(*events):
        with path.open("a") as fh:
            for job, attempt, pid, phase in events:
                fh.write(json.dumps({"job": job, "attempt": attempt, "pid": pid, "phase": phase, "at": 0}) + "\n")

    return write


@pytest.fixture
def schedule():
    return ScheduledTaskFactory(task_type="CHAOS_WORK", params={"seconds": 0.1}, schedule_kind="cron",
                                cron_expr=db.EVERY_MINUTE)


def window(schedule, minute: int, *, coalesced: int = 0, outcome=RunOutcome.SUCCEEDED, trigger=RunTrigger.SCHEDULED):
    return ScheduleRun.objects.create(schedule=schedule, schedule_name=schedule.name, trigger=trigger,
                                      due_at=T0 + dt.timedelta(minutes=minute), outcome=outcome,
                                      coalesced_windows=coalesced)


def done_job(work_log, *, attempts=1, pid=100):
    job = JobFactory(job_type="CHAOS_WORK", status=JobStatus.COMPLETED, attempts=attempts)
    work_log((job.pk, attempts, pid, "start"), (job.pk, attempts, pid, "done"))
    return job


def check(accepted_runs=(), killed_pids=()):
    return db.check({"accepted_runs": list(accepted_runs), "killed_pids": list(killed_pids)})


def test_it_passes_a_run_where_nothing_went_wrong(schedule, work_log):
    for minute in range(3):
        window(schedule, minute)
        done_job(work_log)
    manual = window(schedule, 1, trigger=RunTrigger.MANUAL)

    report = check(accepted_runs=[manual.pk])

    assert report["violations"] == {}
    assert (report["windows"], report["duplicates"], report["lost"]) == (3, 0, 0)
    assert report["runs_by_trigger"] == {"scheduled": 3, "manual": 1}


def test_it_finds_a_window_with_no_run(schedule, work_log):
    window(schedule, 0)
    window(schedule, 2)

    report = check()

    assert report["violations"] == {"window without a run (lost)": [[schedule.pk, "1 of 3"]]}
    assert report["lost"] == 1


def test_a_window_coalesced_into_the_next_one_is_not_lost(schedule, work_log):
    window(schedule, 0)
    window(schedule, 2, coalesced=1)

    assert check()["violations"] == {}


def test_it_finds_work_done_twice_unless_the_first_worker_was_killed(schedule, work_log):
    job = JobFactory(job_type="CHAOS_WORK", status=JobStatus.COMPLETED, attempts=2)
    work_log((job.pk, 1, 100, "start"), (job.pk, 1, 100, "done"), (job.pk, 2, 200, "start"), (job.pk, 2, 200, "done"))

    assert check()["violations"] == {"work done twice (duplicate)": [job.pk]}
    assert check(killed_pids=[100])["violations"] == {}


def test_it_finds_one_attempt_started_twice(schedule, work_log):
    job = JobFactory(job_type="CHAOS_WORK", status=JobStatus.COMPLETED, attempts=1)
    work_log((job.pk, 1, 100, "start"), (job.pk, 1, 200, "start"), (job.pk, 1, 200, "done"))

    report = check()

    assert report["violations"] == {"attempt started twice (duplicate)": [[job.pk, 1]]}
    assert report["duplicates"] == 1


def test_it_finds_a_job_completed_without_its_work(schedule, work_log):
    job = JobFactory(job_type="CHAOS_WORK", status=JobStatus.COMPLETED, attempts=1)

    assert check()["violations"] == {"completed without its work": [job.pk]}


def test_it_finds_a_job_left_active_and_a_run_left_dispatched(schedule, work_log):
    job = JobFactory(job_type="CHAOS_WORK", status=JobStatus.RUNNING, attempts=1)
    run = window(schedule, 0, outcome=RunOutcome.DISPATCHED)

    violations = check()["violations"]

    assert violations == {"job not final": [(job.pk, "running")], "run not settled": [run.pk]}


def test_it_finds_a_run_the_api_accepted_and_lost(schedule, work_log):
    report = check(accepted_runs=[424242])

    assert report["violations"] == {"run_now accepted but no run (lost)": [424242]}
    assert report["lost"] == 1


def test_it_finds_a_completed_sync_whose_videos_are_not_stored(work_log):
    whole = ChannelFactory(youtube_id=feeds.channel_youtube_id(1))
    partial = ChannelFactory(youtube_id=feeds.channel_youtube_id(2))
    for channel, number, count in ((whole, 1, 15), (partial, 2, 14)):
        for video_id in feeds.video_ids(number)[:count]:
            VideoFactory(channel=channel, youtube_id=video_id)
        JobFactory(job_type="QUICK_SYNC", status=JobStatus.COMPLETED, params={"channel_id": channel.pk})

    assert check()["violations"] == {"completed sync without its videos": [partial.pk]}


def test_delivering_again_sends_a_second_message_for_jobs_of_any_status():
    jobs = [JobFactory(job_type="CHAOS_WORK", status=status)
            for status in (JobStatus.COMPLETED, JobStatus.RUNNING, JobStatus.QUEUED)]

    assert db.deliver_again(5, seed=1) == {"delivered_again": 3}

    assert broker.job_ids() == sorted(job.pk for job in jobs)
    # The rows are left as they were: the runner's claim decides what a second delivery does.
    assert [Job.objects.get(pk=job.pk).status for job in jobs] == [JobStatus.COMPLETED, JobStatus.RUNNING,
                                                                   JobStatus.QUEUED]
