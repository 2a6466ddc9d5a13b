"""backups.retention, the pure rules: every rule with fixed timestamps, the zone's edges, what is kept whatever
the rule, and a property test against a brute-force oracle written from the rules' definition."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from backups import retention
from backups.retention import Item, calendar_rule, days_rule, plan

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # a Tuesday


def at(text: str, zone: str = "UTC") -> dt.datetime:
    """A wall time in a zone ("2026-11-30 23:30") as an instant in UTC, as the database gives them."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)


def items(*instants, good=True) -> list[Item]:
    """Backups #1, #2, ... started at these instants."""
    return [Item(n, instant, good=good) for n, instant in enumerate(instants, start=1)]


def kept(result) -> set:
    return set(result.kept)


def deleted(result) -> set:
    return set(result.deleted)


# --- days ------------------------------------------------------------------------------------------

def test_days_deletes_what_started_before_the_cutoff_and_keeps_the_cutoff_itself():
    backups = items(NOW - dt.timedelta(days=30, seconds=1), NOW - dt.timedelta(days=30), NOW - dt.timedelta(days=1))

    result = plan(backups, days_rule(30), now=NOW)

    assert deleted(result) == {1}
    assert kept(result) == {2, 3}
    assert result.deleted[1] == "older than the retention of 30 days"
    assert result.kept[2] == ("within 30 days",)


def test_days_keeps_the_newest_good_backup_however_old():
    backups = items(NOW - dt.timedelta(days=90), NOW - dt.timedelta(days=60))

    result = plan(backups, days_rule(1), now=NOW)

    assert deleted(result) == {1}
    assert result.kept == {2: ("the newest good backup",)}


def test_days_keeps_the_newest_good_backup_behind_newer_bad_ones():
    backups = [Item(1, NOW - dt.timedelta(days=9)), Item(2, NOW - dt.timedelta(days=5), good=False),
               Item(3, NOW - dt.timedelta(days=3), good=False)]

    result = plan(backups, days_rule(1), now=NOW)

    assert kept(result) == {1}
    assert deleted(result) == {2, 3}


# --- calendar: each count alone ----------------------------------------------------------------------

def test_keep_last_keeps_the_n_newest_whatever_their_days():
    backups = items(*(NOW - dt.timedelta(hours=h) for h in (50, 40, 30, 3, 2, 1)))

    result = plan(backups, calendar_rule(last=3), now=NOW)

    assert kept(result) == {4, 5, 6}
    assert deleted(result) == {1, 2, 3}
    assert result.kept[4] == ("one of the last 3",)
    assert result.deleted[1] == "not among the backups the rule keeps (last 3)"


def test_keep_daily_keeps_the_newest_of_each_of_the_last_days_that_have_a_backup():
    backups = items(at("2026-11-26 02:00"), at("2026-11-27 02:00"), at("2026-11-27 14:00"), at("2026-11-30 02:00"),
                    at("2026-11-30 09:00"), at("2026-12-01 01:00"))

    result = plan(backups, calendar_rule(daily=3), now=NOW)

    # Dec 1, Nov 30 and Nov 27 (Nov 28 and 29 have no backup, so they use up no place); Nov 26 is the fourth.
    assert kept(result) == {6, 5, 3}
    assert deleted(result) == {1, 2, 4}
    assert result.kept[5] == ("the newest of Mon 30 Nov 2026",)


def test_keep_weekly_counts_iso_weeks_from_monday():
    backups = items(at("2026-11-15 12:00"),  # Sun, week 46
                    at("2026-11-16 12:00"),  # Mon, week 47
                    at("2026-11-22 12:00"),  # Sun, week 47
                    at("2026-11-23 12:00"),  # Mon, week 48
                    at("2026-11-29 23:00"))  # Sun, week 48

    result = plan(backups, calendar_rule(weekly=2), now=NOW)

    assert kept(result) == {5, 3}
    assert result.kept[3] == ("the newest of week 47 of 2026",)
    assert deleted(result) == {1, 2, 4}


def test_keep_monthly_keeps_the_newest_of_each_month():
    backups = items(at("2026-08-31 23:00"), at("2026-09-01 00:30"), at("2026-09-30 12:00"), at("2026-10-15 12:00"),
                    at("2026-11-02 12:00"), at("2026-11-20 12:00"))

    result = plan(backups, calendar_rule(monthly=3), now=NOW)

    assert kept(result) == {6, 4, 3}
    assert result.kept[3] == ("the newest of September 2026",)
    assert deleted(result) == {1, 2, 5}


