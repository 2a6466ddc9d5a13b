"""A group sync's judging once its jobs are done, without a feed server: on SQLite and PostgreSQL both.

test_sync.py drives the same code through real feeds; this file sets up the results directly, to
check what the judging writes, and what it costs when an outage fails a whole group at once.
"""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from channels import sync
from channels.models import Channel, ChannelGroup, ChannelSync, GroupSync, SyncOutcome
from tests.factories import ChannelFactory, ChannelGroupFactory

pytestmark = pytest.mark.django_db

UTC = dt.timezone.utc
CHECKED = dt.datetime(2026, 5, 2, 5, 30, tzinfo=UTC)
LATER = CHECKED + dt.timedelta(minutes=10)
HOUR = dt.timedelta(hours=1)


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


# --------------------------------------------------------------------------- make mutation: what the judging decides

def a_sync_with(*outcomes: SyncOutcome, name: str = "Courts", failures: int = 0, errors: dict | None = None,
                checked: dt.datetime = CHECKED) -> tuple[GroupSync, list[Channel]]:
    """A group sync whose jobs are all done, one channel per outcome, each with `failures` in a row before."""
    group = ChannelGroupFactory(name=name)
    channels = [ChannelFactory(youtube_id=f"UC{name[:4]:x<4}{n:018d}", group=group, consecutive_failures=failures,
                               last_checked_at=checked, last_outcome=outcome)
                for n, outcome in enumerate(outcomes)]
    group_sync = GroupSync.objects.create(group=group, group_name=name, created_at=checked,
                                          channels_total=len(outcomes), jobs_created=len(outcomes))
    ChannelSync.objects.bulk_create([
        ChannelSync(group_sync=group_sync, channel=channel, outcome=outcome, checked_at=checked,
                    error=(errors or {}).get(outcome, ""),
                    settled=outcome in (*sync.SUCCESS_OUTCOMES, *sync.NOT_BLAMED))
        for channel, outcome in zip(channels, outcomes)])
    return group_sync, channels


def backoff_of(channel: Channel) -> tuple[int, dt.timedelta | None]:
    channel.refresh_from_db()
    waits = channel.next_attempt_at - channel.last_checked_at if channel.next_attempt_at else None
    return channel.consecutive_failures, waits


@pytest.mark.parametrize(("before", "waits"), [
    (0, dt.timedelta(minutes=10)), (1, dt.timedelta(minutes=20)), (2, dt.timedelta(minutes=40)),
    (7, dt.timedelta(minutes=10 * 2 ** 7)),  # 21 h 20 min: still doubling
    (8, dt.timedelta(hours=24)), (38, dt.timedelta(hours=24)), (1_000, dt.timedelta(hours=24)),
])
def test_each_failure_in_a_row_doubles_the_wait_up_to_a_day(before, waits):
    """A deleted channel is never disabled: it fails once a day for as long as it stays in its group."""
    group_sync, [gone, *_] = a_sync_with(SyncOutcome.NOT_FOUND, SyncOutcome.SYNCED, SyncOutcome.SYNCED,
                                         failures=before)

    assert sync.group_sync_finish(group_sync_id=group_sync.pk, now=LATER)

    assert backoff_of(gone) == (before + 1, waits)


def test_two_of_three_channels_failing_is_an_outage_but_two_of_two_is_each_channels_own_failure():
    """Most of the group, and at least three channels that got an answer: two failing alone say nothing
    of YouTube's feed."""
    small, two = a_sync_with(SyncOutcome.NOT_FOUND, SyncOutcome.SERVER_ERROR, name="Pair")
    three, of_three = a_sync_with(SyncOutcome.NOT_FOUND, SyncOutcome.SERVER_ERROR, SyncOutcome.SYNCED, name="Trio")

    sync.group_sync_finish(group_sync_id=small.pk, now=LATER)
    sync.group_sync_finish(group_sync_id=three.pk, now=LATER)

    small.refresh_from_db()
    three.refresh_from_db()
    assert (small.outage, [backoff_of(c) for c in two]) == (False, [(1, sync.BACKOFF_BASE)] * 2)
    assert (three.outage, [backoff_of(c) for c in of_three[:2]]) == (True, [(0, None)] * 2)
    assert three.note == "Feed outage: 2 of 3 channels checked got 404 or a server error; not counted against the channels."


