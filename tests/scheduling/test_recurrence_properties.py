"""Property tests: the recurrence engine against an independent brute-force oracle.

The oracle steps through UTC minutes, converts each to local wall time and decides firing by the rules
directly, with its own cron field matcher (no croniter). Instants are concentrated around every DST
transition of 2015-2030 in a set of awkward zones (30-minute shifts, +05:45, +12:45, a 2-hour shift,
zones that dropped DST, negative DST).
"""

import datetime as dt
import functools
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduling.recurrence import Recurrence

UTC = dt.timezone.utc
MINUTE = dt.timedelta(minutes=1)
HOUR = dt.timedelta(hours=1)

ZONES = (
    "UTC",
    "Europe/Berlin",
    "Europe/London",
    "Europe/Dublin",  # negative DST in tzdata
    "America/New_York",
    "America/St_Johns",  # -03:30 / -02:30
    "America/Sao_Paulo",  # DST at midnight, abolished 2019
    "America/Santiago",
    "Australia/Lord_Howe",  # 30-minute shift
    "Asia/Kathmandu",  # +05:45, no DST
    "Pacific/Chatham",  # +12:45 / +13:45
    "Pacific/Auckland",
    "Antarctica/Troll",  # 2-hour shift
    "Africa/Casablanca",  # DST suspended around Ramadan
    "Asia/Tehran",  # DST at midnight, abolished 2022
)

SETTINGS = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


# --------------------------------------------------------------------------- transitions


@functools.cache
def transitions(zone_name: str) -> tuple[tuple[dt.datetime, dt.timedelta, dt.timedelta], ...]:
    """(first UTC minute with the new offset, offset before, offset after), 2015-2030, by scanning."""
    zone = ZoneInfo(zone_name)

    def offset(t):
        return t.astimezone(zone).utcoffset()

    found = []
    t, end, step = dt.datetime(2015, 1, 1, tzinfo=UTC), dt.datetime(2031, 1, 1, tzinfo=UTC), dt.timedelta(hours=6)
    while t < end:
        if offset(t) != offset(t + step):
            lo, hi = t, t + step  # offset(lo) != offset(hi): bisect to the minute
            while hi - lo > MINUTE:
                mid = lo + (hi - lo) // 2
                mid -= dt.timedelta(seconds=mid.second, microseconds=mid.microsecond)
                if mid == lo:
                    mid += MINUTE
                if offset(mid) == offset(lo):
                    lo = mid
                else:
                    hi = mid
            found.append((hi, offset(lo), offset(hi)))
        t += step
    return tuple(found)


@st.composite
def zone_and_instant(draw, spread_hours=40):
    """A zone and an aware UTC instant, usually within `spread_hours` of one of its transitions."""
    zone = draw(st.sampled_from(ZONES))
    known = transitions(zone)
    if known and draw(st.integers(0, 9)) > 0:
        base = draw(st.sampled_from(known))[0]
    else:
        base = dt.datetime(2015, 1, 1, tzinfo=UTC) + dt.timedelta(days=draw(st.integers(0, 16 * 365)))
    minutes = draw(st.integers(-spread_hours * 60, spread_hours * 60))
    seconds = draw(st.sampled_from([0, 0, 0, 0, 1, 30, 59]))
    return zone, base + dt.timedelta(minutes=minutes, seconds=seconds)


@st.composite
def wall_time_near_transitions(draw, zone):
    """A wall time of day, half the time close to the local time of one of the zone's transitions."""
    known = transitions(zone)
    if known and draw(st.booleans()):
        moment, before, _ = draw(st.sampled_from(known))
        local = (moment + before).replace(tzinfo=None) + dt.timedelta(minutes=draw(st.integers(-90, 90)))
        return local.time()
    return dt.time(draw(st.integers(0, 23)), draw(st.sampled_from([0, 1, 15, 29, 30, 31, 44, 45, 59])))


# --------------------------------------------------------------------------- the oracle

MONTH_NAMES = {name: i for i, name in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split(), 1)}
DOW_NAMES = {name: i for i, name in enumerate("sun mon tue wed thu fri sat".split())}


