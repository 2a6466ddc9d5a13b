"""The group forms of /channels (create, rename, delete with its warning) and a group's Sync now
(works / validates / permissions / method / bad id)."""

import datetime as dt
import re

import pytest
from django.utils import timezone

from channels.models import ChannelGroup, GroupSync
from jobs.models import Job
from scheduling import services as scheduling_services
from scheduling.models import ScheduleAuditEntry, ScheduledTask
from tests.channels.conftest import feed_for
from tests.factories import ChannelFactory, ChannelGroupFactory, UserFactory, VideoFactory, grant

pytestmark = pytest.mark.django_db

GROUPS = ("view_channelgroup", "add_channelgroup", "change_channelgroup", "delete_channelgroup")
HTMX = {"HTTP_HX_REQUEST": "true"}
CHANNEL_A = "UCaaaaaaaaaaaaaaaaaaaaaa"
CHANNEL_B = "UCbbbbbbbbbbbbbbbbbbbbbb"


@pytest.fixture
def manager(client):
    client.force_login(grant(UserFactory(username="alice"), *GROUPS))
    return client


def quick_sync(group, **fields) -> ScheduledTask:
    base = {"name": f"{group.name} sync", "task_type": "QUICK_SYNC_GROUP", "schedule_kind": "daily",
            "schedule_time": "05:30", "params": {"group_id": group.pk}}
    return scheduling_services.schedule_save(schedule=ScheduledTask(**{**base, **fields}), now=timezone.now())


# --- create, rename ---------------------------------------------------------------------------

def test_it_creates_a_group(manager):
    form = manager.get("/channels/groups/new", **HTMX).content.decode()
    assert 'id="dialog-title">New group</h2>' in form and "<html" not in form
    response = manager.post("/channels/groups/new", {"name": "  Lawyers ", "description": "Law channels"}, **HTMX)
    assert response.status_code == 200 and response["HX-Reswap"] == "none"
    assert "Group “Lawyers” created." in response.content.decode()
    assert ChannelGroup.objects.filter(name="Lawyers", description="Law channels").exists()


@pytest.mark.parametrize(("name", "message"), [("", "This field is required."),
                                               ("News", "Channel group with this Name already exists."),
                                               ("x" * 101, "at most 100 characters")])
def test_it_shows_inline_errors_for_a_bad_group_name(manager, name, message):
    ChannelGroupFactory(name="News")
    response = manager.post("/channels/groups/new", {"name": name}, **HTMX)
    content = response.content.decode()
    assert response.status_code == 200
    assert content.lstrip().startswith('<div id="group-form"')
    assert 'id="id_name_error"' in content and 'aria-invalid="true"' in content and message in content
    assert ChannelGroup.objects.count() == 1


def test_it_creates_a_group_without_javascript(manager):
    page = manager.get("/channels/groups/new").content.decode()
    assert "<html" in page and "<h1 id=\"dialog-title\">New group</h1>" in page
    response = manager.post("/channels/groups/new", {"name": "News"})
    assert response.status_code == 302 and response["Location"] == "/channels"


def test_it_renames_a_group_and_its_schedule_still_syncs_it(manager):
    group = ChannelGroupFactory(name="Nws")
    schedule = quick_sync(group)
    form = manager.get(f"/channels/groups/{group.pk}/edit", **HTMX).content.decode()
    assert "Rename “Nws”" in form and 'value="Nws"' in form
    response = manager.post(f"/channels/groups/{group.pk}/edit", {"name": "News"}, **HTMX)
    assert "Group “Nws” renamed to “News”. Its schedules still sync it." in response.content.decode()
    group.refresh_from_db()
    schedule.refresh_from_db()
    assert group.name == "News" and schedule.params == {"group_id": group.pk}


def test_it_refuses_a_rename_to_a_taken_name_inline(manager):
    ChannelGroupFactory(name="News")
    group = ChannelGroupFactory(name="Lawyers")
    response = manager.post(f"/channels/groups/{group.pk}/edit", {"name": "News"}, **HTMX)
    content = response.content.decode()
    assert "already exists" in content and "Rename “Lawyers”" in content  # the heading keeps the old name
    assert ChannelGroup.objects.get(pk=group.pk).name == "Lawyers"


# --- delete -----------------------------------------------------------------------------------

def test_it_says_first_what_deleting_a_group_does_to_its_schedule(manager):
    group = ChannelGroupFactory(name="News")
    ChannelFactory(group=group)
    quick_sync(group, name="News daily")
    quick_sync(group, name="News old", enabled=False)
    content = manager.get(f"/channels/groups/{group.pk}/delete", **HTMX).content.decode()
    assert "Delete “News”?" in content
    assert "disables its schedule “News daily”, which would have nothing to sync." in content
    assert "1 channel will be in no group" in content
    assert "“News old”: Every day at 05:30 (UTC) — already disabled" in content
    assert ChannelGroup.objects.filter(pk=group.pk).exists()


