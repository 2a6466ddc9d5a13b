"""services.runs_settle_stale: the step's net under the jobs' announcements, for runs left dispatched."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from jobs import runner
from jobs import services as job_services
from jobs.models import Job
from scheduling import services
from scheduling.models import RunOutcome
from tests.scheduling.conftest import at, refreshed

pytestmark = pytest.mark.django_db

RUN_AT = at("2026-05-01 12:30")
SECOND = dt.timedelta(seconds=1)


@pytest.fixture
def run(make_schedule):
    schedule = make_schedule(now=at("2026-05-01 12:00"), name="Daily backup")
    return services.schedule_run_now(schedule=schedule, now=RUN_AT)


def fail_unannounced(job, django_capture_on_commit_callbacks):
    """The job fails for good, and its worker dies right after the commit: no announcement, no mark."""
    with django_capture_on_commit_callbacks(execute=False):
        job = runner.claim(job.pk, worker="test:1", now=RUN_AT)
        job_services.job_attempt_failed(job=job, error="boom", now=RUN_AT + SECOND, permanent=True)
    Job.objects.update(announce_due_at=None)


def test_it_settles_a_run_whose_jobs_are_all_final(run, django_capture_on_commit_callbacks, caplog):
    fail_unannounced(run.jobs.get(), django_capture_on_commit_callbacks)

    assert services.runs_settle_stale(now=RUN_AT + SECOND * 2) == 1

    assert [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "scheduling.services"] == [
        ("WARNING", "Settled 1 run(s) left dispatched after their last job finished.")]

    run = refreshed(run)
    assert (run.outcome, run.finished_at) == (RunOutcome.FAILED, RUN_AT + SECOND * 2)
    assert refreshed(run.schedule).last_outcome == RunOutcome.FAILED
    assert services.runs_settle_stale(now=RUN_AT + SECOND * 3) == 0  # once


def test_it_leaves_a_run_whose_job_is_still_to_be_announced_to_the_announcement(
        run, django_capture_on_commit_callbacks):
    """In normal operation the worker is announcing it right now (and settles the run in the same
    transaction as it clears the mark): the sweep does not race it."""
    fail_unannounced(run.jobs.get(), django_capture_on_commit_callbacks)
    Job.objects.update(announce_due_at=RUN_AT + SECOND * 2)

    assert services.runs_settle_stale(now=RUN_AT + SECOND * 10) == 0
    assert refreshed(run).outcome == RunOutcome.DISPATCHED


def test_it_leaves_a_run_dispatched_less_than_the_announcements_are_given(run, django_capture_on_commit_callbacks):
    fail_unannounced(run.jobs.get(), django_capture_on_commit_callbacks)

    assert services.runs_settle_stale(now=RUN_AT + SECOND) == 0
    assert refreshed(run).outcome == RunOutcome.DISPATCHED


def test_it_reads_only_and_leaves_a_run_with_an_active_job_alone(run):
    with CaptureQueriesContext(connection) as captured:
        assert services.runs_settle_stale(now=RUN_AT + dt.timedelta(hours=1)) == 0

    assert [q["sql"].split()[0] for q in captured.captured_queries] == ["SELECT"]
    assert refreshed(run).outcome == RunOutcome.DISPATCHED


def test_another_runs_active_job_does_not_hold_it_back(run, make_schedule, django_capture_on_commit_callbacks):
    fail_unannounced(run.jobs.get(), django_capture_on_commit_callbacks)
    other = make_schedule(now=at("2026-05-01 12:00"), name="Other")
    services.schedule_run_now(schedule=other, now=RUN_AT)  # its job is queued

    assert services.runs_settle_stale(now=RUN_AT + SECOND * 2) == 1
    assert refreshed(run).outcome == RunOutcome.FAILED


def test_it_settles_in_bounded_batches(make_schedule, django_capture_on_commit_callbacks):
    schedule = make_schedule(now=at("2026-05-01 12:00"), name="Daily backup")
    runs = [services.schedule_run_now(schedule=schedule, now=RUN_AT, force=True) for _ in range(3)]
    for job in Job.objects.all():
        fail_unannounced(job, django_capture_on_commit_callbacks)

    assert services.runs_settle_stale(now=RUN_AT + SECOND * 2, limit=2) == 2
    assert services.runs_settle_stale(now=RUN_AT + SECOND * 2, limit=2) == 1
    assert {refreshed(r).outcome for r in runs} == {RunOutcome.FAILED}


def test_announcing_a_settled_runs_jobs_again_writes_nothing(run, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        job = runner.claim(run.jobs.get().pk, worker="test:1", now=RUN_AT)
        job_services.job_attempt_succeeded(job=job, result={}, now=RUN_AT + SECOND)
    run = refreshed(run)
    assert run.outcome == RunOutcome.SUCCEEDED

    with CaptureQueriesContext(connection) as captured:
        assert services.runs_follow_jobs(job_ids=[job.pk], now=RUN_AT + SECOND * 10) == 0

    assert not [q for q in captured.captured_queries if q["sql"].startswith(("INSERT", "UPDATE", "DELETE"))]
    assert refreshed(run).finished_at == run.finished_at