def test_a_count_with_places_left_keeps_the_oldest_backup_as_restic_does():
    backups = items(at("2026-11-30 01:00"), at("2026-11-30 02:00"), at("2026-12-01 01:00"))

    result = plan(backups, calendar_rule(daily=7), now=NOW)

    # Two days have backups, seven places: the newest of each day, and the oldest backup of all.
    assert kept(result) == {3, 2, 1}
    assert result.kept[1] == ("the oldest good backup, kept while daily places are left",)


def test_the_oldest_is_not_kept_once_the_places_are_used_up():
    backups = items(at("2026-11-29 01:00"), at("2026-11-30 01:00"), at("2026-11-30 02:00"), at("2026-12-01 01:00"))

    result = plan(backups, calendar_rule(daily=2), now=NOW)

    assert kept(result) == {4, 3}
    assert deleted(result) == {1, 2}


# --- calendar: the counts together -------------------------------------------------------------------

def test_the_counts_add_up_and_a_backup_kept_by_several_says_each_reason():
    # One backup a day at 02:00 UTC for 100 days up to Dec 1 (#1 = Aug 24 ... #100 = Dec 1).
    first = at("2026-08-24 02:00")
    backups = items(*(first + dt.timedelta(days=n) for n in range(100)))

    result = plan(backups, calendar_rule(last=2, daily=5, weekly=3, monthly=4), now=NOW)

    newest = {b.id: b.at for b in backups}
    kept_days = sorted(newest[i].date().isoformat() for i in result.kept)
    assert kept_days == [
        "2026-09-30",  # monthly: September (the fourth month; August is a fifth)
        "2026-10-31",  # monthly: October
        "2026-11-22",  # weekly: Sunday of week 47 (the third week)
        "2026-11-27", "2026-11-28",  # daily
        "2026-11-29",  # daily, and week 48's newest
        "2026-11-30",  # daily, last 2, and November's newest
        "2026-12-01",  # daily, last 2, week 49, December
    ]
    assert result.kept[100] == ("the newest good backup", "one of the last 2", "the newest of Tue 1 Dec 2026",
                                "the newest of week 49 of 2026", "the newest of December 2026")
    assert len(result.deleted) == 92


# --- the zone's edges ------------------------------------------------------------------------------------

def test_days_are_the_schedules_days_not_utcs():
    # 22:30 and 23:30 UTC on Nov 30 are two days in Berlin (23:30 CET Nov 30, 00:30 CET Dec 1): one in UTC.
    backups = items(at("2026-11-30 22:30"), at("2026-11-30 23:30"))

    assert kept(plan(backups, calendar_rule(daily=1, zone="UTC"), now=NOW)) == {2}
    berlin = plan(backups, calendar_rule(daily=2, zone="Europe/Berlin"), now=NOW)
    assert kept(berlin) == {1, 2}
    assert berlin.kept[1] == ("the newest of Mon 30 Nov 2026",)
    assert kept(plan(backups, calendar_rule(daily=2, zone="UTC"), now=NOW)) == {1, 2}  # only as the oldest
    assert plan(backups, calendar_rule(daily=2, zone="UTC"), now=NOW).kept[1] == (
        "the oldest good backup, kept while daily places are left",)


def test_weeks_and_months_turn_at_the_schedules_midnight():
    # Sunday 23:30 in New York is Monday 04:30 UTC: the same ISO week there, the next one in UTC.
    sunday_night = at("2026-11-29 23:30", "America/New_York")
    saturday = at("2026-11-28 12:00", "America/New_York")
    backups = items(saturday, sunday_night, sunday_night + dt.timedelta(hours=1))  # #3 is Monday 00:30 there

    new_york = plan(backups, calendar_rule(weekly=1, zone="America/New_York"), now=NOW)
    assert kept(new_york) == {3}
    utc = plan(backups, calendar_rule(weekly=1, zone="UTC"), now=NOW)
    assert kept(utc) == {3}
    two_weeks = plan(backups, calendar_rule(weekly=2, zone="America/New_York"), now=NOW)
    assert kept(two_weeks) == {3, 2}  # Sunday night is week 48 there
    assert kept(plan(backups, calendar_rule(weekly=2, zone="UTC"), now=NOW)) == {3, 1}  # in UTC #2 is week 49 too

    # 31 Oct 23:30 in Tokyo is 14:30 UTC: October in both; 1 Nov 00:30 in Tokyo is still October in UTC.
    october = at("2026-10-31 23:30", "Asia/Tokyo")
    november = at("2026-11-01 00:30", "Asia/Tokyo")
    assert kept(plan(items(october, november), calendar_rule(monthly=1, zone="Asia/Tokyo"), now=NOW)) == {2}
    assert kept(plan(items(october, november), calendar_rule(monthly=2, zone="Asia/Tokyo"), now=NOW)) == {1, 2}
    utc_months = plan(items(october, november), calendar_rule(monthly=2, zone="UTC"), now=NOW)
    assert utc_months.kept[1] == ("the oldest good backup, kept while monthly places are left",)