def test_in_an_outage_a_channel_that_failed_otherwise_is_still_backed_off():
    """An outage answers 404 or 5xx for everyone; a refused request or an unreadable feed is the channel's own."""
    group_sync, channels = a_sync_with(*[SyncOutcome.NOT_FOUND] * 3, SyncOutcome.THROTTLED, SyncOutcome.BAD_FEED)

    sync.group_sync_finish(group_sync_id=group_sync.pk, now=LATER)

    assert [backoff_of(c) for c in channels] == [(0, None)] * 3 + [(1, sync.BACKOFF_BASE)] * 2
    outcomes = dict(ChannelSync.objects.filter(group_sync=group_sync).values_list("channel_id", "outcome"))
    assert [outcomes[c.pk] for c in channels] == [SyncOutcome.FEED_OUTAGE] * 3 + [SyncOutcome.THROTTLED,
                                                                                   SyncOutcome.BAD_FEED]


def test_hearing_of_a_judged_sync_again_counts_no_failure_twice_and_keeps_its_outage():
    backed_off, failing = a_sync_with(SyncOutcome.NOT_FOUND, SyncOutcome.SYNCED, SyncOutcome.SYNCED, name="Lawyers")
    down, _ = a_sync_with(*[SyncOutcome.NOT_FOUND] * 3, SyncOutcome.SYNCED, name="News")
    for group_sync in (backed_off, down):
        assert sync.group_sync_finish(group_sync_id=group_sync.pk, now=LATER)
    judged = list(GroupSync.objects.order_by("pk").values())

    for group_sync in (backed_off, down):  # a job of each announced again
        assert not sync.group_sync_finish(group_sync_id=group_sync.pk, now=LATER + dt.timedelta(minutes=1))

    assert backoff_of(failing[0]) == (1, sync.BACKOFF_BASE)
    assert list(GroupSync.objects.order_by("pk").values()) == judged
    down.refresh_from_db()
    assert down.outage and down.note.startswith("Feed outage: 3 of 4 channels")


def test_an_older_syncs_failure_does_not_back_off_a_channel_checked_since():
    group_sync, [channel, *_] = a_sync_with(SyncOutcome.NOT_FOUND, SyncOutcome.SYNCED, SyncOutcome.SYNCED)
    Channel.objects.filter(pk=channel.pk).update(last_checked_at=LATER, last_outcome=SyncOutcome.SYNCED)

    sync.group_sync_finish(group_sync_id=group_sync.pk, now=LATER)

    assert backoff_of(channel) == (0, None)


def test_a_job_retried_by_hand_that_fails_again_is_judged_again_and_the_sync_says_when():
    group_sync, [channel, *_] = a_sync_with(SyncOutcome.NOT_FOUND, SyncOutcome.SYNCED, SyncOutcome.SYNCED)
    sync.group_sync_finish(group_sync_id=group_sync.pk, now=LATER)
    again = LATER + dt.timedelta(hours=1)
    # The job's new attempt replaced the channel's row, not judged yet.
    Channel.objects.filter(pk=channel.pk).update(last_checked_at=again)
    ChannelSync.objects.filter(channel=channel).update(checked_at=again, settled=False)

    assert sync.group_sync_finish(group_sync_id=group_sync.pk, now=again)

    assert backoff_of(channel) == (2, 2 * sync.BACKOFF_BASE)
    group_sync.refresh_from_db()
    assert (group_sync.finished_at, group_sync.failed) == (again, 1)


def test_the_outage_note_counts_only_the_channels_the_feed_answered_for():
    """Skipped channels were not asked, and one this server could not reach got no answer at all."""
    group_sync, _ = a_sync_with(*[SyncOutcome.NOT_FOUND] * 3, SyncOutcome.SYNCED, SyncOutcome.UNREACHABLE,
                                SyncOutcome.SKIPPED_BACKOFF, SyncOutcome.SKIPPED_COOLDOWN,
                                errors={SyncOutcome.UNREACHABLE: "This server could not reach feeds.example."})

    sync.group_sync_finish(group_sync_id=group_sync.pk, now=LATER)

    group_sync.refresh_from_db()
    assert (group_sync.synced, group_sync.failed, group_sync.skipped_backoff, group_sync.skipped_cooldown,
            group_sync.outage) == (1, 4, 1, 1, True)
    assert group_sync.note == ("Feed outage: 3 of 4 channels checked got 404 or a server error; not counted against "
                               "the channels. 1 of 5 channels got no answer, not counted against them: This server "
                               "could not reach feeds.example.")


