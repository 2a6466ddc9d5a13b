"""QUICK_SYNC_GROUP through the real scheduler pass: jobs per enabled channel, skips, channels in two groups."""

import datetime as dt

import pytest
from django.utils import timezone

from channels.models import GroupSync, Video
from jobs.models import Job
from scheduling import tick
from scheduling.models import RunOutcome
from tests.channels.conftest import feed_for
from tests.factories import ChannelFactory, ChannelGroupFactory

pytestmark = pytest.mark.django_db

UTC = dt.timezone.utc
CREATED = dt.datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
DUE = dt.datetime(2026, 5, 2, 5, 30, tzinfo=UTC)


def quick_sync(make_schedule, group, **fields):
    return make_schedule(now=CREATED, name=f"Sync {group.name}", task_type="QUICK_SYNC_GROUP",
                         params={"group_id": group.pk}, schedule_time="05:30", **fields)


@pytest.mark.feed_server
def test_a_channel_in_two_groups_is_synced_by_both_groups_schedules(make_schedule, feeds, run_jobs):
    news, lawyers = ChannelGroupFactory(name="News"), ChannelGroupFactory(name="Lawyers")
    both = ChannelFactory(youtube_id="UCboth0000000000000000aa", groups=[news, lawyers])
    only_news = ChannelFactory(youtube_id="UCnews0000000000000000aa", group=news)
    for channel, prefix in ((both, "Both00000"), (only_news, "News00000")):
        feeds.serve(channel.youtube_id, feed_for(channel.youtube_id, prefix=prefix))
    news_schedule, lawyers_schedule = quick_sync(make_schedule, news), quick_sync(make_schedule, lawyers)

    report = tick.run_pass(now=DUE)

    assert report.outcomes == {"dispatched": 2}
    news_run, lawyers_run = news_schedule.runs.get(), lawyers_schedule.runs.get()
    assert sorted(job.params["channel_id"] for job in news_run.jobs.all()) == sorted([both.pk, only_news.pk])
    assert [job.params["channel_id"] for job in lawyers_run.jobs.all()] == [both.pk]
    run_jobs()
    assert len(feeds.requests_for(both.youtube_id)) == 2
    assert Video.objects.filter(channel=both).count() == 15  # synced twice, stored once
    news_sync, lawyers_sync = GroupSync.objects.get(group=news), GroupSync.objects.get(group=lawyers)
    assert (news_sync.schedule_run, news_sync.synced, news_sync.new_videos) == (news_run, 2, 30)
    # The second sync of the shared channel found its body unchanged: nothing new for Lawyers.
    assert (lawyers_sync.schedule_run, lawyers_sync.synced, lawyers_sync.new_videos) == (lawyers_run, 1, 0)


def test_it_leaves_out_disabled_channels_and_channels_in_backoff(make_schedule):
    group = ChannelGroupFactory(name="News")
    ready = ChannelFactory(group=group)
    ChannelFactory(group=group, enabled=False)
    waiting = ChannelFactory(group=group, consecutive_failures=3,
                             next_attempt_at=timezone.now() + dt.timedelta(hours=2))
    schedule = quick_sync(make_schedule, group)

    tick.run_pass(now=DUE)

    run = schedule.runs.get()
    assert [job.params for job in run.jobs.all()] == [
        {"channel_id": ready.pk, "group_id": group.pk, "group_sync_id": GroupSync.objects.get().pk}]
    group_sync = GroupSync.objects.get()
    assert (group_sync.channels_total, group_sync.jobs_created, group_sync.skipped_backoff) == (2, 1, 1)
    assert group_sync.results.get().channel == waiting


def test_a_run_of_a_group_in_cooldown_says_why_it_syncs_nothing(make_schedule):
    group = ChannelGroupFactory(name="News", cooldown_until=timezone.now() + dt.timedelta(minutes=20),
                                cooldown_reason="YouTube answered HTTP 429 for UC… at 05:10 UTC.")
    ChannelFactory.create_batch(2, group=group)
    schedule = quick_sync(make_schedule, group)

    tick.run_pass(now=DUE)

    run = schedule.runs.get()
    assert run.outcome == RunOutcome.DISPATCH_FAILED
    assert "All 2 channels of “News” are skipped: the group cools down until" in run.message
    assert not Job.objects.exists()
    group_sync = GroupSync.objects.get()
    assert (group_sync.skipped_cooldown, group_sync.finished_at is not None) == (2, True)
    assert group_sync.schedule_run == run  # linked when recorded, though the run has no job to find it by


def test_a_run_of_a_deleted_group_fails_to_dispatch(make_schedule):
    group = ChannelGroupFactory(name="News")
    schedule = quick_sync(make_schedule, group)
    group_id = group.pk
    group.delete()

    tick.run_pass(now=DUE)

    run = schedule.runs.get()
    assert run.outcome == RunOutcome.DISPATCH_FAILED
    assert f"The channel group (id {group_id}) no longer exists." in run.message