def oracle_field(text: str, low: int, high: int, names: dict) -> set[int]:
    values = set()
    for item in text.lower().split(","):
        span, _, step = item.partition("/")
        if span == "*":
            first, last = low, high
        else:
            ends = [int(x) if x.isdigit() else names[x] for x in span.split("-")]
            first, last = ends[0], ends[-1]
        values.update(range(first, last + 1, int(step) if step else 1))
    return values


def oracle_cron_matcher(expr: str):
    """A wall-time predicate with crontab(5) semantics, written without croniter."""
    minute, hour, dom, month, dow = expr.split()
    minutes = oracle_field(minute, 0, 59, {})
    hours = oracle_field(hour, 0, 23, {})
    days = oracle_field(dom, 1, 31, {})
    months = oracle_field(month, 1, 12, MONTH_NAMES)
    weekdays = {d % 7 for d in oracle_field(dow, 0, 7, DOW_NAMES)}
    either = not dom.startswith("*") and not dow.startswith("*")

    def matches(wall: dt.datetime) -> bool:
        if wall.minute not in minutes or wall.hour not in hours or wall.month not in months:
            return False
        on_day, on_weekday = wall.day in days, wall.isoweekday() % 7 in weekdays
        return (on_day or on_weekday) if either else (on_day and on_weekday)

    return matches


def oracle_runs(zone_name: str, matches, real_time: bool, after: dt.datetime, until: dt.datetime) -> list[dt.datetime]:
    """Every run in (after, until], by stepping through UTC minutes.

    real_time=False (daily, weekly, fixed-time cron): a minute fires when its wall time matches and it
    is the wall time's first occurrence (fold == 0); a matching wall time that the clock jumped over
    fires at that wall time read with the offset in force before the jump.
    real_time=True (cron with '*' minute or hour): a minute fires when its wall time matches, full stop.
    """
    zone = ZoneInfo(zone_name)
    minute = (after - 3 * HOUR).replace(second=0, microsecond=0)
    previous = (minute - MINUTE).astimezone(zone)
    fired = set()
    while minute <= until:
        local = minute.astimezone(zone)
        wall = local.replace(tzinfo=None, fold=0)
        if matches(wall) and (real_time or local.fold == 0):
            fired.add(minute)
        previous_wall = previous.replace(tzinfo=None, fold=0)
        if not real_time and wall - previous_wall > MINUTE:  # the clock jumped over some wall times
            skipped = previous_wall + MINUTE
            while skipped < wall:
                if matches(skipped):
                    fired.add((skipped - previous.utcoffset()).replace(tzinfo=UTC))
                skipped += MINUTE
        previous = local
        minute += MINUTE
    return sorted(run for run in fired if after < run <= until)


def engine_runs(rec: Recurrence, after: dt.datetime, until: dt.datetime, limit: int) -> list[dt.datetime]:
    """The engine's runs in (after, until], at most `limit`, plus whatever follows (for the boundary)."""
    runs, t = [], after
    while len(runs) < limit:
        t = rec.next_after(t)
        assert t.tzinfo is UTC and t > after
        runs.append(t)
        if t > until:
            break
    return runs


def assert_agrees(rec: Recurrence, expected: list[dt.datetime], after: dt.datetime, until: dt.datetime, limit=60):
    got = engine_runs(rec, after, until, limit)
    within = [r for r in got if r <= until]
    assert within == expected[: len(within)], f"{rec} after {after.isoformat()}"
    if len(within) < limit:  # the engine found no more runs in the window than the oracle
        assert len(within) == len(expected), f"{rec} after {after.isoformat()}"
    assert got == sorted(set(got))


# --------------------------------------------------------------------------- properties


@SETTINGS
@given(data=st.data())
def test_daily_agrees_with_the_oracle(data):
    zone, after = data.draw(zone_and_instant())
    at = data.draw(wall_time_near_transitions(zone))
    until = after + dt.timedelta(hours=50)
    expected = oracle_runs(zone, lambda w: w.time() == at, False, after, until)
    assert expected  # a day always has its run (shifted if need be)
    assert_agrees(Recurrence("daily", timezone=zone, time=at), expected, after, until)