def test_the_groups_card_shows_its_newest_finished_sync_whatever_order_they_finish_in():
    def a_sync(group, created_at):
        made = GroupSync.objects.create(group=group, group_name=group.name, created_at=created_at, channels_total=1)
        ChannelSync.objects.create(group_sync=made, channel=channel, outcome=SyncOutcome.SYNCED, checked_at=created_at,
                                   settled=True)
        return made

    def card(group):
        return ChannelGroup.objects.get(pk=group.pk).last_sync

    news, courts = ChannelGroupFactory(name="News"), ChannelGroupFactory(name="Courts")
    channel = ChannelFactory(group=news)
    oldest, old, new = a_sync(news, CHECKED - HOUR), a_sync(news, CHECKED), a_sync(news, LATER)
    a_sync(news, LATER + HOUR)  # still running
    of_courts = a_sync(courts, CHECKED - 2 * HOUR)

    sync.group_sync_finish(group_sync_id=old.pk, now=LATER)
    assert card(news) == old  # newer ones are still running
    sync.group_sync_finish(group_sync_id=new.pk, now=LATER)
    assert card(news) == new
    sync.group_sync_finish(group_sync_id=oldest.pk, now=LATER)
    assert card(news) == new  # finished last, but older
    sync.group_sync_finish(group_sync_id=of_courts.pk, now=LATER)
    assert card(courts) == of_courts  # another group's newer syncs are not its own


def test_an_outage_leaves_a_channel_synced_since_by_its_own_sync_now_alone():
    group_sync, channels = a_sync_with(*[SyncOutcome.NOT_FOUND] * 3, name="News")
    sync_now = GroupSync.objects.create(group_name="", created_at=LATER, channels_total=1, finished_at=LATER)
    ChannelSync.objects.create(group_sync=sync_now, channel=channels[0], outcome=SyncOutcome.SYNCED,
                               checked_at=LATER, settled=True)
    Channel.objects.filter(pk=channels[0].pk).update(last_checked_at=LATER, last_outcome=SyncOutcome.SYNCED)

    sync.group_sync_finish(group_sync_id=group_sync.pk, now=LATER)

    outcomes = dict(Channel.objects.values_list("pk", "last_outcome"))
    assert [outcomes[c.pk] for c in channels] == [SyncOutcome.SYNCED] + [SyncOutcome.FEED_OUTAGE] * 2


def test_a_run_is_told_of_its_outage_once_even_when_a_job_retried_later_is_judged_again():
    from scheduling.models import ScheduleRun

    run = ScheduleRun.objects.create(schedule_name="Sync News", trigger="scheduled", due_at=CHECKED,
                                     outcome="dispatched", message="4 jobs created.")
    group_sync, channels = a_sync_with(*[SyncOutcome.NOT_FOUND] * 3, SyncOutcome.BAD_FEED, name="News")
    GroupSync.objects.filter(pk=group_sync.pk).update(schedule_run=run)
    sync.group_sync_finish(group_sync_id=group_sync.pk, now=LATER)
    ChannelSync.objects.filter(channel=channels[-1]).update(settled=False)  # its job, retried by hand, failed again

    assert sync.group_sync_finish(group_sync_id=group_sync.pk, now=LATER + HOUR)

    run.refresh_from_db()
    assert run.message == ("4 jobs created. Feed outage: 3 of 4 channels checked got 404 or a server error; "
                           "not counted against the channels.")


def test_a_check_landing_while_a_failure_is_judged_is_not_overwritten(monkeypatch):
    """Between the judge's read of a channel and its write, a Sync now of it succeeds on another worker:
    the newer check has its say."""
    group_sync, [channel, *_] = a_sync_with(SyncOutcome.NOT_FOUND, SyncOutcome.SYNCED, SyncOutcome.SYNCED)
    delay = sync.backoff_delay

    def synced_meanwhile(failures):
        Channel.objects.filter(pk=channel.pk).update(last_checked_at=LATER, last_outcome=SyncOutcome.SYNCED)
        return delay(failures)

    monkeypatch.setattr(sync, "backoff_delay", synced_meanwhile)

    sync.group_sync_finish(group_sync_id=group_sync.pk, now=LATER)

    assert backoff_of(channel) == (0, None)