def test_it_deletes_a_group_disabling_its_schedule_with_the_reason(manager):
    group = ChannelGroupFactory(name="News")
    channel = ChannelFactory(group=group)
    schedule = quick_sync(group, name="News daily")
    response = manager.post(f"/channels/groups/{group.pk}/delete", **HTMX)
    content = response.content.decode()
    assert "Group “News” deleted. Its channels and their videos stay in the archive." in content
    assert "Disabled its schedule “News daily”: nothing left to sync." in content and 'role="alert"' in content
    assert not ChannelGroup.objects.exists()
    channel.refresh_from_db()
    schedule.refresh_from_db()
    assert not schedule.enabled and schedule.next_run_at is None
    entry = ScheduleAuditEntry.objects.get(schedule=schedule, action="disable")
    assert entry.via == "page" and entry.actor_name == "alice" and "“News”" in entry.changes["reason"]


def test_it_deletes_a_group_without_schedules_quietly(manager):
    group = ChannelGroupFactory(name="Empty")
    response = manager.post(f"/channels/groups/{group.pk}/delete")
    assert response.status_code == 302 and not ChannelGroup.objects.exists()


# --- Sync now ---------------------------------------------------------------------------------

def test_it_syncs_a_group_now_without_a_schedule(manager):
    group = ChannelGroupFactory(name="News")
    channels = ChannelFactory.create_batch(2, group=group)
    ChannelFactory(group=group, enabled=False)
    response = manager.post(f"/channels/groups/{group.pk}/sync", **HTMX)
    content = response.content.decode()
    assert "Syncing “News”: 2 jobs queued." in content
    assert "No worker is running, so the jobs wait until one starts (manage.py qcluster)." in content
    assert "channels-changed" in response["HX-Trigger"]
    jobs = Job.objects.order_by("pk")
    assert [(j.job_type, j.params["channel_id"]) for j in jobs] == [("QUICK_SYNC", c.pk) for c in channels]
    assert {j.origin_label for j in jobs} == {"Sync now by alice"}
    assert GroupSync.objects.get().group == group


def test_it_leaves_out_the_worker_note_when_a_worker_runs(manager, monkeypatch):
    from jobs import queue

    monkeypatch.setattr(queue, "workers_alive", lambda: True)
    group = ChannelGroupFactory(name="News")
    ChannelFactory(group=group)
    content = manager.post(f"/channels/groups/{group.pk}/sync", **HTMX).content.decode()
    assert "1 job queued." in content and "No worker" not in content


def test_it_warns_when_a_group_has_nothing_to_sync(manager):
    group = ChannelGroupFactory(name="Empty")
    content = manager.post(f"/channels/groups/{group.pk}/sync", **HTMX).content.decode()
    assert "“Empty” has no enabled channel." in content and 'role="alert"' in content
    assert not Job.objects.exists()


def test_it_syncs_without_javascript_and_comes_back_with_the_message(manager):
    group = ChannelGroupFactory(name="News")
    ChannelFactory(group=group)
    response = manager.post(f"/channels/groups/{group.pk}/sync", follow=True)
    assert response.redirect_chain[-1][0] == "/channels"
    assert "Syncing “News”: 1 job queued." in response.content.decode()


# --- methods, ids, permissions ----------------------------------------------------------------

def test_it_rejects_get_for_sync_and_other_methods_on_the_forms(manager):
    group = ChannelGroupFactory()
    assert manager.get(f"/channels/groups/{group.pk}/sync").status_code == 405
    for path in ("/channels/groups/new", f"/channels/groups/{group.pk}/edit", f"/channels/groups/{group.pk}/delete"):
        assert manager.put(path).status_code == 405, path


@pytest.mark.parametrize("action", ["edit", "delete", "sync"])
def test_it_answers_404_for_an_unknown_group(manager, action):
    assert manager.post(f"/channels/groups/999/{action}").status_code == 404


@pytest.mark.parametrize(("path", "needs"), [("new", "add_channelgroup"), ("{pk}/edit", "change_channelgroup"),
                                             ("{pk}/delete", "delete_channelgroup"), ("{pk}/sync", "change_channelgroup")])
def test_it_refuses_group_writes_without_their_permission(client, path, needs):
    group = ChannelGroupFactory(name="News")
    ChannelFactory(group=group)
    client.force_login(grant(UserFactory(), *[p for p in GROUPS if p != needs], "add_scheduledtask",
                             "change_scheduledtask"))
    url = "/channels/groups/" + path.format(pk=group.pk)
    if not url.endswith("/sync"):
        assert client.get(url).status_code == 403
    assert client.post(url, {"name": "Changed"}).status_code == 403
    assert list(ChannelGroup.objects.values_list("name", flat=True)) == ["News"]
    assert not Job.objects.exists()


