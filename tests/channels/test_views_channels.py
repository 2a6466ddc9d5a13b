"""/channels (the groups' cards and their channels), a channel's page, and the channel actions: add,
enable/disable, Sync now, groups (works / validates / permissions / method / bad id)."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from channels.models import Channel, ChannelGroup, GroupSync
from jobs.models import Job
from scheduling import services as scheduling_services
from scheduling.models import ScheduledTask
from tests.factories import ChannelFactory, ChannelGroupFactory, UserFactory, VideoFactory, grant

pytestmark = pytest.mark.django_db

CHANNELS = ("view_channelgroup", "add_channelgroup", "change_channelgroup", "delete_channelgroup",
            "view_channel", "add_channel", "change_channel")
SCHEDULES = ("view_scheduledtask", "add_scheduledtask", "change_scheduledtask", "delete_scheduledtask")
HTMX = {"HTTP_HX_REQUEST": "true"}
UTC = dt.timezone.utc
CHANNEL_ID = "UCabcdefghijklmnopqrstuv"


@pytest.fixture
def manager(client):
    client.force_login(grant(UserFactory(username="alice"), *CHANNELS, *SCHEDULES))
    return client


@pytest.fixture
def viewer(client):
    client.force_login(grant(UserFactory(), "view_channelgroup"))
    return client


def quick_sync(group, **fields) -> ScheduledTask:
    base = {"name": f"{group.name} sync", "task_type": "QUICK_SYNC_GROUP", "schedule_kind": "daily",
            "schedule_time": "05:30", "params": {"group_id": group.pk}}
    return scheduling_services.schedule_save(schedule=ScheduledTask(**{**base, **fields}), now=timezone.now())


def finished_sync(group, **counts) -> GroupSync:
    now = timezone.now()
    group_sync = GroupSync.objects.create(group=group, group_name=group.name, origin_label="Sync now by bob",
                                          created_at=now, finished_at=now, **counts)
    ChannelGroup.objects.filter(pk=group.pk).update(last_sync=group_sync)
    return group_sync


# --- the list ---------------------------------------------------------------------------------

def test_it_shows_a_card_per_group_with_its_sync_schedule_and_channels(manager):
    news = ChannelGroupFactory(name="News")
    ChannelGroupFactory(name="Lawyers")
    tagesschau = ChannelFactory(title="Tagesschau", group=news)
    ChannelFactory(title="Off air", group=news, enabled=False)
    VideoFactory(channel=tagesschau, title="Evening news", published_at=dt.datetime(2026, 5, 1, 20, tzinfo=UTC))
    VideoFactory(channel=tagesschau, title="Morning news", published_at=dt.datetime(2026, 5, 1, 7, tzinfo=UTC))
    finished_sync(news, channels_total=2, synced=1, failed=1, skipped_backoff=1, new_videos=2, outage=True)
    schedule = quick_sync(news, timezone="Europe/Berlin")
    Channel.objects.filter(pk=tagesschau.pk).update(last_checked_at=timezone.now(), last_outcome="not_found",
                                                    last_error="HTTP 404 from the feed", consecutive_failures=2)

    response = manager.get("/channels")
    content = response.content.decode()
    assert response.status_code == 200
    assert [g.name for g in response.context["groups"]] == ["Lawyers", "News"]
    assert '<h2 id="group-' in content and ">News</h2>" in content and "2 channels (1 enabled)" in content
    assert "<span class=\"fact-label\">Synced:</span> 1" in content
    assert "<span class=\"fact-label\">Failed:</span> 1" in content
    assert "<span class=\"fact-label\">Skipped:</span> 1 (1 backoff)" in content
    assert "<span class=\"fact-label\">New videos:</span> 2" in content
    assert "Feed outage:</span> <span class=\"badge badge-warn\">Yes</span>" in content
    assert "(Sync now by bob)" in content
    assert "0 published in the last 7 days" in content  # first seen just now, but published in May
    assert "News sync</a>: Every day at 05:30 (Europe/Berlin)" in content
    assert f'/schedules/{schedule.pk}/edit?task_type=QUICK_SYNC_GROUP&amp;fixed=quick_sync_group-group_id' in content
    # Each channel: videos, newest video, status in words and its last error.
    assert ">Tagesschau</a>" in content and "Evening news" in content and "Morning news" not in content
    assert "Feed not found (HTTP 404); 2 failures in a row" in content
    assert "HTTP 404 from the feed" in content
    assert "Disabled (left out of group syncs)" in content
    assert "No schedule: synced only by Sync now." in content  # Lawyers


def test_it_opens_the_shared_editor_for_a_new_schedule_with_the_group_fixed(manager):
    group = ChannelGroupFactory(name="News")
    content = manager.get("/channels").content.decode()
    url = (f"/schedules/new?task_type=QUICK_SYNC_GROUP&amp;quick_sync_group-group_id={group.pk}"
           "&amp;fixed=quick_sync_group-group_id&amp;name=Quick+sync%3A+News&amp;next=%2Fchannels")
    assert f'hx-get="{url}"' in content
    editor = manager.get(url.replace("&amp;", "&"), **HTMX).content.decode()
    assert 'type="hidden" name="task_type" value="QUICK_SYNC_GROUP"' in editor
    assert f'type="hidden" name="quick_sync_group-group_id" value="{group.pk}"' in editor
    assert 'value="Quick sync: News"' in editor and "database_backup" not in editor


def test_it_lists_channels_in_no_group_apart(manager):
    ChannelFactory(title="Orphan")
    content = manager.get("/channels").content.decode()
    assert "In no group" in content and ">Orphan</a>" in content


def test_it_answers_in_a_constant_number_of_queries(manager):
    counts = []
    for groups, per_group in ((2, 2), (12, 15)):
        ChannelGroup.objects.all().delete()
        Channel.objects.all().delete()
        for g in range(groups):
            group = ChannelGroupFactory()
            for channel in ChannelFactory.create_batch(per_group, group=group):
                VideoFactory(channel=channel)
            finished_sync(group, synced=per_group)
            quick_sync(group)
            GroupSync.objects.create(group=group, group_name=group.name, created_at=timezone.now())  # running
        ChannelFactory.create_batch(per_group)  # in no group
        manager.get("/channels")  # warm the session and permission caches alike for both sizes
        with CaptureQueriesContext(connection) as queries:
            response = manager.get("/channels")
        assert response.status_code == 200 and len(response.context["groups"]) == groups
        counts.append(len(queries))
    assert counts[0] == counts[1], counts
    assert counts[1] <= 20, counts


def test_it_refreshes_only_the_list_for_htmx(manager):
    ChannelGroupFactory(name="News")
    content = manager.get("/channels", HTTP_HX_TARGET="group-list", **HTMX).content.decode()
    assert content.lstrip().startswith('<div id="group-list"') and "<html" not in content


def test_it_polls_while_a_sync_runs(manager):
    group = ChannelGroupFactory(name="News")
    assert "group-list-watch" not in manager.get("/channels").content.decode()
    GroupSync.objects.create(group=group, group_name=group.name, created_at=timezone.now(), jobs_created=3)
    content = manager.get("/channels").content.decode()
    assert 'id="group-list-watch"' in content and "Running</span> 3 channels to check" in content
    GroupSync.objects.update(created_at=timezone.now() - dt.timedelta(hours=1))  # no worker ever came
    content = manager.get("/channels").content.decode()
    assert "group-list-watch" not in content and "Running</span> 3 channels to check" in content


def test_it_hides_what_the_user_may_not_do(viewer):
    group = ChannelGroupFactory(name="News")
    ChannelFactory(group=group)
    quick_sync(group)
    content = viewer.get("/channels").content.decode()
    assert "News" in content
    for action in ("Sync now", "Schedule Quick Sync", "Remove schedule", "Rename…", "Delete group", "New group",
                   "Add channel", 'role="switch"'):
        assert action not in content, action


def test_it_shows_schedule_buttons_by_their_own_permissions(client):
    group = ChannelGroupFactory(name="News")
    client.force_login(grant(UserFactory(), "view_channelgroup", "add_scheduledtask"))
    assert "Schedule Quick Sync" in client.get("/channels").content.decode()
    quick_sync(group)  # now the button edits, which needs change
    assert "Schedule Quick Sync" not in client.get("/channels").content.decode()


def test_it_refuses_users_without_view_permission(client):
    channel = ChannelFactory()
    client.force_login(grant(UserFactory(), *SCHEDULES))
    assert client.get("/channels").status_code == 403
    assert client.get(f"/channels/{channel.pk}").status_code == 403


def test_it_sends_anonymous_visitors_to_log_in(client):
    response = client.get("/channels")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_it_rejects_writes_to_the_list(manager):
    assert manager.post("/channels").status_code == 405


# --- a channel's page -------------------------------------------------------------------------

def test_it_shows_a_channels_newest_videos_with_links_to_youtube(manager):
    channel = ChannelFactory(title="Lawful Masses", youtube_id=CHANNEL_ID, group=ChannelGroupFactory(name="Lawyers"))
    VideoFactory(channel=channel, youtube_id="aaaaaaaaaaa", title="Old", published_at=dt.datetime(2025, 1, 1, tzinfo=UTC),
                 is_short=False, thumbnail_url="https://i.ytimg.com/vi/aaaaaaaaaaa/hqdefault.jpg")
    VideoFactory(channel=channel, youtube_id="bbbbbbbbbbb", title="New Short", is_short=True,
                 url="https://www.youtube.com/shorts/bbbbbbbbbbb", published_at=dt.datetime(2026, 2, 1, tzinfo=UTC))
    VideoFactory(channel=channel, youtube_id="ccccccccccc", title="Unknown kind", is_short=None,
                 published_at=dt.datetime(2025, 6, 1, tzinfo=UTC))
    response = manager.get(f"/channels/{channel.pk}")
    content = response.content.decode()
    assert [v.title for v in response.context["videos"]] == ["New Short", "Unknown kind", "Old"]
    assert f'href="https://www.youtube.com/channel/{CHANNEL_ID}"' in content
    assert 'href="https://www.youtube.com/shorts/bbbbbbbbbbb"' in content
    assert '<img src="https://i.ytimg.com/vi/aaaaaaaaaaa/hqdefault.jpg" alt=""' in content
    assert ">Short</span>" in content and ">Video</span>" in content and "unknown" not in content
    assert "Sun 1 Feb 2026, 00:00 UTC" in content
    assert "Lawyers" in content and "Not synced yet" in content


def test_it_answers_404_for_an_unknown_channel(manager):
    assert manager.get("/channels/999").status_code == 404


# --- add a channel ----------------------------------------------------------------------------

@pytest.mark.parametrize("reference", [
    CHANNEL_ID,
    f"https://www.youtube.com/channel/{CHANNEL_ID}",
    f"https://www.youtube.com/feeds/videos.xml?channel_id={CHANNEL_ID}",
])
def test_it_adds_a_channel_by_id_channel_url_or_feed_url(manager, reference):
    group = ChannelGroupFactory(name="News")
    response = manager.post("/channels/add", {"reference": reference, "groups": [group.pk]}, **HTMX)
    assert response.status_code == 200 and response["HX-Reswap"] == "none"
    assert "channels-changed" in response["HX-Trigger"] and "close-dialog" in response["HX-Trigger"]
    assert f"Channel “{CHANNEL_ID}” added to “News”." in response.content.decode()
    channel = Channel.objects.get(youtube_id=CHANNEL_ID)
    assert list(channel.groups.all()) == [group]


def test_it_explains_that_a_handle_is_not_a_channel_id(manager):
    response = manager.post("/channels/add", {"reference": "https://www.youtube.com/@LegalEagle"}, **HTMX)
    content = response.content.decode()
    assert response.status_code == 200
    assert 'id="id_reference_error"' in content and 'aria-invalid="true"' in content
    assert "is a handle, not a channel id" in content and "Copy channel ID" in content
    assert not Channel.objects.exists()


def test_it_refuses_a_channel_url_of_a_lookalike_host(manager):
    reference = f"https://notyoutube.com/channel/{CHANNEL_ID}"
    response = manager.post("/channels/add", {"reference": reference}, **HTMX)
    content = response.content.decode()
    assert response.status_code == 200 and 'aria-invalid="true"' in content
    assert "is not a YouTube address" in content
    assert not Channel.objects.exists()


def test_it_lets_an_existing_channel_join_more_groups(manager):
    news, lawyers = ChannelGroupFactory(name="News"), ChannelGroupFactory(name="Lawyers")
    channel = ChannelFactory(youtube_id=CHANNEL_ID, title="Both", group=news)
    response = manager.post("/channels/add", {"reference": CHANNEL_ID, "groups": [lawyers.pk]}, **HTMX)
    assert "“Both” was already in the archive; it is now in “Lawyers” too." in response.content.decode()
    assert set(channel.groups.all()) == {news, lawyers}


def test_it_preselects_the_group_and_works_without_javascript(manager):
    group = ChannelGroupFactory(name="News")
    page = manager.get(f"/channels/add?group={group.pk}").content.decode()
    assert "<html" in page and f'value="{group.pk}"' in page and "checked" in page
    response = manager.post("/channels/add", {"reference": CHANNEL_ID})
    assert response.status_code == 302 and response["Location"] == "/channels"
    assert Channel.objects.filter(youtube_id=CHANNEL_ID, groups=None).exists()


def test_it_refuses_adding_a_channel_without_permission(client):
    client.force_login(grant(UserFactory(), "view_channelgroup", "change_channel"))
    assert client.get("/channels/add").status_code == 403
    assert client.post("/channels/add", {"reference": CHANNEL_ID}).status_code == 403
    assert not Channel.objects.exists()


def test_it_rejects_other_methods_on_the_add_form(manager):
    assert manager.put("/channels/add").status_code == 405


# --- enable / disable, Sync now, groups -------------------------------------------------------

def test_it_disables_and_enables_a_channel(manager):
    channel = ChannelFactory(title="Tagesschau")
    response = manager.post(f"/channels/{channel.pk}/toggle", {"enabled": "false"}, **HTMX)
    assert "“Tagesschau” disabled: group syncs leave it out" in response.content.decode()
    assert not Channel.objects.get(pk=channel.pk).enabled
    response = manager.post(f"/channels/{channel.pk}/toggle", {"enabled": "true", "_from": "detail"})
    assert response["Location"] == f"/channels/{channel.pk}"
    assert Channel.objects.get(pk=channel.pk).enabled


def test_it_syncs_one_channel_now_and_says_no_worker_runs(manager):
    channel = ChannelFactory(title="Tagesschau", group=ChannelGroupFactory())
    response = manager.post(f"/channels/{channel.pk}/sync", **HTMX)
    content = response.content.decode()
    assert "Tagesschau: Syncing the channel: 1 job queued." in content
    assert "No worker is running, so the jobs wait until one starts" in content
    job = Job.objects.get()
    assert (job.job_type, job.params["channel_id"], job.origin_label) == ("QUICK_SYNC", channel.pk, "Sync now by alice")


def test_it_sets_the_groups_a_channel_is_in(manager):
    news, lawyers, other = (ChannelGroupFactory(name=n) for n in ("News", "Lawyers", "Other"))
    channel = ChannelFactory(groups=[news, other])
    response = manager.post(f"/channels/{channel.pk}/groups", {"groups": [lawyers.pk, news.pk]}, **HTMX)
    assert "is now in “Lawyers”, “News”." in response.content.decode()
    assert set(channel.groups.all()) == {news, lawyers}
    manager.post(f"/channels/{channel.pk}/groups", {})
    assert not channel.groups.exists() and Channel.objects.filter(pk=channel.pk).exists()


def test_it_says_inline_when_a_group_is_gone(manager):
    channel = ChannelFactory(group=ChannelGroupFactory())
    response = manager.post(f"/channels/{channel.pk}/groups", {"groups": [999]}, **HTMX)
    content = response.content.decode()
    assert content.lstrip().startswith('<section id="channel-groups"')
    assert 'id="id_groups_error"' in content and "999 is not one of the available choices" in content


@pytest.mark.parametrize("action", ["toggle", "sync", "groups"])
def test_it_rejects_get_for_channel_writes(manager, action):
    channel = ChannelFactory()
    assert manager.get(f"/channels/{channel.pk}/{action}").status_code == 405


@pytest.mark.parametrize("action", ["toggle", "sync", "groups"])
def test_it_answers_404_for_writes_to_an_unknown_channel(manager, action):
    assert manager.post(f"/channels/999/{action}").status_code == 404


@pytest.mark.parametrize(("action", "needs"), [("toggle", "change_channel"), ("groups", "change_channel"),
                                               ("sync", "change_channelgroup")])
def test_it_refuses_channel_writes_without_their_permission(client, action, needs):
    group = ChannelGroupFactory()
    channel = ChannelFactory(group=group)
    client.force_login(grant(UserFactory(), *[p for p in CHANNELS if p != needs], *SCHEDULES))
    assert client.post(f"/channels/{channel.pk}/{action}", {"enabled": "false"}).status_code == 403
    assert Channel.objects.filter(pk=channel.pk, enabled=True, groups=group).exists()
    assert not Job.objects.exists()