@SETTINGS
@given(data=st.data())
def test_weekly_agrees_with_the_oracle(data):
    zone, after = data.draw(zone_and_instant())
    at = data.draw(wall_time_near_transitions(zone))
    local_day = after.astimezone(ZoneInfo(zone)).weekday()
    extra = data.draw(st.sets(st.integers(0, 6), max_size=3))
    days = tuple(sorted(extra | {data.draw(st.sampled_from([local_day, (local_day + 1) % 7]))}))
    until = after + dt.timedelta(hours=50)
    expected = oracle_runs(zone, lambda w: w.time() == at and w.weekday() in days, False, after, until)
    assert_agrees(Recurrence("weekly", timezone=zone, time=at, days=days), expected, after, until)


def number_list(draw, low, high, most=3):
    return ",".join(str(n) for n in sorted(draw(st.sets(st.integers(low, high), min_size=1, max_size=most))))


@st.composite
def fixed_minute_or_hour(draw, low, high):
    """A cron minute/hour field that does not start with '*'."""
    kind = draw(st.sampled_from(["one", "list", "range", "range-step"]))
    if kind == "one":
        return str(draw(st.integers(low, high)))
    if kind == "list":
        return number_list(draw, low, high)
    first = draw(st.integers(low, high))
    last = draw(st.integers(first, min(high, first + 4 if high == 23 else first + 40)))
    return f"{first}-{last}" + (f"/{draw(st.integers(1, 15))}" if kind == "range-step" else "")


@st.composite
def day_fields(draw):
    dom = draw(st.sampled_from(["*", "*", "*", "*", "1-15", "*/2", "13", "1,15,29", "20-31", "*/1"]))
    month = draw(st.sampled_from(["*", "*", "*", "*", "*/2", "jan-jun", "3,10", "oct-dec", "4"]))
    dow = draw(st.sampled_from(["*", "*", "*", "*", "0", "7", "1-5", "sun", "mon-fri", "*/2", "6,0", "5-7", "2"]))
    return f"{dom} {month} {dow}"


@st.composite
def fixed_cron(draw, zone):
    """Cron expressions that follow the daily rules, with hours near the zone's transition times."""
    known = transitions(zone)
    if known and draw(st.booleans()):
        moment, before, _ = draw(st.sampled_from(known))
        hour = (moment + before).hour
        hours = st.sampled_from([str(hour), str((hour - 1) % 24), f"{max(hour - 1, 0)}-{min(hour + 1, 23)}"])
        hour_field = draw(hours)
    else:
        hour_field = draw(fixed_minute_or_hour(0, 23))
    return f"{draw(fixed_minute_or_hour(0, 59))} {hour_field} {draw(day_fields())}"


@st.composite
def wildcard_cron(draw):
    """Cron expressions whose minute or hour field starts with '*' (real-time semantics)."""
    shape = draw(st.sampled_from(["minute-step", "hour-star", "both"]))
    if shape == "minute-step":
        minute, hour = f"*/{draw(st.sampled_from([5, 7, 10, 15, 20, 30, 45]))}", draw(fixed_minute_or_hour(0, 23))
    elif shape == "hour-star":
        minute = draw(fixed_minute_or_hour(0, 59))
        hour = draw(st.sampled_from(["*", "*/2", "*/3", "*/5", "*/1"]))
    else:
        minute, hour = f"*/{draw(st.sampled_from([10, 15, 30]))}", draw(st.sampled_from(["*", "*/2", "*/4"]))
    return f"{minute} {hour} {draw(day_fields())}"


@SETTINGS
@given(data=st.data())
def test_fixed_time_cron_agrees_with_the_oracle(data):
    zone, after = data.draw(zone_and_instant())
    expr = data.draw(fixed_cron(zone))
    until = after + dt.timedelta(hours=30)
    expected = oracle_runs(zone, oracle_cron_matcher(expr), False, after, until)
    assert_agrees(Recurrence("cron", timezone=zone, cron_expr=expr), expected, after, until)


