"""What the /channels page reads: groups with counts and last sync, channels with their state in words."""

import datetime as dt

import pytest

from channels import selectors
from channels.models import GroupSync
from tests.factories import ChannelFactory, ChannelGroupFactory, VideoFactory

pytestmark = pytest.mark.django_db

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 5, 2, 12, 0, tzinfo=UTC)


def test_groups_overview_counts_channels_and_new_videos_once_per_group():
    news, lawyers = ChannelGroupFactory(name="News"), ChannelGroupFactory(name="Lawyers")
    shared = ChannelFactory(groups=[news, lawyers])
    ChannelFactory(group=news, enabled=False)
    VideoFactory.create_batch(2, channel=shared, published_at=NOW - dt.timedelta(hours=1))
    VideoFactory(channel=shared, published_at=NOW - dt.timedelta(days=3), first_seen_at=NOW)  # old, seen just now
    sync = GroupSync.objects.create(group=news, group_name="News", finished_at=NOW, channels_total=2, synced=1,
                                    failed=1, new_videos=2)
    news.last_sync = sync
    news.save()

    rows = {g.name: g for g in selectors.groups_overview(since=NOW - dt.timedelta(days=1))}

    assert (rows["News"].channel_count, rows["News"].enabled_count, rows["News"].new_videos_since) == (2, 1, 2)
    assert (rows["Lawyers"].channel_count, rows["Lawyers"].new_videos_since) == (1, 2)
    assert rows["News"].last_sync.summary == "1 synced, 1 failed, 2 new videos."
    assert rows["Lawyers"].last_sync is None


def test_channel_rows_have_video_counts_newest_video_and_status_in_words():
    group = ChannelGroupFactory()
    channel = ChannelFactory(group=group, title="A", last_checked_at=NOW, last_outcome="not_found",
                             consecutive_failures=2, next_attempt_at=NOW + dt.timedelta(minutes=40),
                             last_error="The feed answered 404")
    VideoFactory(channel=channel, published_at=NOW - dt.timedelta(days=2))
    VideoFactory(channel=channel, published_at=NOW - dt.timedelta(days=1), title="The newest")
    ChannelFactory(group=group, title="B")
    ChannelFactory(title="In another group", group=ChannelGroupFactory())

    a, b = selectors.channel_rows().filter(groups=group)

    assert (a.video_count, a.newest_video_at, a.newest_video_title) == (2, NOW - dt.timedelta(days=1), "The newest")
    assert selectors.channel_status(a, now=NOW) == ("Feed not found (HTTP 404); 2 failures in a row; next try after "
                                                    "Sat 2 May 2026, 12:40 UTC")
    assert (b.video_count, selectors.channel_status(b, now=NOW)) == (0, "Not synced yet")
    assert [v.published_at for v in selectors.channel_newest_videos(channel=a)] == [
        NOW - dt.timedelta(days=1), NOW - dt.timedelta(days=2)]
