"""The admin over the many-to-many: a group edits its channels, a channel shows its groups."""

import datetime as dt

import pytest
from django.urls import reverse

from channels.models import Channel, ChannelGroup
from tests.factories import ChannelFactory, ChannelGroupFactory, VideoFactory

pytestmark = pytest.mark.django_db

ID = "UCpa-Zb0ZcQjTCPP1Dx_1M8Q"


def test_it_renders_the_lists(staff_client):
    group = ChannelGroupFactory(name="News")
    channel = ChannelFactory(title="BBC", groups=[group, ChannelGroupFactory(name="World")])
    VideoFactory(channel=channel)
    for model in ("channelgroup", "channel", "video", "groupsync"):
        assert staff_client.get(reverse(f"admin:channels_{model}_changelist")).status_code == 200
    html = staff_client.get(reverse("admin:channels_channel_changelist")).content.decode()
    assert "News, World" in html and "YouTube id" in html


def test_a_group_edits_its_channels(staff_client):
    a, b, c = ChannelFactory(title="A"), ChannelFactory(title="B"), ChannelFactory(title="C")
    response = staff_client.post(reverse("admin:channels_channelgroup_add"),
                                 {"name": "News", "description": "", "channels": [a.pk, b.pk]})
    assert response.status_code == 302, response.content.decode()[:2000]
    group = ChannelGroup.objects.get(name="News")
    assert set(group.channels.all()) == {a, b}

    page = staff_client.get(reverse("admin:channels_channelgroup_change", args=[group.pk]))
    assert page.status_code == 200
    staff_client.post(reverse("admin:channels_channelgroup_change", args=[group.pk]),
                      {"name": "News", "description": "", "channels": [c.pk]})
    assert set(group.channels.all()) == {c}


def test_a_channel_is_added_by_its_url_and_a_handle_is_refused_with_the_forms_that_work(staff_client):
    group = ChannelGroupFactory(name="News")
    url = reverse("admin:channels_channel_add")
    refused = staff_client.post(url, {"youtube_id": "https://www.youtube.com/@LegalEagle", "title": "",
                                      "enabled": "on", "groups": [group.pk]})
    assert refused.status_code == 200
    [message] = refused.context["adminform"].form.errors["youtube_id"]
    assert "is a handle" in message and "https://www.youtube.com/channel/UC…" in message

    added = staff_client.post(url, {"youtube_id": f"https://www.youtube.com/channel/{ID}", "title": "",
                                    "enabled": "on", "groups": [group.pk]})
    assert added.status_code == 302
    channel = Channel.objects.get()
    assert (channel.youtube_id, channel.title, list(channel.groups.all())) == (ID, ID, [group])


def test_deleting_a_group_in_the_admin_warns_and_disables_its_schedule(staff_client, make_schedule):
    group = ChannelGroupFactory(name="News")
    schedule = make_schedule(now=dt.datetime(2026, 5, 1, tzinfo=dt.timezone.utc), name="Sync News",
                             task_type="QUICK_SYNC_GROUP", params={"group_id": group.pk})
    url = reverse("admin:channels_channelgroup_delete", args=[group.pk])
    confirm = staff_client.get(url)
    assert "disables its schedule “Sync News”" in confirm.content.decode()

    done = staff_client.post(url, {"post": "yes"}, follow=True)

    assert "Schedule “Sync News” was disabled: its group “News” is gone." in done.content.decode()
    schedule.refresh_from_db()
    assert not schedule.enabled and not ChannelGroup.objects.exists()