def test_a_fall_back_night_is_one_day_of_25_hours():
    # Europe/Berlin's clocks go back at 03:00 CEST on 25 Oct 2026: 00:30 CEST and 23:30 CET are one day.
    start = at("2026-10-25 00:30", "Europe/Berlin")
    end = at("2026-10-25 23:30", "Europe/Berlin")
    assert end - start == dt.timedelta(hours=24)
    next_day = at("2026-10-26 00:10", "Europe/Berlin")
    backups = items(start, end, next_day)

    result = plan(backups, calendar_rule(daily=2, zone="Europe/Berlin"), now=NOW)

    assert kept(result) == {3, 2}
    assert result.kept[2] == ("the newest of Sun 25 Oct 2026",)
    assert deleted(result) == {1}


# --- whatever the rule --------------------------------------------------------------------------------

@pytest.mark.parametrize("rule", [days_rule(1), calendar_rule(last=1), calendar_rule(monthly=1)])
def test_the_newest_good_backup_is_always_kept(rule):
    backups = [Item(1, NOW - dt.timedelta(days=400)), Item(2, NOW - dt.timedelta(days=2), good=False)]

    result = plan(backups, rule, now=NOW)

    assert 1 in result.kept


def test_a_bad_backup_takes_no_calendar_place_and_goes_once_older_than_the_newest_good():
    backups = [Item(1, at("2026-11-29 01:00")), Item(2, at("2026-11-29 02:00"), good=False),
               Item(3, at("2026-11-30 01:00")), Item(4, at("2026-12-01 01:00"), good=False)]

    result = plan(backups, calendar_rule(daily=2), now=NOW)

    # Nov 29's place goes to #1, the good one, though #2 is newer; #4 is newer than every good backup.
    assert kept(result) == {1, 3, 4}
    assert deleted(result) == {2}
    assert result.deleted[2].startswith("not a good backup")
    assert result.kept[4] == ("not verified yet or failed its verification, but newer than the newest good backup",)


@pytest.mark.parametrize("rule", [days_rule(1), calendar_rule(last=1)])
def test_with_no_good_backup_everything_stays(rule):
    backups = items(NOW - dt.timedelta(days=90), NOW - dt.timedelta(days=60), good=False)

    result = plan(backups, rule, now=NOW)

    assert result.deleted == {}
    assert set(result.kept) == {1, 2}


@pytest.mark.parametrize("rule", [days_rule(1), calendar_rule(last=1)])
def test_a_file_the_app_did_not_name_is_left_alone_never_deleted(rule):
    backups = [Item(1, NOW - dt.timedelta(days=90), ours=False), Item(2, NOW - dt.timedelta(days=60)),
               Item(3, NOW - dt.timedelta(hours=1))]

    result = plan(backups, rule, now=NOW)

    assert deleted(result) == {2}
    assert set(result.left_alone) == {1}
    assert "left alone" in result.left_alone[1]


def test_the_backup_a_run_is_about_to_make_is_the_newest():
    backups = [*items(NOW - dt.timedelta(hours=2), NOW), Item(None, NOW)]

    result = plan(backups, calendar_rule(last=1), now=NOW)

    assert kept(result) == {None}
    assert deleted(result) == {1, 2}


# --- the rule in words, and rules that cannot be -------------------------------------------------------

def test_the_rule_says_itself_in_words():
    assert days_rule(30).describe() == "keeps 30 days"
    assert days_rule(1).describe() == "keeps 1 day"
    assert calendar_rule(last=3, daily=7, weekly=4, monthly=6).describe() == "keeps last 3, 7 daily, 4 weekly, 6 monthly"
    assert calendar_rule(daily=7, monthly=1).describe() == "keeps 7 daily, 1 monthly"


@pytest.mark.parametrize("make", [
    lambda: days_rule(0),
    lambda: calendar_rule(),
    lambda: calendar_rule(last=-1, daily=2),
    lambda: calendar_rule(last=1, zone="Mars/Olympus"),
    lambda: retention.Rule(mode="hourly"),
])
def test_a_rule_that_keeps_nothing_or_makes_no_sense_cannot_be_made(make):
    with pytest.raises(Exception):  # noqa: B017 (ValueError, or zoneinfo's for the zone)
        make()


# --- the property: the rules against a brute-force oracle ------------------------------------------------

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Pacific/Chatham", "Australia/Lord_Howe"]
START = dt.datetime(2025, 1, 1, tzinfo=UTC)
SPAN_MINUTES = 2 * 366 * 24 * 60


