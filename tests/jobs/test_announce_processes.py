"""A schedule's group run settles within seconds even when its jobs' announcements fail, with real
processes: a `qcluster` whose workers SIGKILL themselves right after the commit that completes each
job (before announcing it), or whose run and group-sync follow-ups raise; and a real
`schedule_tick --loop`, whose step announces the jobs again.

The faults are injected through the cluster's environment (tests/jobs/handlers.py). The feeds come
from a local HTTP server; the test settings announce again 1 s after a job became final.
"""

import datetime as dt

import pytest
from django.utils import timezone

from channels.models import GroupSync
from jobs.models import Job, JobStatus
from scheduling import services
from scheduling.models import RunOutcome, ScheduleRun
from tests.channels.conftest import FEED_PATH, feed_for
from tests.factories import ChannelFactory, ChannelGroupFactory
from tests.servers import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

FAULTS = {
    "worker killed after its commit": {"TEST_KILL_AFTER_FINAL_COMMIT": "QUICK_SYNC"},
    "follow-ups raise": {"TEST_FOLLOWERS_RAISE": "1"},
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_group_run_settles_within_seconds_when_its_announcements_fail(fault, httpserver, start_process,
                                                                       start_cluster, scheduler, make_schedule):
    feed_url = httpserver.url_for(FEED_PATH) + "?channel_id={channel_id}"
    group = ChannelGroupFactory(name="News")
    for n in range(3):
        channel = ChannelFactory(youtube_id=f"UCnews{n:018d}", group=group)
        httpserver.expect_request(FEED_PATH, query_string={"channel_id": channel.youtube_id}).respond_with_data(
            feed_for(channel.youtube_id, prefix=f"News{n:05d}"), content_type="application/atom+xml; charset=UTF-8")
    now = timezone.now()
    far_from_now = (now + dt.timedelta(hours=12)).strftime("%H:%M")  # the loop's pass leaves it alone
    schedule = make_schedule(now=now, name="Sync News", task_type="QUICK_SYNC_GROUP", params={"group_id": group.pk},
                             schedule_time=far_from_now)
    cluster = start_cluster(env={"YOUTUBE_FEED_URL": feed_url, **FAULTS[fault]})

    run = services.schedule_run_now(schedule=schedule, now=timezone.now())

    jobs = Job.objects.filter(schedule_runs=run)
    wait_until(lambda: set(jobs.values_list("status", flat=True)) == {JobStatus.COMPLETED}, timeout=30,
               message=f"the jobs never completed: {list(jobs.values_list('status', flat=True))}",
               details=cluster.log)
    last_finished = max(jobs.values_list("finished_at", flat=True))

    def settled():
        run_now = ScheduleRun.objects.get(pk=run.pk)
        sync = GroupSync.objects.get(schedule_run=run)
        return run_now.outcome != RunOutcome.DISPATCHED and sync.finished_at is not None and (run_now, sync)

    settled_run, group_sync = wait_until(settled, timeout=15, interval=0.1, message="the run never settled",
                                         details=lambda: cluster.log() + scheduler.log())
    seconds = (timezone.now() - last_finished).total_seconds()

    assert settled_run.outcome == RunOutcome.SUCCEEDED
    assert (group_sync.synced, group_sync.failed, group_sync.new_videos) == (3, 0, 45)
    assert seconds < 6, f"settled {seconds:.1f} s after the last job finished"
    assert list(jobs.values_list("attempts", flat=True)) == [1, 1, 1]  # each ran once
    # The step announces every job again (the run may have settled through the first of them, or
    # through the step's sweep of runs, before the last one's mark was due).
    wait_until(lambda: not jobs.filter(announce_due_at__isnull=False).exists(), timeout=5,
               message="a job is still marked to announce", details=scheduler.log)
    # The workers really failed to announce, and the scheduler's step did it.
    if fault == "worker killed after its commit":
        assert cluster.log().count("reincarnated worker") >= 3, cluster.log()
    else:
        assert cluster.log().count("raised on purpose (TEST_FOLLOWERS_RAISE)") >= 3, cluster.log()
        assert "were announced (RuntimeError: runs_follow_jobs raised on purpose" in cluster.log()
    assert "Announcing again" in scheduler.log()
    print(f"{fault}: settled {seconds:.2f} s after the last job finished")