@SETTINGS
@given(data=st.data())
def test_wildcard_cron_agrees_with_the_oracle(data):
    zone, after = data.draw(zone_and_instant())
    expr = data.draw(wildcard_cron())
    until = after + dt.timedelta(hours=26)
    expected = oracle_runs(zone, oracle_cron_matcher(expr), True, after, until)
    assert_agrees(Recurrence("cron", timezone=zone, cron_expr=expr), expected, after, until)


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_every_minute_cron_agrees_with_the_oracle_right_at_transitions(data):
    zone, after = data.draw(zone_and_instant(spread_hours=3))
    until = after + dt.timedelta(hours=4)
    expected = oracle_runs(zone, lambda w: True, True, after, until)
    assert_agrees(Recurrence("cron", timezone=zone, cron_expr="* * * * *"), expected, after, until, limit=300)


@settings(max_examples=200, deadline=None)
@given(
    data=st.data(),
    minutes=st.one_of(st.integers(5, 180), st.sampled_from([5, 15, 60, 90, 1440, 10080])),
    anchor_shift=st.integers(-10 * 24 * 3600, 10 * 24 * 3600),
)
def test_interval_agrees_with_anchor_arithmetic(data, minutes, anchor_shift):
    zone, after = data.draw(zone_and_instant())
    anchor = (after + dt.timedelta(seconds=anchor_shift)).astimezone(ZoneInfo(zone))
    step = dt.timedelta(minutes=minutes)
    expected = anchor.astimezone(UTC)
    while expected > after:
        expected -= step
    while expected <= after:
        expected += step
    rec = Recurrence("interval", timezone=zone, interval_minutes=minutes, anchor=anchor)
    runs = rec.next_runs(after, 3)
    assert runs == [expected, expected + step, expected + 2 * step]
    assert all(r.tzinfo is UTC for r in runs)


@SETTINGS
@given(data=st.data())
def test_fixed_cron_equals_daily_and_weekly(data):
    zone, after = data.draw(zone_and_instant())
    at = data.draw(wall_time_near_transitions(zone))
    days = tuple(sorted(data.draw(st.sets(st.integers(0, 6), min_size=1))))
    every_day = Recurrence("cron", timezone=zone, cron_expr=f"{at.minute} {at.hour} * * *")
    assert every_day.next_runs(after, 4) == Recurrence("daily", timezone=zone, time=at).next_runs(after, 4)
    cron_days = ",".join(str((d + 1) % 7) for d in days)  # cron counts from Sunday = 0
    on_days = Recurrence("cron", timezone=zone, cron_expr=f"{at.minute} {at.hour} * * {cron_days}")
    weekly = Recurrence("weekly", timezone=zone, time=at, days=days)
    assert on_days.next_runs(after, 4) == weekly.next_runs(after, 4)


@SETTINGS
@given(data=st.data(), count=st.integers(1, 20))
def test_next_runs_chain_next_after(data, count):
    zone, after = data.draw(zone_and_instant())
    expr = data.draw(st.one_of(fixed_cron(zone), wildcard_cron()))
    rec = Recurrence("cron", timezone=zone, cron_expr=expr)
    runs = rec.next_runs(after, count)
    assert len(runs) == count and runs == sorted(set(runs)) and runs[0] > after
    for earlier, later in zip(runs, runs[1:]):
        assert rec.next_after(earlier) == later
        assert rec.next_after(later - dt.timedelta(microseconds=1)) == later


def test_the_transition_scan_sees_the_awkward_ones():
    berlin = {t.date().isoformat() for t, _, _ in transitions("Europe/Berlin")}
    assert {"2026-03-29", "2026-10-25"} <= berlin and len(berlin) == 32
    lord_howe = transitions("Australia/Lord_Howe")
    assert {after - before for _, before, after in lord_howe} == {dt.timedelta(minutes=30), dt.timedelta(minutes=-30)}
    assert max(t for t, _, _ in transitions("America/Sao_Paulo")).year == 2019
    assert {after - before for _, before, after in transitions("Antarctica/Troll")} == {2 * HOUR, -2 * HOUR}
    assert transitions("Asia/Kathmandu") == () and transitions("UTC") == ()
