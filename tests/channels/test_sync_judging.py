"""A group sync's judging once its jobs are done, without a feed server: on SQLite and PostgreSQL both.

test_sync.py drives the same code through real feeds; this file sets up the results directly, to
check what the judging writes, and what it costs when an outage fails a whole group at once.
"""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from channels import sync
from channels.models import Channel, ChannelSync, GroupSync, SyncOutcome
from tests.factories import ChannelFactory, ChannelGroupFactory

pytestmark = pytest.mark.django_db

UTC = dt.timezone.utc
CHECKED = dt.datetime(2026, 5, 2, 5, 30, tzinfo=UTC)
LATER = CHECKED + dt.timedelta(minutes=10)


def a_finished_run(size: int, *, name: str, down: int) -> tuple[GroupSync, list[Channel]]:
    """A group sync whose jobs are all done: `down` of its `size` channels got 404, the rest synced."""
    group = ChannelGroupFactory(name=name)
    channels = [ChannelFactory(youtube_id=f"UC{name[:4]:x<4}{n:018d}", group=group) for n in range(size)]
    group_sync = GroupSync.objects.create(group=group, group_name=name, created_at=CHECKED, channels_total=size,
                                          jobs_created=size)
    outcomes = [SyncOutcome.NOT_FOUND] * down + [SyncOutcome.SYNCED] * (size - down)
    ChannelSync.objects.bulk_create([
        ChannelSync(group_sync=group_sync, channel=channel, outcome=outcome, checked_at=CHECKED,
                    settled=outcome == SyncOutcome.SYNCED, http_status=404 if outcome == SyncOutcome.NOT_FOUND else 200)
        for channel, outcome in zip(channels, outcomes)])
    Channel.objects.filter(pk__in=[c.pk for c in channels]).update(last_checked_at=CHECKED)
    Channel.objects.filter(pk__in=[c.pk for c in channels[:down]]).update(last_outcome=SyncOutcome.NOT_FOUND)
    return group_sync, channels


def test_an_outage_blames_no_channel_and_leaves_a_newer_check_alone():
    group_sync, channels = a_finished_run(6, name="News", down=5)
    checked_again = channels[0]  # a Sync now of one channel came in since, and synced it
    Channel.objects.filter(pk=checked_again.pk).update(last_checked_at=LATER, last_outcome=SyncOutcome.SYNCED)

    assert sync.group_sync_finish(group_sync_id=group_sync.pk, now=LATER)

    results = ChannelSync.objects.filter(group_sync=group_sync, channel__in=channels[:5])
    assert {(r.outcome, r.settled) for r in results} == {(SyncOutcome.FEED_OUTAGE, True)}
    by_pk = {c.pk: c for c in Channel.objects.all()}
    assert by_pk[checked_again.pk].last_outcome == SyncOutcome.SYNCED
    for channel in channels[1:5]:
        assert by_pk[channel.pk].last_outcome == SyncOutcome.FEED_OUTAGE
        assert (by_pk[channel.pk].consecutive_failures, by_pk[channel.pk].next_attempt_at) == (0, None)
    group_sync.refresh_from_db()
    assert (group_sync.synced, group_sync.failed, group_sync.outage) == (1, 5, True)


def test_an_outage_of_a_large_group_is_judged_in_as_many_queries_as_a_small_one():
    """The judging runs in the transaction that holds SQLite's write lock: an outage of 60 channels
    must not write them one by one (it took three statements per channel)."""
    small, _ = a_finished_run(4, name="Small", down=3)
    large, _ = a_finished_run(60, name="Large", down=50)

    with CaptureQueriesContext(connection) as judging_small:
        sync.group_sync_finish(group_sync_id=small.pk, now=LATER)
    with CaptureQueriesContext(connection) as judging_large:
        sync.group_sync_finish(group_sync_id=large.pk, now=LATER)

    assert len(judging_large.captured_queries) == len(judging_small.captured_queries)
    assert ChannelSync.objects.filter(group_sync=large, outcome=SyncOutcome.FEED_OUTAGE, settled=True).count() == 50


def test_failures_that_are_no_outage_back_off_each_channel():
    group_sync, channels = a_finished_run(6, name="Lawyers", down=2)

    sync.group_sync_finish(group_sync_id=group_sync.pk, now=LATER)

    for channel in Channel.objects.filter(pk__in=[c.pk for c in channels[:2]]):
        assert channel.consecutive_failures == 1 and channel.next_attempt_at == CHECKED + sync.BACKOFF_BASE
        assert channel.last_outcome == SyncOutcome.NOT_FOUND
    assert not ChannelSync.objects.filter(group_sync=group_sync, settled=False).exists()
    group_sync.refresh_from_db()
    assert (group_sync.synced, group_sync.failed, group_sync.outage) == (4, 2, False)


def test_failures_of_exactly_half_the_group_are_no_outage():
    # An outage is most of the group: half of it failing is each channel's own failure.
    group_sync, channels = a_finished_run(6, name="Courts", down=3)

    sync.group_sync_finish(group_sync_id=group_sync.pk, now=LATER)

    for channel in Channel.objects.filter(pk__in=[c.pk for c in channels[:3]]):
        assert channel.consecutive_failures == 1 and channel.next_attempt_at == CHECKED + sync.BACKOFF_BASE
        assert channel.last_outcome == SyncOutcome.NOT_FOUND
    group_sync.refresh_from_db()
    assert (group_sync.synced, group_sync.failed, group_sync.outage, group_sync.note) == (3, 3, False, "")


def test_an_outage_says_so_in_the_message_of_the_run_that_made_the_sync_once(monkeypatch):
    from scheduling import services as scheduling_services
    from scheduling.models import ScheduleRun

    run = ScheduleRun.objects.create(schedule_name="Sync News", trigger="scheduled", due_at=CHECKED,
                                     outcome="dispatched", message="6 jobs created.")
    group_sync, _ = a_finished_run(6, name="News", down=5)
    GroupSync.objects.filter(pk=group_sync.pk).update(schedule_run=run)
    notes = []
    # channels writes no ledger row itself: scheduling's service does.
    monkeypatch.setattr(sync, "schedule_run_add_note",
                        lambda **kwargs: notes.append(kwargs) or scheduling_services.schedule_run_add_note(**kwargs))

    sync.group_sync_finish(group_sync_id=group_sync.pk, now=LATER)
    sync.group_sync_finish(group_sync_id=group_sync.pk, now=LATER)  # a job retried by hand later

    assert [note["run_id"] for note in notes] == [run.pk]
    run.refresh_from_db()
    assert run.message == ("6 jobs created. Feed outage: 5 of 6 channels checked got 404 or a server error; "
                           "not counted against the channels.")
