"""channels.alerts: a feed outage lasting hours alerts once, and once more when a sync is no outage again."""

import datetime as dt

import pytest

from channels import alerts
from channels.models import ChannelGroup, GroupSync
from tests.factories import ChannelGroupFactory, NotificationChannelFactory
from tests.notifications.conftest import send_all

pytestmark = pytest.mark.django_db

UTC = dt.timezone.utc
MORNING = dt.datetime(2026, 5, 1, 6, 0, tzinfo=UTC)
HOUR = dt.timedelta(hours=1)


@pytest.fixture
def hook(webhook):
    NotificationChannelFactory(name="Ops", target=webhook.url)
    return webhook


def sync(group: ChannelGroup, at: dt.datetime, *, outage: bool) -> GroupSync:
    """A finished sync of the group (a minute long), as the newest the group knows."""
    done = GroupSync.objects.create(group=group, group_name=group.name, created_at=at, finished_at=at + HOUR / 60,
                                    channels_total=4, synced=0 if outage else 4, failed=4 if outage else 0,
                                    outage=outage, note="Feed outage: 4 of 4 channels checked got 404." if outage else "")
    ChannelGroup.objects.filter(pk=group.pk).update(last_sync=done, last_outage_at=at if outage else None)
    return done


def watch(now: dt.datetime) -> None:
    alerts.watch_outages(now=now, source="loop")
    send_all(now=now)


def test_outage_syncs_spanning_more_than_three_hours_alert_once_and_a_good_sync_resolves(hook):
    news = ChannelGroupFactory(name="News")
    sync(news, MORNING - 2 * HOUR, outage=False)
    for hours in (0, 2):
        sync(news, MORNING + hours * HOUR, outage=True)
        watch(MORNING + hours * HOUR + HOUR / 30)
    assert hook.messages == []  # 2 h of outage: YouTube's feeds do that

    sync(news, MORNING + 4 * HOUR, outage=True)
    watch(MORNING + 4 * HOUR + HOUR / 30)
    sync(news, MORNING + 6 * HOUR, outage=True)
    watch(MORNING + 6 * HOUR + HOUR / 30)
    assert hook.titles == ["Channel archive: YouTube feed outage for “News” (4 h 1 min)"]
    assert "Every sync of the group since 2026-05-01 06:00 UTC" in hook.messages[0]["message"]

    sync(news, MORNING + 8 * HOUR, outage=False)
    watch(MORNING + 8 * HOUR + HOUR / 30)
    assert hook.titles[1:] == ["Channel archive: back to normal: YouTube feed outage for “News” (4 h 1 min)"]
    assert "The latest sync of “News” was no outage: 4 synced" in hook.messages[1]["message"]


def test_only_the_current_run_of_outage_syncs_counts(hook):
    news = ChannelGroupFactory(name="News")
    sync(news, MORNING - 10 * HOUR, outage=True)  # an old outage, over since
    sync(news, MORNING - 5 * HOUR, outage=False)
    sync(news, MORNING, outage=True)
    sync(news, MORNING + 2 * HOUR, outage=True)

    watch(MORNING + 3 * HOUR)

    assert hook.messages == []


def test_each_group_is_an_incident_of_its_own_and_a_deleted_group_resolves_its_own(hook):
    news, law = ChannelGroupFactory(name="News"), ChannelGroupFactory(name="Lawyers")
    for group in (news, law):
        sync(group, MORNING, outage=True)
        sync(group, MORNING + 4 * HOUR, outage=True)
    watch(MORNING + 5 * HOUR)
    assert sorted(hook.titles) == ["Channel archive: YouTube feed outage for “Lawyers” (4 h 1 min)",
                                   "Channel archive: YouTube feed outage for “News” (4 h 1 min)"]

    law.delete()
    watch(MORNING + 6 * HOUR)
    assert hook.titles[2:] == ["Channel archive: back to normal: YouTube feed outage for “Lawyers” (4 h 1 min)"]
    assert "The group was deleted." in hook.messages[2]["message"]
