"""The staleness rule of /backups: the newest good backup is stale once it is older than two of the backup
schedule's intervals (the longest gap between its coming runs). No database: the schedule and the backup
are unsaved objects, and the instant is given."""

import datetime as dt

from backups.models import Backup
from backups.selectors import STALE_INTERVALS, Freshness, backup_freshness
from scheduling.models import ScheduledTask

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
DAY = dt.timedelta(days=1)


def daily(**fields) -> ScheduledTask:
    return ScheduledTask(**{"name": "Nightly", "task_type": "DATABASE_BACKUP", "schedule_kind": "daily",
                            "schedule_time": "02:00", "timezone": "UTC", **fields})


def made(ago: dt.timedelta) -> Backup:
    return Backup(status="completed", started_at=NOW - ago, verified_at=NOW - ago)


def freshness(*, schedule=None, age=None) -> Freshness:
    return backup_freshness(schedule=schedule, newest_good=made(age) if age is not None else None, now=NOW)


def test_the_rule_is_two_intervals():
    assert STALE_INTERVALS == 2
    assert freshness(schedule=daily(), age=DAY).limit == 2 * DAY


def test_a_backup_exactly_two_intervals_old_is_not_yet_stale():
    at_the_limit = freshness(schedule=daily(), age=2 * DAY)

    assert (at_the_limit.age, at_the_limit.interval, at_the_limit.limit) == (2 * DAY, DAY, 2 * DAY)
    assert not at_the_limit.stale


def test_a_backup_a_second_older_than_two_intervals_is_stale():
    assert freshness(schedule=daily(), age=2 * DAY + dt.timedelta(seconds=1)).stale


def test_a_fresh_backup_is_not_stale():
    fresh = freshness(schedule=daily(), age=dt.timedelta(hours=10))
    assert not fresh.stale and not fresh.no_good_backup


def test_the_interval_is_the_schedules_longest_gap():
    # Mon and Fri at 02:00: the runs are 4 and 3 days apart; the rule measures by 4.
    weekly = daily(schedule_kind="weekly", schedule_days=["mon", "fri"])
    assert not freshness(schedule=weekly, age=8 * DAY).stale
    assert freshness(schedule=weekly, age=8 * DAY + dt.timedelta(seconds=1)).stale


def test_without_a_schedule_nothing_is_stale():
    no_schedule = freshness(age=365 * DAY)

    assert (no_schedule.interval, no_schedule.limit) == (None, None)
    assert not no_schedule.stale


def test_a_disabled_schedule_still_measures_the_backup():
    # The page shows the disabled schedule (when there is no enabled one) and warns by its timing.
    assert freshness(schedule=daily(enabled=False), age=3 * DAY).stale


def test_a_schedule_whose_timing_does_not_compute_has_no_interval_and_nothing_is_stale():
    broken = freshness(schedule=daily(schedule_kind="cron", cron_expr="not cron"), age=365 * DAY)

    assert broken.interval is None and not broken.stale


def test_no_good_backup_yet_is_its_own_warning_not_staleness():
    none_yet = freshness(schedule=daily())

    assert none_yet.no_good_backup
    assert none_yet.age is None and not none_yet.stale
    assert none_yet.limit == 2 * DAY  # the page still says when a warning would show
