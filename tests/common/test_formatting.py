"""The formatting every page shares: durations and status badges."""

import datetime as dt

import pytest

from backups.models import BackupStatus
from channels.models import SyncOutcome
from common.formatting import BADGE_TONES, badge_class, human_duration
from common.templatetags.formatting import since
from jobs.models import JobStatus
from notifications.models import DeliveryStatus
from scheduling.models import RunOutcome


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0 s"), (0.43, "0.4 s"), (5, "5 s"), (9.96, "10 s"), (59, "59 s"), (60, "1 min"), (123, "2 min 3 s"),
    (3600, "1 h"), (3723, "1 h 2 min"), (86400, "1 d"), (2 * 86400 + 3 * 3600, "2 d 3 h"), (-3, "0 s"),
])
def test_it_writes_durations_for_people(seconds, text):
    assert human_duration(dt.timedelta(seconds=seconds)) == text


def test_it_says_how_long_ago_something_started():
    now = dt.datetime(2026, 5, 1, 5, 32, 5, tzinfo=dt.timezone.utc)

    assert since(now - dt.timedelta(seconds=125), now) == "2 min 5 s"
    assert since(None, now) == ""


@pytest.mark.parametrize(("status", "badge"), [
    (JobStatus.QUEUED, "badge-neutral"), (JobStatus.RUNNING, "badge-info"), (JobStatus.RETRY_WAIT, "badge-warn"),
    (JobStatus.COMPLETED, "badge-ok"), (JobStatus.FAILED, "badge-error"), (JobStatus.CANCELLED, "badge-muted"),
    (RunOutcome.DISPATCHED, "badge-info"), (RunOutcome.SUCCEEDED, "badge-ok"), (RunOutcome.MISSED, "badge-warn"),
    (RunOutcome.PARTLY_FAILED, "badge-warn"), (RunOutcome.DISPATCH_FAILED, "badge-error"),
    (RunOutcome.SKIPPED, "badge-muted"), (RunOutcome.PAUSED, "badge-muted"), (BackupStatus.DELETED, "badge-muted"),
    (SyncOutcome.FEED_OUTAGE, "badge-warn"), (SyncOutcome.THROTTLED, "badge-error"), (SyncOutcome.UNCHANGED, "badge-ok"),
    ("", "badge-neutral"), (None, "badge-neutral"),
])
def test_it_colours_each_status_as_it_means(status, badge):
    assert badge_class(status) == badge


@pytest.mark.parametrize("choices", [JobStatus, RunOutcome, BackupStatus, SyncOutcome, DeliveryStatus])
def test_it_knows_every_status_the_apps_have(choices):
    """A new status that nobody gave a colour would show as neutral grey, like "queued": say so here."""
    coloured = {status for statuses in BADGE_TONES.values() for status in statuses}
    uncoloured = {JobStatus.QUEUED}

    assert set(choices.values) - coloured <= uncoloured
