"""A group run whose jobs' announcements were lost, and jobs announced twice: the scheduler's step
settles the run and the group sync, and hearing of the same jobs again changes nothing.

The jobs run here the way a worker runs them, through a real feed server; "lost" means the
commit's hooks (the announcement) never ran, as when the worker is killed right after its commit.
Time is passed in; the test settings announce again after 1 s.
"""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from channels import services as channel_services
from channels import sync
from channels.models import GroupSync
from jobs import runner, services
from jobs.maintenance import jobs_maintain
from jobs.models import Job, JobStatus
from scheduling import tick
from scheduling.models import RunOutcome, ScheduleRun
from tests import broker
from tests.channels.conftest import feed_for
from tests.factories import ChannelFactory, ChannelGroupFactory

pytestmark = [pytest.mark.django_db, pytest.mark.feed_server]

UTC = dt.timezone.utc
CREATED = dt.datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
DUE = dt.datetime(2026, 5, 2, 5, 30, tzinfo=UTC)
SECOND = dt.timedelta(seconds=1)


@pytest.fixture
def news(feeds):
    group = ChannelGroupFactory(name="News")
    for n in range(3):
        channel = ChannelFactory(youtube_id=f"UCnews{n:018d}", group=group)
        feeds.serve(channel.youtube_id, feed_for(channel.youtube_id, prefix=f"News{n:05d}"))
    return group


@pytest.fixture
def group_run(make_schedule, news) -> ScheduleRun:
    schedule = make_schedule(now=CREATED, name="Sync News", task_type="QUICK_SYNC_GROUP", params={"group_id": news.pk},
                             schedule_time="05:30")
    assert tick.run_pass(now=DUE).outcomes == {"dispatched": 1}
    return schedule.runs.get()


def run_unannounced(jobs, django_capture_on_commit_callbacks, *, keep_marks: bool):
    """Run the jobs to completion as a worker does, but drop every commit's hooks: each worker died
    right after committing. `keep_marks=False`: and the marks are gone too (jobs finished before
    the marks existed, say), so only the followers' own sweep can tell."""
    for job in jobs:
        with django_capture_on_commit_callbacks(execute=False):
            runner.execute(job.pk)
    assert set(Job.objects.filter(pk__in=[job.pk for job in jobs]).values_list("status", flat=True)) == {"completed"}
    if not keep_marks:
        Job.objects.update(announce_due_at=None)


def writes(captured) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if q["sql"].startswith(("INSERT", "UPDATE", "DELETE"))]


@pytest.mark.parametrize("marks", ["kept", "lost"])
def test_the_step_settles_a_group_run_whose_announcements_were_lost(marks, group_run,
                                                                     django_capture_on_commit_callbacks):
    jobs = list(group_run.jobs.order_by("pk"))
    run_unannounced(jobs, django_capture_on_commit_callbacks, keep_marks=marks == "kept")
    group_sync = GroupSync.objects.get(schedule_run=group_run)
    finished_at = max(Job.objects.values_list("finished_at", flat=True))
    assert (ScheduleRun.objects.get(pk=group_run.pk).outcome, group_sync.finished_at) == (RunOutcome.DISPATCHED, None)

    report = jobs_maintain(now=finished_at + SECOND + SECOND / 2)

    if marks == "kept":  # the jobs are announced again, and their followers do the rest
        assert (report["announced again"], report["settled"]) == (3, 0)
    else:  # nothing says what was missed but the followers' own sweep
        assert (report["announced again"], report["settled"]) == (0, 2)
    group_run.refresh_from_db()
    group_sync.refresh_from_db()
    assert group_run.outcome == RunOutcome.SUCCEEDED and group_run.schedule.last_outcome == RunOutcome.SUCCEEDED
    assert (group_sync.synced, group_sync.failed, group_sync.new_videos) == (3, 0, 45)
    assert group_sync.finished_at is not None
    assert not Job.objects.filter(announce_due_at__isnull=False).exists()


def test_announcing_the_jobs_of_a_settled_group_run_again_changes_nothing(group_run, run_jobs):
    run_jobs()
    group_run.refresh_from_db()
    group_sync = GroupSync.objects.get(schedule_run=group_run)
    before = (group_run.outcome, group_run.finished_at, group_run.schedule.updated_at, group_sync.finished_at,
              group_sync.synced, group_sync.group.last_sync)
    assert before[0] == RunOutcome.SUCCEEDED and before[3] is not None
    jobs = list(Job.objects.order_by("pk"))

    with CaptureQueriesContext(connection) as captured:
        assert services.jobs_announce(jobs=jobs) is True

    assert writes(captured) == []  # no mark to clear, and the followers have nothing to change
    group_run.refresh_from_db()
    group_sync.refresh_from_db()
    group_run.schedule.refresh_from_db()
    assert (group_run.outcome, group_run.finished_at, group_run.schedule.updated_at, group_sync.finished_at,
            group_sync.synced, group_sync.group.last_sync) == before


def test_the_sweep_finishes_a_sync_now_left_running(news, django_capture_on_commit_callbacks):
    group_sync = channel_services.group_sync_now(group=news, now=DUE)
    jobs = list(Job.objects.order_by("pk"))
    run_unannounced(jobs, django_capture_on_commit_callbacks, keep_marks=False)

    # Not while the sync is younger than the announcements are given.
    assert jobs_maintain(now=DUE + SECOND / 2)["settled"] == 0
    assert GroupSync.objects.get(pk=group_sync.pk).finished_at is None

    assert jobs_maintain(now=DUE + SECOND * 2)["settled"] == 1
    group_sync.refresh_from_db()
    assert (group_sync.finished_at, group_sync.synced) == (DUE + SECOND * 2, 3)
    assert jobs_maintain(now=DUE + SECOND * 3)["settled"] == 0


