"""The formatting every page shares: instants, durations, status badges, who did something."""

import datetime as dt

import pytest

from backups.models import BackupStatus
from channels.models import SyncOutcome
from common.actors import Via
from common.formatting import BADGE_TONES, actor_words, badge_class, format_instant, human_duration
from common.templatetags.formatting import since, when
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


WINTER = dt.datetime(2026, 12, 4, 19, 37, 51, tzinfo=dt.timezone.utc)
SUMMER = dt.datetime(2025, 7, 1, 0, 5, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize(("instant", "zone", "text"), [
    (WINTER, "UTC", "Fri 4 Dec 2026, 19:37 UTC"),
    (WINTER, "Europe/Berlin", "Fri 4 Dec 2026, 20:37 CET"),
    (SUMMER, "Europe/Berlin", "Tue 1 Jul 2025, 02:05 CEST"),
    (SUMMER, "America/New_York", "Mon 30 Jun 2025, 20:05 EDT"),  # the day before, on that wall clock
    (WINTER, "Mars/Olympus_Mons", "Fri 4 Dec 2026, 19:37 UTC"),  # a zone tzdata no longer knows: UTC, said so
    (WINTER, "", "Fri 4 Dec 2026, 19:37 UTC"),
    # 02:30 twice on the night Berlin's clocks go back: each keeps its zone.
    (dt.datetime(2026, 10, 25, 0, 30, tzinfo=dt.timezone.utc), "Europe/Berlin", "Sun 25 Oct 2026, 02:30 CEST"),
    (dt.datetime(2026, 10, 25, 1, 30, tzinfo=dt.timezone.utc), "Europe/Berlin", "Sun 25 Oct 2026, 02:30 CET"),
    (WINTER.replace(tzinfo=None), "UTC", "Fri 4 Dec 2026, 19:37 UTC"),  # stored instants are UTC
    (None, "UTC", ""),
])
def test_it_writes_every_instant_in_one_format_with_its_zone(instant, zone, text):
    assert format_instant(instant, zone) == text


def test_the_template_filter_defaults_to_utc():
    assert when(WINTER) == "Fri 4 Dec 2026, 19:37 UTC"
    assert when(WINTER, "Europe/Berlin") == "Fri 4 Dec 2026, 20:37 CET"


@pytest.mark.parametrize(("name", "via", "words"), [
    ("", Via.SYSTEM, "by the system"),  # not "by the system via The system"
    ("", Via.COMMAND, "from the command line"),
    ("alice", Via.COMMAND, "by alice from the command line"),
    ("alice", Via.PAGE, "by alice on the pages"),
    ("alice", Via.API, "by alice through the API"),
    ("alice", Via.ADMIN, "by alice in the admin"),
    ("", Via.API, "by an unknown user through the API"),
])
def test_it_says_who_did_something_in_one_phrase(name, via, words):
    assert actor_words(name, via) == words