def oracle(backups: list[Item], rule: retention.Rule, now: dt.datetime) -> tuple[set, set, set]:
    """(kept, deleted, left alone), from the definition, one backup at a time, without the walk."""
    def newer(a: Item, b: Item) -> bool:
        key = lambda i: (i.at, float("inf") if i.id is None else i.id)  # noqa: E731
        return key(a) > key(b)

    good = [b for b in backups if b.good]
    if not good:
        return {b.id for b in backups}, set(), set()
    newest_good = next(b for b in good if not any(newer(o, b) for o in good))
    zone = ZoneInfo(rule.zone)
    keys = {
        "daily": lambda b: b.at.astimezone(zone).date(),
        "weekly": lambda b: b.at.astimezone(zone).isocalendar()[:2],
        "monthly": lambda b: (b.at.astimezone(zone).year, b.at.astimezone(zone).month),
    }

    def keeps(b: Item) -> bool:
        if b is newest_good:
            return True
        if rule.mode == retention.DAYS:
            return b.at >= now - dt.timedelta(days=rule.days)
        if not b.good:
            return newer(b, newest_good)
        oldest = not any(newer(b, o) for o in good)
        newer_good = [o for o in good if newer(o, b)]
        if rule.last and len(newer_good) < rule.last:
            return True
        for name, count in (("daily", rule.daily), ("weekly", rule.weekly), ("monthly", rule.monthly)):
            if not count:
                continue
            key = keys[name]
            newer_periods = {key(o) for o in newer_good}
            newest_of_its_period = key(b) not in newer_periods
            if newest_of_its_period and len(newer_periods) < count:
                return True
            if oldest and len(newer_periods) < count:  # restic: places left when the walk reaches the oldest
                return True
        return False

    kept_ids = {b.id for b in backups if keeps(b)}
    drop = [b for b in backups if b.id not in kept_ids]
    return kept_ids, {b.id for b in drop if b.ours}, {b.id for b in drop if not b.ours}


backup_lists = st.lists(
    st.tuples(st.integers(0, SPAN_MINUTES), st.booleans(), st.booleans()).map(
        lambda t: (START + dt.timedelta(minutes=t[0]), t[1] or t[0] % 7 != 0, t[2] or t[0] % 11 != 0)),
    max_size=40,
)
calendar_rules = st.builds(
    lambda last, daily, weekly, monthly, zone: calendar_rule(last=last, daily=daily, weekly=weekly,
                                                             monthly=monthly or (0 if last + daily + weekly else 1),
                                                             zone=zone),
    st.integers(0, 6), st.integers(0, 12), st.integers(0, 8), st.integers(0, 12), st.sampled_from(ZONES))
rules = st.one_of(st.integers(1, 400).map(days_rule), calendar_rules)


@settings(max_examples=400, deadline=None)
@given(raw=backup_lists, rule=rules, new_backup=st.booleans(), clustered=st.booleans())
# Found by this test: a backup not yet verified, started in the same second as the newest good one (a later
# row), is newer than it, and kept.
@example(raw=[(START, True, False), (START, False, False)], rule=calendar_rule(monthly=1), new_backup=False,
         clustered=False)
def test_the_plan_agrees_with_the_oracle(raw, rule, new_backup, clustered):
    now = START + dt.timedelta(minutes=SPAN_MINUTES + 60)
    if clustered:  # many backups a day and near midnight: squeeze the instants into a fortnight
        raw = [(START + (instant - START) / 50, good, ours) for instant, good, ours in raw]
    backups = [Item(n, instant, good=good, ours=ours) for n, (instant, good, ours) in enumerate(raw, start=1)]
    if new_backup:
        backups.append(Item(None, now))

    result = plan(backups, rule, now=now)

    expected_kept, expected_deleted, expected_left = oracle(backups, rule, now)
    assert set(result.kept) == expected_kept
    assert set(result.deleted) == expected_deleted
    assert set(result.left_alone) == expected_left
    assert len(result.kept) + len(result.deleted) + len(result.left_alone) == len(backups)


# --- the reasons in words, as the retention preview shows them -------------------------------------


def test_the_reasons_count_days_in_words_and_say_when_no_good_backup_is_there_to_fall_back_on():
    one_day = plan(items(NOW - dt.timedelta(hours=2), NOW - dt.timedelta(hours=1)), days_rule(1), now=NOW)
    two_days = plan(items(NOW - dt.timedelta(hours=1)), days_rule(2), now=NOW)
    none_good = plan(items(NOW - dt.timedelta(days=90), NOW, good=False), days_rule(1), now=NOW)

    assert one_day.kept == {1: ("within 1 day",), 2: ("the newest good backup", "within 1 day")}
    assert two_days.kept == {1: ("the newest good backup", "within 2 days")}
    assert none_good.kept == {1: ("no good backup to fall back on",), 2: ("no good backup to fall back on",)}