def test_it_names_the_skipped_channels_in_the_sync_toast(manager):
    group = ChannelGroupFactory(name="News")
    ChannelFactory(group=group, title="Phoenix")
    later = timezone.now() + dt.timedelta(hours=1)
    ChannelFactory(group=group, title="Tagesschau", consecutive_failures=2, next_attempt_at=later)
    content = manager.post(f"/channels/groups/{group.pk}/sync", **HTMX).content.decode()
    assert "Syncing “News”: 1 job queued. 1 channel skipped, waiting after failures: “Tagesschau”." in content


def test_it_names_at_most_five_skipped_channels(manager):
    group = ChannelGroupFactory(name="News")
    ChannelFactory(group=group, title="Phoenix")
    later = timezone.now() + dt.timedelta(hours=1)
    for letter in "ABCDEFG":
        ChannelFactory(group=group, title=f"Channel {letter}", consecutive_failures=1, next_attempt_at=later)
    content = manager.post(f"/channels/groups/{group.pk}/sync", **HTMX).content.decode()
    assert ("7 channels skipped, waiting after failures: “Channel A”, “Channel B”, “Channel C”, “Channel D”, "
            "“Channel E” and 2 more.") in content


# --- the group's card tells the truth ---------------------------------------------------------

def card_text(client, group) -> str:
    """The group card's text as a screen reader reads it: tags out, whitespace collapsed."""
    content = client.get("/channels").content.decode()
    start = content.index(f'id="group-{group.pk}"')
    card = content[start:content.index("</section>", start)]
    return " ".join(re.sub(r"<[^>]+>", " ", card).split())


def test_the_card_says_running_once_with_who_started_it(manager):
    group = ChannelGroupFactory(name="News")
    GroupSync.objects.create(group=group, group_name="News", origin_label="Sync now by bob",
                             created_at=timezone.now(), jobs_created=3)
    text = card_text(manager, group)
    assert "Running 3 channels to check (Sync now by bob), started" in text
    assert text.count("Running") == 1


def test_the_cards_last_sync_covers_a_channel_synced_on_its_own(manager, feeds, run_jobs):
    group = ChannelGroupFactory(name="News")
    other = ChannelGroupFactory(name="Lawyers")
    alone = ChannelFactory(group=group, title="Tagesschau", youtube_id=CHANNEL_A)
    ChannelFactory(groups=[group, other], title="Phoenix", youtube_id=CHANNEL_B)
    feeds.serve(CHANNEL_A, feed_for(CHANNEL_A, prefix="AAAAAAAAA"))
    feeds.serve(CHANNEL_B, feed_for(CHANNEL_B, prefix="BBBBBBBBB"))
    assert "Never synced" in card_text(manager, group)

    manager.post(f"/channels/groups/{group.pk}/sync", **HTMX)
    run_jobs()
    text = card_text(manager, group)
    assert "Synced: 2" in text and "checked apart" not in text  # the group's own sync says it all

    manager.post(f"/channels/{alone.pk}/sync", **HTMX)
    run_jobs()
    text = card_text(manager, group)
    assert ("Since then, checked apart from the group: “Tagesschau” on its own (Sync now by alice), "
            in text), text
    assert "Synced, nothing new" in text and "Phoenix" not in text.partition("Since then")[2].partition("New videos")[0]

    manager.post(f"/channels/groups/{other.pk}/sync", **HTMX)
    run_jobs()
    text = card_text(manager, group)
    assert "“Phoenix” in a sync of “Lawyers” (Sync now by alice)" in text
    assert "“Tagesschau” on its own" in text

    # While the group's next sync runs, the channels it has checked are its own, not "apart".
    manager.post(f"/channels/groups/{group.pk}/sync", **HTMX)
    run_jobs(Job.objects.filter(status="queued").order_by("pk")[:1])
    text = card_text(manager, group)
    assert "Running 2 channels to check" in text and "“Tagesschau” on its own" not in text
    assert "“Tagesschau” in a sync" not in text and "“Phoenix” in a sync of “Lawyers”" in text


def test_the_card_counts_new_videos_by_publication_date_and_says_so(manager):
    group = ChannelGroupFactory(name="News")
    channel = ChannelFactory(group=group)
    now = timezone.now()
    # A first sync finds older videos too: first seen now, published long ago; they are not new.
    VideoFactory.create_batch(3, channel=channel, first_seen_at=now, published_at=now - dt.timedelta(days=30))
    VideoFactory(channel=channel, first_seen_at=now, published_at=now - dt.timedelta(days=2))
    VideoFactory(channel=channel, first_seen_at=now - dt.timedelta(days=20), published_at=now - dt.timedelta(days=6))
    assert "New videos 2 published in the last 7 days" in card_text(manager, group)
