"""backups.alerts: stale backups alert once, and once more when a good backup is there again."""

import datetime as dt

import pytest

from backups import alerts
from tests.factories import BackupFactory, NotificationChannelFactory
from tests.notifications.conftest import send_all

pytestmark = pytest.mark.django_db

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
DAY = dt.timedelta(days=1)


@pytest.fixture
def hook(webhook):
    NotificationChannelFactory(name="Ops", target=webhook.url)
    return webhook


@pytest.fixture
def nightly(make_schedule):
    """A daily backup schedule made long ago: a good backup is expected at least every two days."""
    return make_schedule(now=NOW - 30 * DAY, name="Nightly backup")


def watch(now: dt.datetime) -> None:
    alerts.watch_freshness(now=now, source="loop")
    send_all(now=now)


def test_no_good_backup_within_two_intervals_alerts_once_and_a_good_one_resolves_it(nightly, hook):
    old = BackupFactory(started_at=NOW - 2 * DAY)
    watch(NOW)
    assert hook.messages == []  # exactly two intervals old: not yet

    for hours in (1, 2, 3):
        watch(NOW + dt.timedelta(hours=hours))
    assert hook.titles == ["Channel archive: No good backup for 2 d 1 h"]
    assert f"The newest good backup is #{old.pk}, made at 2026-11-29 12:00 UTC." in hook.messages[0]["message"]
    assert "“Nightly backup” runs every 1 d or so" in hook.messages[0]["message"]
    assert "Details: /backups" in hook.messages[0]["message"]

    fresh = BackupFactory(started_at=NOW + dt.timedelta(hours=4))
    watch(NOW + dt.timedelta(hours=5))
    watch(NOW + dt.timedelta(hours=6))
    assert hook.titles[1:] == ["Channel archive: back to normal: No good backup for 2 d 1 h"]
    assert f"Backup #{fresh.pk}, made at 2026-12-01 16:00 UTC, is good." in hook.messages[1]["message"]


def test_a_failed_backup_is_no_good_backup(nightly, hook):
    BackupFactory(started_at=NOW - 3 * DAY)
    BackupFactory(started_at=NOW - DAY, status="failed")

    watch(NOW)

    assert hook.titles == ["Channel archive: No good backup for 3 d"]


def test_never_a_good_backup_alerts_once_the_schedule_is_older_than_the_limit(make_schedule, hook):
    make_schedule(now=NOW - DAY, name="Nightly backup")
    watch(NOW)
    assert hook.messages == []  # a day old: its first backups may still come

    watch(NOW + 2 * DAY)
    assert hook.titles == ["Channel archive: No good backup yet"]


def test_a_disabled_backup_schedule_still_counts_and_the_alert_says_it_is_disabled(nightly, hook):
    from scheduling import services

    services.schedule_set_enabled(schedule=nightly, enabled=False, now=NOW - 10 * DAY)
    BackupFactory(started_at=NOW - 10 * DAY)

    watch(NOW)

    assert "The schedule is disabled." in hook.messages[0]["message"]


def test_without_a_backup_schedule_there_is_nothing_to_measure(hook):
    BackupFactory(started_at=NOW - 300 * DAY)

    watch(NOW)

    assert hook.messages == []


def test_the_alert_goes_to_the_channels_the_backup_schedule_chose(make_schedule, webhook, smtp):
    NotificationChannelFactory(name="Ops", target=webhook.url)
    mail = NotificationChannelFactory(name="Mail", target="ops@example.com")
    make_schedule(now=NOW - 30 * DAY, notify_channels=[mail.pk])
    BackupFactory(started_at=NOW - 3 * DAY)

    watch(NOW)

    assert webhook.messages == []
    assert smtp.subjects == ["Channel archive: No good backup for 3 d"]
