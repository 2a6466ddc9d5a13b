"""Groups and channels as a person manages them, and what deleting a group does to its schedules."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from channels import selectors, services
from channels.models import Channel, ChannelGroup, GroupSync
from common.actors import Actor, Via
from jobs.models import Job
from scheduling.models import AuditAction, ScheduleAuditEntry
from tests.factories import ChannelFactory, ChannelGroupFactory

pytestmark = pytest.mark.django_db

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
ID = "UCpa-Zb0ZcQjTCPP1Dx_1M8Q"


def test_it_creates_renames_and_refuses_a_duplicate_group():
    group = services.group_create(name=" News ", now=NOW)
    assert (group.name, group.created_at) == ("News", NOW)
    services.group_update(group=group, name="World news", description="Wires")
    assert ChannelGroup.objects.get().name == "World news"
    with pytest.raises(ValidationError) as exc:
        services.group_create(name="World news", now=NOW)
    assert "name" in exc.value.message_dict


def test_it_adds_a_channel_by_url_and_an_existing_one_only_joins_the_group():
    news, lawyers = ChannelGroupFactory(name="News"), ChannelGroupFactory(name="Lawyers")
    channel, created = services.channel_add(reference=f"https://www.youtube.com/channel/{ID}", groups=[news], now=NOW)
    assert created and (channel.youtube_id, channel.title) == (ID, ID)

    again, created = services.channel_add(reference=f"https://www.youtube.com/feeds/videos.xml?channel_id={ID}",
                                          groups=[lawyers], now=NOW)

    assert (again, created) == (channel, False)
    assert set(channel.groups.values_list("name", flat=True)) == {"News", "Lawyers"}
    services.channel_remove_from_groups(channel=channel, groups=[news])
    assert list(channel.groups.values_list("name", flat=True)) == ["Lawyers"]


def test_it_names_the_field_when_a_handle_is_given():
    with pytest.raises(ValidationError) as exc:
        services.channel_add(reference="@LegalEagle", now=NOW)
    assert "is a handle" in exc.value.message_dict["youtube_id"][0]
    assert not Channel.objects.exists()


def test_it_disables_and_enables_a_channel_by_hand():
    channel = ChannelFactory()
    services.channel_set_enabled(channel=channel, enabled=False)
    assert not Channel.objects.get().enabled
    services.channel_set_enabled(channel=channel, enabled=True)
    assert Channel.objects.get().enabled


def test_deleting_a_group_disables_its_schedules_with_the_reason(make_schedule, staff):
    group = ChannelGroupFactory(name="News")
    kept = ChannelFactory(group=group)
    other = ChannelGroupFactory(name="Lawyers")
    schedule = make_schedule(now=NOW, name="Sync News", task_type="QUICK_SYNC_GROUP", params={"group_id": group.pk})
    unrelated = make_schedule(now=NOW, name="Sync Lawyers", task_type="QUICK_SYNC_GROUP",
                              params={"group_id": other.pk})

    preview = selectors.group_delete_preview(group=group)
    assert preview["schedules_disabled"] == [schedule]
    assert preview["message"] == ("Deleting “News” disables its schedule “Sync News”, which would have nothing to "
                                  "sync. 1 channel will be in no group (kept, with its videos).")

    group_id = group.pk
    disabled = services.group_delete(group=group, now=timezone.now(), actor=Actor(Via.PAGE, staff))

    assert disabled == [schedule]
    schedule.refresh_from_db()
    unrelated.refresh_from_db()
    assert (schedule.enabled, schedule.next_run_at, unrelated.enabled) == (False, None, True)
    entry = ScheduleAuditEntry.objects.get(schedule=schedule, action=AuditAction.DISABLE)
    assert entry.changes["reason"] == f"Its channel group “News” (id {group_id}) was deleted."
    assert (entry.actor, entry.via) == (staff, Via.PAGE)
    assert Channel.objects.filter(pk=kept.pk).exists()  # channels outlive their group


def test_the_delete_preview_counts_only_the_channels_in_no_other_group():
    group, other = ChannelGroupFactory(name="News"), ChannelGroupFactory(name="Lawyers")
    ChannelFactory(group=group)
    in_both = ChannelFactory(group=group)
    in_both.groups.add(other)

    assert selectors.group_delete_preview(group=group)["message"] == "1 channel will be in no group (kept, with its videos)."


def test_the_delete_preview_says_nothing_when_nothing_else_changes():
    group = ChannelGroupFactory(name="Empty")
    assert selectors.group_delete_preview(group=group)["message"] == ""


def test_sync_now_of_one_channel_waits_for_its_groups_cool_down_but_not_for_its_backoff():
    cooling = ChannelGroupFactory(name="News", cooldown_until=NOW + dt.timedelta(minutes=20),
                                  cooldown_reason="YouTube answered HTTP 429.")
    refused = ChannelFactory(groups=[cooling, ChannelGroupFactory(name="Lawyers")])
    backed_off = ChannelFactory(consecutive_failures=3, next_attempt_at=NOW + dt.timedelta(hours=1))

    skipped = services.channel_sync_now(channel=refused, now=NOW)
    synced = services.channel_sync_now(channel=backed_off, now=NOW)

    skipped, synced = GroupSync.objects.get(pk=skipped.pk), GroupSync.objects.get(pk=synced.pk)
    assert (skipped.jobs_created, skipped.skipped_cooldown, skipped.finished_at) == (0, 1, NOW)
    assert skipped.results.get().error == "YouTube answered HTTP 429."
    assert (synced.jobs_created, synced.finished_at) == (1, None)
    assert [job.params["channel_id"] for job in Job.objects.all()] == [backed_off.pk]