def test_the_sweep_leaves_a_sync_whose_job_is_still_to_be_announced_to_the_announcement(
        news, django_capture_on_commit_callbacks):
    group_sync = channel_services.group_sync_now(group=news, now=DUE)
    run_unannounced(list(Job.objects.all()), django_capture_on_commit_callbacks, keep_marks=True)

    assert sync.group_syncs_settle_stale(now=DUE + dt.timedelta(hours=1)) == 0
    assert GroupSync.objects.get(pk=group_sync.pk).finished_at is None


def test_the_sweep_leaves_syncs_and_runs_with_active_jobs_alone(group_run, news, django_capture_on_commit_callbacks):
    sync_now = channel_services.group_sync_now(group=news, now=DUE)
    broker.settle()  # its messages are out (on Redis, with the commit): the queued jobs are not lost ones
    # All but one job of each finish: each still has one queued.
    by_origin: dict[str, list[Job]] = {}
    for job in Job.objects.order_by("pk"):
        by_origin.setdefault(job.params["group_sync_id"], []).append(job)
    run_unannounced([job for jobs in by_origin.values() for job in jobs[:-1]], django_capture_on_commit_callbacks,
                    keep_marks=False)

    with CaptureQueriesContext(connection) as captured:
        assert jobs_maintain(now=DUE + dt.timedelta(hours=1))["settled"] == 0

    assert writes(captured) == []
    assert ScheduleRun.objects.get(pk=group_run.pk).outcome == RunOutcome.DISPATCHED
    assert not GroupSync.objects.filter(finished_at__isnull=False).exists()
    assert sync_now.pk in by_origin and Job.objects.filter(status=JobStatus.QUEUED).count() == 2


def test_every_job_a_run_or_a_sync_waits_for_is_followed_and_no_other(group_run, news):
    from jobs.services import job_enqueue

    channel_services.group_sync_now(group=news, now=DUE)
    channel_services.channel_sync_now(channel=news.channels.first(), now=DUE)
    alone = job_enqueue(job_type="TEST_OK", now=DUE)

    followed = dict(Job.objects.values_list("pk", "followed"))
    assert followed.pop(alone.pk) is False
    assert len(followed) == 3 + 3 + 1 and all(followed.values())


def test_the_sweep_finishes_the_oldest_running_syncs_first_and_finished_ones_take_no_place(
        news, django_capture_on_commit_callbacks, caplog):
    GroupSync.objects.create(group=news, group_name=news.name, created_at=DUE - SECOND, finished_at=DUE)
    group_sync = channel_services.group_sync_now(group=news, now=DUE)
    run_unannounced(list(Job.objects.all()), django_capture_on_commit_callbacks, keep_marks=False)

    assert sync.group_syncs_settle_stale(now=DUE + dt.timedelta(hours=1), limit=1) == 1

    assert GroupSync.objects.get(pk=group_sync.pk).finished_at == DUE + dt.timedelta(hours=1)
    assert "Finished 1 group sync(s) left running after their last job finished." in caplog.messages


def test_only_the_jobs_of_a_sync_make_it_finish_once_none_is_left_to_do(news, run_jobs):
    """A quick sync made by hand (no sync of its own), another job type, params of another shape, a sync
    deleted since, or one with a job still queued: nothing to finish, and the answer says so."""
    from jobs.services import job_enqueue

    running = GroupSync.objects.create(group=news, group_name=news.name, created_at=DUE)
    by_hand = job_enqueue(job_type="QUICK_SYNC", params={"channel_id": news.channels.first().pk}, now=DUE)
    other = job_enqueue(job_type="TEST_OK", params={"group_sync_id": running.pk}, now=DUE)
    listed = job_enqueue(job_type="QUICK_SYNC", params=[running.pk], now=DUE)
    deleted = GroupSync.objects.create(group=news, group_name=news.name, created_at=DUE)
    gone = job_enqueue(job_type="QUICK_SYNC", params={"channel_id": news.channels.first().pk,
                                                      "group_sync_id": deleted.pk}, now=DUE)
    deleted.delete()
    jobs = run_jobs([by_hand, other, gone])
    assert sync.group_syncs_follow_jobs(jobs=[*jobs, listed], now=DUE) == 0
    assert GroupSync.objects.get(pk=running.pk).finished_at is None

    busy = channel_services.group_sync_now(group=news, now=DUE)
    first, *_ = run_jobs(Job.objects.filter(params__group_sync_id=busy.pk).order_by("pk")[:1])
    assert sync.group_syncs_follow_jobs(jobs=[first], now=DUE) == 0
    assert GroupSync.objects.get(pk=busy.pk).finished_at is None


def test_a_sync_finishes_while_another_syncs_jobs_are_still_queued(news, run_jobs):
    busy = channel_services.group_sync_now(group=news, now=DUE)
    alone = channel_services.channel_sync_now(channel=news.channels.last(), now=DUE)

    run_jobs(Job.objects.filter(params__group_sync_id=alone.pk))

    assert GroupSync.objects.get(pk=alone.pk).finished_at is not None
    assert GroupSync.objects.get(pk=busy.pk).finished_at is None
