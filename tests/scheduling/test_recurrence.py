"""Named cases for the pure recurrence engine (no Django, no database)."""

import datetime as dt
import locale
import time

import pytest

from scheduling import recurrence
from scheduling.recurrence import (
    KINDS,
    MIN_INTERVAL_MINUTES,
    WEEKDAYS,
    Recurrence,
    RecurrenceError,
    parse_days,
    parse_time,
    parse_zone,
    validate_cron,
)

UTC = dt.timezone.utc


def at(text: str) -> dt.datetime:
    """An aware instant from ISO text, e.g. at("2026-03-29T01:30Z")."""
    return dt.datetime.fromisoformat(text)


def daily(hhmm: str, zone: str = "UTC") -> Recurrence:
    return Recurrence("daily", timezone=zone, time=parse_time(hhmm))


def cron(expr: str, zone: str = "UTC") -> Recurrence:
    return Recurrence("cron", timezone=zone, cron_expr=expr)


def walls(runs, zone: str) -> list[str]:
    """Runs as local wall times with their UTC offset, for readable assertions."""
    return [r.astimezone(parse_zone(zone)).strftime("%m-%d %H:%M%z") for r in runs]


def runs_between(rec: Recurrence, start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    """Runs in [start, end)."""
    out, t = [], start - dt.timedelta(microseconds=1)
    while (t := rec.next_after(t)) < end:
        out.append(t)
    return out


# --------------------------------------------------------------------------- constants


def test_it_exposes_the_constants_others_code_against():
    assert WEEKDAYS == ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    assert KINDS == ("daily", "weekly", "interval", "cron")
    assert MIN_INTERVAL_MINUTES == 5
    assert issubclass(RecurrenceError, ValueError)


# --------------------------------------------------------------------------- daily / weekly


def test_it_runs_daily_at_the_local_time():
    rec = daily("05:30", "Europe/Berlin")
    assert rec.next_after(at("2026-01-10T12:00Z")) == at("2026-01-11T04:30Z")
    assert rec.next_after(at("2026-07-10T12:00Z")) == at("2026-07-11T03:30Z")


def test_it_returns_aware_utc_datetimes():
    run = daily("05:30", "Europe/Berlin").next_after(at("2026-01-10T12:00+09:00"))  # 03:00Z
    assert run.tzinfo is UTC
    assert run == at("2026-01-10T04:30Z")


def test_it_shifts_a_berlin_run_in_the_spring_forward_gap_by_the_gap():
    # 2026-03-29: clocks jump 02:00 CET -> 03:00 CEST, so 02:30 does not exist; it runs at 03:30 CEST.
    rec = daily("02:30", "Europe/Berlin")
    runs = rec.next_runs(at("2026-03-28T12:00Z"), 3)
    assert runs == [at("2026-03-29T01:30Z"), at("2026-03-30T00:30Z"), at("2026-03-31T00:30Z")]
    assert walls(runs, "Europe/Berlin")[0] == "03-29 03:30+0200"


def test_it_matches_datetime_combine_for_a_nonexistent_time():
    zone = parse_zone("Europe/Berlin")
    expected = dt.datetime.combine(dt.date(2026, 3, 29), dt.time(2, 30), tzinfo=zone).astimezone(UTC)
    assert daily("02:30", "Europe/Berlin").next_after(at("2026-03-29T00:00Z")) == expected


def test_it_runs_a_repeated_berlin_time_once_at_its_first_occurrence():
    # 2026-10-25: clocks fall back 03:00 CEST -> 02:00 CET, so 02:30 happens at 00:30Z and at 01:30Z.
    rec = daily("02:30", "Europe/Berlin")
    assert rec.next_runs(at("2026-10-24T12:00Z"), 2) == [at("2026-10-25T00:30Z"), at("2026-10-26T01:30Z")]
    # Between the two passes, and during the second one, the next run is the following day.
    assert rec.next_after(at("2026-10-25T00:30Z")) == at("2026-10-26T01:30Z")
    assert rec.next_after(at("2026-10-25T01:29Z")) == at("2026-10-26T01:30Z")


def test_it_handles_new_york_spring_forward_and_fall_back():
    assert daily("02:30", "America/New_York").next_after(at("2026-03-07T12:00Z")) == at("2026-03-08T07:30Z")
    assert walls([at("2026-03-08T07:30Z")], "America/New_York") == ["03-08 03:30-0400"]
    runs = daily("01:30", "America/New_York").next_runs(at("2026-10-31T12:00Z"), 2)
    assert runs == [at("2026-11-01T05:30Z"), at("2026-11-02T06:30Z")]  # 01:30 EDT only, then EST


def test_it_shifts_by_lord_howes_thirty_minute_gap():
    # Australia/Lord_Howe: 2026-10-04 02:00 +10:30 -> 02:30 +11:00. 02:15 is skipped -> runs at 02:45.
    run = daily("02:15", "Australia/Lord_Howe").next_after(at("2026-10-03T00:00Z"))
    assert run == at("2026-10-03T15:45Z")
    assert walls([run], "Australia/Lord_Howe") == ["10-04 02:45+1100"]


def test_it_runs_lord_howes_repeated_half_hour_once():
    # 2026-04-05 02:00 +11:00 -> 01:30 +10:30: 01:45 happens twice; only the first counts.
    runs = daily("01:45", "Australia/Lord_Howe").next_runs(at("2026-04-04T00:00Z"), 2)
    assert runs == [at("2026-04-04T14:45Z"), at("2026-04-05T15:15Z")]


def test_it_runs_weekly_on_local_weekdays():
    rec = Recurrence("weekly", timezone="Asia/Kathmandu", time=parse_time("00:10"), days=parse_days(["mon", "fri"]))
    runs = rec.next_runs(at("2026-05-01T00:00Z"), 3)  # a Friday; 00:10 +05:45 is Thursday 18:25Z
    assert walls(runs, "Asia/Kathmandu") == ["05-04 00:10+0545", "05-08 00:10+0545", "05-11 00:10+0545"]
    assert runs[0] == at("2026-05-03T18:25Z")


def test_it_runs_weekly_across_a_transition():
    rec = Recurrence("weekly", timezone="Europe/Berlin", time=parse_time("02:30"), days=(6,))
    runs = rec.next_runs(at("2026-03-20T00:00Z"), 3)
    assert runs == [at("2026-03-22T01:30Z"), at("2026-03-29T01:30Z"), at("2026-04-05T00:30Z")]
    assert walls(runs, "Europe/Berlin") == ["03-22 02:30+0100", "03-29 03:30+0200", "04-05 02:30+0200"]


def test_it_treats_all_seven_days_like_daily():
    weekly = Recurrence("weekly", time=parse_time("09:00"), days=tuple(range(7)), timezone="America/Sao_Paulo")
    assert weekly.next_runs(at("2018-11-01T00:00Z"), 10) == daily("09:00", "America/Sao_Paulo").next_runs(
        at("2018-11-01T00:00Z"), 10
    )


def test_it_shifts_sao_paulos_midnight_gap():
    # Until 2019 Sao Paulo's DST began at midnight: 2018-11-04 00:00 -03 -> 01:00 -02.
    run = daily("00:00", "America/Sao_Paulo").next_after(at("2018-11-03T12:00Z"))
    assert walls([run], "America/Sao_Paulo") == ["11-04 01:00-0200"]


def test_it_accepts_days_as_names_in_any_order_and_normalises_them():
    rec = Recurrence("weekly", time=dt.time(4), days=("fri", 0, "WED", 0))
    assert rec.days == (0, 2, 4)


# --------------------------------------------------------------------------- interval


def test_it_keeps_intervals_on_the_anchor_grid():
    rec = Recurrence("interval", interval_minutes=15, anchor=at("2026-01-01T10:07Z"))
    assert rec.next_after(at("2026-01-01T10:59Z")) == at("2026-01-01T11:07Z")
    assert rec.next_runs(at("2026-01-01T11:07Z"), 2) == [at("2026-01-01T11:22Z"), at("2026-01-01T11:37Z")]


def test_it_extends_the_interval_grid_backwards_from_a_future_anchor():
    rec = Recurrence("interval", interval_minutes=60, anchor=at("2030-06-01T12:34:56Z"))
    assert rec.next_after(at("2026-01-01T00:00Z")) == at("2026-01-01T00:34:56Z")


def test_it_counts_interval_time_as_real_elapsed_time_across_dst():
    rec = Recurrence("interval", timezone="Europe/Berlin", interval_minutes=60, anchor=at("2026-03-28T23:00Z"))
    runs = rec.next_runs(at("2026-03-28T23:00Z"), 3)
    assert runs == [at("2026-03-29T00:00Z"), at("2026-03-29T01:00Z"), at("2026-03-29T02:00Z")]
    assert walls(runs, "Europe/Berlin") == ["03-29 01:00+0100", "03-29 03:00+0200", "03-29 04:00+0200"]
    fall = Recurrence("interval", timezone="Europe/Berlin", interval_minutes=30, anchor=at("2026-10-24T00:00Z"))
    assert len(runs_between(fall, at("2026-10-24T22:00Z"), at("2026-10-25T04:00Z"))) == 12


def test_it_anchors_an_interval_without_anchor_on_the_utc_clock():
    rec = Recurrence("interval", interval_minutes=15)
    assert rec.next_after(at("2026-01-01T10:59:30Z")) == at("2026-01-01T11:00Z")


def test_it_accepts_an_anchor_in_any_zone():
    anchor = dt.datetime(2026, 1, 1, 10, 7, tzinfo=parse_zone("Europe/Berlin"))
    rec = Recurrence("interval", interval_minutes=30, anchor=anchor)
    assert rec.next_after(at("2026-01-01T09:00Z")) == at("2026-01-01T09:07Z")


# --------------------------------------------------------------------------- cron


def test_it_runs_fifteen_minute_cron_in_both_passes_of_berlins_repeated_hour():
    rec = cron("*/15 * * * *", "Europe/Berlin")
    runs = runs_between(rec, at("2026-10-25T00:00Z"), at("2026-10-25T02:00Z"))
    assert len(runs) == 8
    assert walls(runs, "Europe/Berlin") == [
        "10-25 02:00+0200", "10-25 02:15+0200", "10-25 02:30+0200", "10-25 02:45+0200",
        "10-25 02:00+0100", "10-25 02:15+0100", "10-25 02:30+0100", "10-25 02:45+0100",
    ]


def test_it_skips_fifteen_minute_cron_in_berlins_missing_hour():
    rec = cron("*/15 * * * *", "Europe/Berlin")
    runs = runs_between(rec, at("2026-03-29T00:30Z"), at("2026-03-29T01:31Z"))
    assert walls(runs, "Europe/Berlin") == [
        "03-29 01:30+0100", "03-29 01:45+0100", "03-29 03:00+0200", "03-29 03:15+0200", "03-29 03:30+0200",
    ]


def test_it_runs_fixed_time_cron_once_on_both_berlin_transition_nights():
    rec = cron("30 2 * * *", "Europe/Berlin")
    spring = rec.next_runs(at("2026-03-28T12:00Z"), 2)
    assert spring == [at("2026-03-29T01:30Z"), at("2026-03-30T00:30Z")]
    assert walls(spring, "Europe/Berlin")[0] == "03-29 03:30+0200"
    assert rec.next_runs(at("2026-10-24T12:00Z"), 2) == [at("2026-10-25T00:30Z"), at("2026-10-26T01:30Z")]


def test_it_orders_a_shifted_cron_run_after_a_real_earlier_wall_time():
    # 02:30 shifts to 03:30 CEST, which comes after the real 03:00 CEST run.
    rec = cron("0,30 2,3 * * *", "Europe/Berlin")
    runs = runs_between(rec, at("2026-03-29T00:00Z"), at("2026-03-29T03:00Z"))
    assert walls(runs, "Europe/Berlin") == ["03-29 03:00+0200", "03-29 03:30+0200"]


def test_it_does_not_invent_a_new_york_three_am_run_for_two_hourly_cron():
    rec = cron("0 */2 * * *", "America/New_York")
    runs = runs_between(rec, at("2026-03-08T04:00Z"), at("2026-03-08T13:00Z"))
    assert walls(runs, "America/New_York") == [
        "03-08 00:00-0500", "03-08 04:00-0400", "03-08 06:00-0400", "03-08 08:00-0400",
    ]


def test_it_runs_hourly_cron_twice_in_new_yorks_repeated_hour():
    rec = cron("0 * * * *", "America/New_York")
    runs = runs_between(rec, at("2026-11-01T04:00Z"), at("2026-11-01T08:00Z"))
    assert walls(runs, "America/New_York") == [
        "11-01 00:00-0400", "11-01 01:00-0400", "11-01 01:00-0500", "11-01 02:00-0500",
    ]


def test_it_finds_the_next_leap_day():
    rec = cron("0 0 29 2 *")
    assert rec.next_after(at("2025-01-01T00:00Z")) == at("2028-02-29T00:00Z")
    assert rec.next_after(at("2028-02-29T00:00Z")) == at("2032-02-29T00:00Z")
    assert rec.next_after(at("2096-03-01T00:00Z")) == at("2104-02-29T00:00Z")  # 2100 is no leap year


def test_it_ors_day_of_month_and_day_of_week_when_both_are_restricted():
    runs = cron("0 0 13 * 5").next_runs(at("2026-02-01T00:00Z"), 5)
    assert [r.strftime("%a %d") for r in runs] == ["Fri 06", "Fri 13", "Fri 20", "Fri 27", "Fri 06"]
    runs = cron("0 0 1,15 * 1").next_runs(at("2026-06-01T00:00Z"), 4)  # Jun 1 is a Monday
    assert [r.strftime("%a %m-%d") for r in runs] == ["Mon 06-08", "Mon 06-15", "Mon 06-22", "Mon 06-29"]
    assert cron("0 0 1-31 * 1").next_runs(at("2026-06-01T00:00Z"), 2) == [at("2026-06-02T00:00Z"), at("2026-06-03T00:00Z")]


def test_it_ands_the_day_fields_when_one_starts_with_a_star_like_vixie_cron():
    # crontab(5): the fields are OR-ed only if both are restricted, "i.e., don't start with *".
    runs = cron("0 0 */2 * 1").next_runs(at("2026-01-01T00:00Z"), 3)  # Mondays on odd days of the month
    assert [r.date().isoformat() for r in runs] == ["2026-01-05", "2026-01-19", "2026-02-09"]


def test_it_treats_day_of_week_zero_and_seven_and_names_alike():
    start = at("2026-01-01T00:00Z")
    sundays = cron("0 0 * * 0").next_runs(start, 3)
    assert cron("0 0 * * 7").next_runs(start, 3) == sundays
    assert cron("0 0 * * SUN").next_runs(start, 3) == sundays
    assert [r.weekday() for r in sundays] == [6, 6, 6]
    weekend = cron("0 0 * * fri-sun").next_runs(start, 3)  # a range ending on sun means 5-7
    assert [r.strftime("%a") for r in weekend] == ["Fri", "Sat", "Sun"]
    assert cron("0 0 * * 5-7").next_runs(start, 3) == weekend


def test_it_supports_month_names_ranges_steps_and_lists():
    runs = cron("5 8-10/2 * jan-feb *").next_runs(at("2026-02-28T09:00Z"), 3)
    assert runs == [at("2026-02-28T10:05Z"), at("2027-01-01T08:05Z"), at("2027-01-01T10:05Z")]


def test_it_follows_the_zone_for_cron():
    assert cron("0 9 * * *", "Asia/Kathmandu").next_after(at("2026-01-01T00:00Z")) == at("2026-01-01T03:15Z")
    assert cron("0 9 * * *", "Pacific/Chatham").next_after(at("2026-01-01T00:00Z")) == at("2026-01-01T19:15Z")


def test_it_answers_rare_cron_quickly():
    rec = cron("0 4 * * 1,3,5", "Europe/Berlin")
    leap = cron("0 0 29 2 *", "Europe/Berlin")
    rec.next_after(at("2026-03-20T00:00Z"))  # warm caches
    started = time.perf_counter()
    for _ in range(200):
        rec.next_after(at("2026-03-20T00:00Z"))
        leap.next_after(at("2026-03-20T00:00Z"))
    assert (time.perf_counter() - started) / 400 < 0.005  # typically ~0.15 ms


# --------------------------------------------------------------------------- common semantics


@pytest.mark.parametrize(
    "rec, run",
    [
        (daily("05:30", "Europe/Berlin"), "2026-01-11T04:30Z"),
        (cron("*/15 * * * *"), "2026-01-11T04:30Z"),
        (cron("30 2 * * *", "Europe/Berlin"), "2026-03-29T01:30Z"),
        (Recurrence("interval", interval_minutes=5, anchor=at("2026-01-01T00:00Z")), "2026-01-11T04:30Z"),
    ],
)
def test_it_returns_the_following_run_when_the_instant_is_a_run(rec, run):
    assert rec.next_after(at(run)) > at(run)
    assert rec.next_after(at(run) - dt.timedelta(microseconds=1)) == at(run)


def test_it_returns_the_requested_number_of_runs():
    rec = cron("0 * * * *")
    runs = rec.next_runs(at("2026-01-01T00:00Z"), 5)
    assert runs == [at(f"2026-01-01T0{h}:00Z") for h in range(1, 6)]
    assert rec.next_runs(at("2026-01-01T00:00Z"), 0) == []
    with pytest.raises(ValueError):
        rec.next_runs(at("2026-01-01T00:00Z"), -1)


@pytest.mark.parametrize("kind", ["daily", "interval", "cron"])
def test_it_rejects_a_naive_instant(kind):
    rec = {"daily": daily("01:00"), "interval": Recurrence("interval", interval_minutes=5), "cron": cron("* * * * *")}[kind]
    with pytest.raises(ValueError, match="aware"):
        rec.next_after(dt.datetime(2026, 1, 1))


# --------------------------------------------------------------------------- describe


@pytest.mark.parametrize(
    "rec, text",
    [
        (daily("05:30"), "Every day at 05:30 (UTC)"),
        (Recurrence("weekly", timezone="Europe/Berlin", time=dt.time(4), days=(0, 2, 4)),
         "Every Mon, Wed, Fri at 04:00 (Europe/Berlin)"),
        (Recurrence("weekly", time=dt.time(4), days=tuple(range(7))), "Every day at 04:00 (UTC)"),
        (Recurrence("weekly", time=dt.time(9), days=tuple(range(5))), "Every Mon–Fri at 09:00 (UTC)"),
        (Recurrence("weekly", time=dt.time(23, 59), days=(6,)), "Every Sun at 23:59 (UTC)"),
        (Recurrence("interval", interval_minutes=15), "Every 15 minutes"),
        (Recurrence("interval", interval_minutes=5), "Every 5 minutes"),
        (Recurrence("interval", interval_minutes=60), "Every hour"),
        (Recurrence("interval", interval_minutes=120), "Every 2 hours"),
        (Recurrence("interval", interval_minutes=90), "Every 90 minutes"),
        (cron("30 2 * * *", "Europe/Berlin"), "At 02:30 (Europe/Berlin)"),
        (cron("*/15 * * * *"), "Every 15 minutes (UTC)"),
        (cron("0 * * * *"), "Every hour (UTC)"),
        (cron("30 14 * * *"), "At 14:30 (UTC)"),
        (cron("0 4 * * 1,3,5", "Europe/Berlin"), "At 04:00, only on Monday, Wednesday, and Friday (Europe/Berlin)"),
        (cron("0 0 29 2 *"), "At 00:00, on day 29 of the month, only in February (UTC)"),
        (cron("0 0 13 * 5"), "At 00:00, on day 13 of the month, or on Friday (UTC)"),
        (cron("0 0 1,15 * 1-5"), "At 00:00, on day 1 and 15 of the month, or Monday through Friday (UTC)"),
        (cron("0 0 */2 * 1"), "At 00:00, every 2 days, but only on Monday (UTC)"),
    ],
)
def test_it_describes_schedules(rec, text):
    assert rec.describe() == text


def test_it_describes_cron_in_english_whatever_the_machine_locale(monkeypatch):
    monkeypatch.setattr(locale, "getlocale", lambda *args: ("de_DE", "UTF-8"))
    recurrence._describe_cron.cache_clear()
    assert cron("45 23 * * *").describe() == "At 23:45 (UTC)"


def test_it_normalises_the_stored_cron_expression():
    assert cron("  */15   *  * * * ").cron_expr == "*/15 * * * *"


# --------------------------------------------------------------------------- parsing and validation


@pytest.mark.parametrize("text, value", [("00:00", dt.time(0, 0)), ("05:30", dt.time(5, 30)), ("23:59", dt.time(23, 59))])
def test_it_parses_times(text, value):
    assert parse_time(text) == value


@pytest.mark.parametrize("bad", ["5:30", "24:00", "07:60", "0730", "07:30:00", " 07:30", "07:30\n", "noon", "7.30", "", None, 730, "٠٧:٣٠"])
def test_it_rejects_bad_times(bad):
    with pytest.raises(RecurrenceError) as info:
        parse_time(bad)
    assert info.value.field == "schedule_time"
    assert "HH:MM" in str(info.value)


def test_it_parses_days():
    assert parse_days(["FRI", "mon", "wed", "mon"]) == (0, 2, 4)
    assert parse_days(WEEKDAYS) == tuple(range(7))


@pytest.mark.parametrize("bad, named", [([], "at least one"), (["mon", "funday"], "funday"), ([3], "3"), ("mon", "list")])
def test_it_rejects_bad_days_naming_the_value(bad, named):
    with pytest.raises(RecurrenceError) as info:
        parse_days(bad)
    assert info.value.field == "schedule_days"
    assert named in str(info.value)


@pytest.mark.parametrize("name", ["UTC", "Europe/Berlin", "Australia/Lord_Howe", "America/Argentina/Buenos_Aires"])
def test_it_parses_zones(name):
    assert parse_zone(name).key == name


# posix/ and right/ are folders of the tz database (leap-second and POSIX variants) that ZoneInfo opens but
# that are not zone names: a schedule in them would not survive a machine whose database lacks them.
@pytest.mark.parametrize("bad", ["Mars/Olympus", "", "utc+2", "Europe/", "europe/berlin", " UTC", "../etc/passwd", "localtime", None,
                                 "posix/Europe/Berlin", "right/UTC", ["UTC"]])
def test_it_rejects_bad_zones(bad):
    with pytest.raises(RecurrenceError) as info:
        parse_zone(bad)
    assert info.value.field == "timezone"


@pytest.mark.parametrize(("typed", "canonical"), [("europe/berlin", "Europe/Berlin"), (" UTC ", "UTC"),
                                                  ("AMERICA/NEW_YORK", "America/New_York"), ("utc", "UTC")])
def test_it_spells_a_zone_typed_in_any_case_as_iana_does(typed, canonical):
    assert recurrence.canonical_zone(typed) == canonical
    assert parse_zone(recurrence.canonical_zone(typed)).key == canonical


@pytest.mark.parametrize("other", ["Mars/Olympus", "", "europe/", "localtime", None, 3])
def test_it_gives_back_a_zone_name_it_cannot_match_as_it_was(other):
    assert recurrence.canonical_zone(other) == other


@pytest.mark.parametrize(("typed", "read"), [
    ("17:30", "17:30"), ("7:30", "07:30"), ("5:30pm", "17:30"), ("5:30 PM", "17:30"), ("5.30pm", "17:30"),
    ("5pm", "17:00"), ("5 p.m.", "17:00"), ("12pm", "12:00"), ("12:15am", "00:15"), ("11:59 p.m.", "23:59"),
    (" 09:05 ", "09:05"),
])
def test_it_reads_times_as_people_type_them(typed, read):
    assert recurrence.read_wall_time(typed) == read
    assert parse_time(read)  # and the strict check takes what it gives


@pytest.mark.parametrize("typed", ["5:30p", "17:30pm", "13pm", "0:30am", "24:00", "5.30", "noon", "5:30 pm!", "", None])
def test_it_reads_no_time_from_text_that_is_none(typed):
    assert recurrence.read_wall_time(typed) is None


@pytest.mark.parametrize(
    "expr",
    ["*/15 * * * *", "0 0 29 2 *", "0 4 * * 1,3,5", "0 0 * * 7", "0 0 1 jan *", "0 9 * * mon-fri", "5 8-10/2 * * *", "*/61 * * * *"],
)
def test_it_accepts_valid_cron(expr):
    assert validate_cron(expr) == expr


@pytest.mark.parametrize(
    "bad, hint",
    [
        ("* * * *", "5 fields"),
        ("0 0 * * * *", "5 fields"),
        ("@daily", "5 fields"),
        ("hello", "5 fields"),
        ("", "5 fields"),
        ("61 * * * *", "minute"),
        ("* 24 * * *", "hour"),
        ("* * 0 * *", "day-of-month"),
        ("* * * 13 *", "month"),
        ("* * * * 8", "day-of-week"),
        ("*/0 * * * *", "step"),
        ("5/15 * * * *", "step"),
        ("30-10 * * * *", "backwards"),
        ("0 0 L * *", "day-of-month"),
        ("0 0 * * 1#2", "day-of-week"),
        ("0 0 ? * *", "day-of-month"),
        ("H 0 * * *", "minute"),
        ("1,,2 * * * *", "minute"),
        ("0 0 * * funday", "funday"),
        ("0 0 * * someday", "'someday' is not a valid day-of-week value"),
        ("0 0 1 foo *", "'foo' is not a valid month value"),
        # A month's or a weekday's name means nothing in another field.
        ("jan * * * *", "'jan' is not a valid minute value"),
        ("0 mon * * *", "'mon' is not a valid hour value"),
        ("0 0 1 mon *", "'mon' is not a valid month value"),
        ("0 0 * * jan", "'jan' is not a valid day-of-week value"),
        ("0 0 30 2 *", "never runs"),
        ("0 0 31 4,6,9,11 *", "never runs"),
    ],
)
def test_it_rejects_bad_cron(bad, hint):
    with pytest.raises(RecurrenceError) as info:
        validate_cron(bad)
    assert info.value.field == "cron_expr"
    assert hint in str(info.value)


def test_it_rejects_cron_that_is_not_text():
    with pytest.raises(RecurrenceError) as info:
        validate_cron(["* * * * *"])
    assert (info.value.field, str(info.value)) == ("cron_expr", "A cron expression must be text (got ['* * * * *']).")


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"kind": "hourly"}, "schedule_kind"),
        ({"kind": "daily"}, "schedule_time"),
        ({"kind": "daily", "time": "7:30"}, "schedule_time"),
        ({"kind": "daily", "time": dt.time(7, 30, 15)}, "schedule_time"),
        ({"kind": "daily", "time": dt.time(7, 30, tzinfo=UTC)}, "schedule_time"),
        ({"kind": "daily", "time": dt.time(7, 30), "timezone": "Nowhere/Land"}, "timezone"),
        ({"kind": "weekly", "time": dt.time(7, 30)}, "schedule_days"),
        ({"kind": "weekly", "days": ("mon",)}, "schedule_time"),
        ({"kind": "weekly", "time": dt.time(7, 30, 15), "days": ("mon",)}, "schedule_time"),
        ({"kind": "weekly", "time": dt.time(7, 30), "days": (7,)}, "schedule_days"),
        ({"kind": "weekly", "time": dt.time(7, 30), "days": (True,)}, "schedule_days"),
        ({"kind": "weekly", "time": dt.time(7, 30), "days": ("someday",)}, "schedule_days"),
        ({"kind": "interval"}, "interval_minutes"),
        ({"kind": "interval", "interval_minutes": 4}, "interval_minutes"),
        ({"kind": "interval", "interval_minutes": 0}, "interval_minutes"),
        ({"kind": "interval", "interval_minutes": -15}, "interval_minutes"),
        ({"kind": "interval", "interval_minutes": 7.5}, "interval_minutes"),
        ({"kind": "interval", "interval_minutes": "15"}, "interval_minutes"),
        ({"kind": "interval", "interval_minutes": 10**12}, "interval_minutes"),
        ({"kind": "interval", "interval_minutes": 15, "anchor": dt.datetime(2026, 1, 1)}, "anchor"),
        ({"kind": "interval", "interval_minutes": 15, "timezone": "Europe/"}, "timezone"),
        ({"kind": "cron"}, "cron_expr"),
        ({"kind": "cron", "cron_expr": ""}, "cron_expr"),
        ({"kind": "cron", "cron_expr": "0 0 30 2 *"}, "cron_expr"),
        ({"kind": "cron", "cron_expr": "* * * * *", "timezone": ""}, "timezone"),
        ({"kind": "cron", "cron_expr": "* * * * *", "timezone": ["Europe/Berlin"]}, "timezone"),
    ],
)
def test_it_validates_on_construction_naming_the_field(kwargs, field):
    with pytest.raises(RecurrenceError) as info:
        Recurrence(**kwargs)
    assert info.value.field == field
    assert str(info.value)


def test_it_says_the_minimum_interval_in_the_message():
    with pytest.raises(RecurrenceError, match="at least 5 minutes"):
        Recurrence("interval", interval_minutes=4)


def test_it_ignores_fields_of_other_kinds():
    rec = Recurrence("interval", interval_minutes=15, time=dt.time(4), days=(9,), cron_expr="nonsense")
    assert rec.describe() == "Every 15 minutes"


def test_it_is_immutable_and_hashable():
    rec = daily("05:30")
    with pytest.raises(AttributeError):
        rec.kind = "weekly"
    assert rec == daily("05:30") and hash(rec) == hash(daily("05:30"))


def test_it_keeps_recurrence_errors_picklable():
    import pickle

    error = pickle.loads(pickle.dumps(RecurrenceError("timezone", "Unknown time zone 'X'.")))
    assert (error.field, str(error)) == ("timezone", "Unknown time zone 'X'.")


# --------------------------------------------------------------------------- the editor's preview (make mutation)


def preview_of(rec: Recurrence, after: str, count: int = 1):
    return [(run.label, run.note) for run in recurrence.preview_runs(rec, at(after), count)]


def test_it_previews_a_daily_run_the_spring_gap_moves_with_the_time_asked_for():
    runs = recurrence.preview_runs(daily("02:30", "Europe/Berlin"), at("2026-03-28T12:00Z"), 2)
    assert [run.at for run in runs] == [at("2026-03-29T01:30Z"), at("2026-03-30T00:30Z")]
    assert [run.label for run in runs] == ["Sun 29 Mar 2026, 03:30 CEST", "Mon 30 Mar 2026, 02:30 CEST"]
    assert [run.clock_change for run in runs] == ["forward", None]
    assert [run.shifted_from for run in runs] == [dt.time(2, 30), None]
    assert [run.note for run in runs] == ["Clocks go forward: runs at 03:30 instead of 02:30.", ""]
    assert all(run.differs_from_utc for run in runs)


def test_it_previews_a_weekly_run_the_spring_gap_moves():
    weekly = Recurrence("weekly", timezone="Europe/Berlin", time=parse_time("02:30"), days=parse_days(["sun"]))
    assert preview_of(weekly, "2026-03-28T12:00Z") == [
        ("Sun 29 Mar 2026, 03:30 CEST", "Clocks go forward: runs at 03:30 instead of 02:30.")]


def test_it_previews_a_cron_run_the_spring_gap_moves():
    assert preview_of(cron("30 2 * * *", "Europe/Berlin"), "2026-03-28T12:00Z") == [
        ("Sun 29 Mar 2026, 03:30 CEST", "Clocks go forward: runs at 03:30 instead of 02:30.")]


@pytest.mark.parametrize(("rec", "after", "preview"), [
    (daily("09:00", "Europe/Berlin"), "2026-03-28T12:00Z",
     ("Sun 29 Mar 2026, 09:00 CEST", "Clocks go forward this day.")),
    (cron("0 9 * * *", "Europe/Berlin"), "2026-03-28T12:00Z",
     ("Sun 29 Mar 2026, 09:00 CEST", "Clocks go forward this day.")),
    (cron("*/30 9 * * *", "Europe/Berlin"), "2026-03-28T12:00Z",
     ("Sun 29 Mar 2026, 09:00 CEST", "Clocks go forward this day; runs follow real time.")),
    (Recurrence("interval", timezone="Europe/Berlin", interval_minutes=60), "2026-03-29T05:30Z",
     ("Sun 29 Mar 2026, 08:00 CEST", "Clocks go forward this day; runs follow real time.")),
    (daily("09:00", "Europe/Berlin"), "2026-10-24T12:00Z",
     ("Sun 25 Oct 2026, 09:00 CET", "Clocks go back this day; a time that occurs twice runs once, the first time.")),
    (cron("0 9 * * *", "Europe/Berlin"), "2026-10-24T12:00Z",
     ("Sun 25 Oct 2026, 09:00 CET", "Clocks go back this day; a time that occurs twice runs once, the first time.")),
    (Recurrence("interval", timezone="Europe/Berlin", interval_minutes=60), "2026-10-25T05:30Z",
     ("Sun 25 Oct 2026, 07:00 CET", "Clocks go back this day; runs follow real time, "
                                    "so the repeated hour has runs in both passes.")),
    (daily("09:00", "Europe/Berlin"), "2026-05-03T12:00Z", ("Mon 4 May 2026, 09:00 CEST", "")),
])
def test_it_notes_a_clock_change_on_the_day_of_a_run_in_plain_words(rec, after, preview):
    assert preview_of(rec, after) == [preview]


def test_it_previews_runs_on_utc_without_a_second_clock():
    (run,) = recurrence.preview_runs(daily("09:00"), at("2026-05-03T12:00Z"), 1)
    assert (run.label, run.clock_change, run.shifted_from, run.note) == ("Mon 4 May 2026, 09:00 UTC", None, None, "")
    assert not run.differs_from_utc


def test_it_previews_as_many_runs_as_asked():
    assert len(recurrence.preview_runs(daily("09:00"), at("2026-05-03T12:00Z"), 5)) == 5


@pytest.mark.parametrize(("day", "change"), [
    (dt.date(2026, 3, 29), dt.timedelta(hours=1)), (dt.date(2026, 10, 25), dt.timedelta(hours=-1)),
    (dt.date(2026, 3, 28), dt.timedelta(0)), (dt.date(2026, 3, 30), dt.timedelta(0)),
])
def test_it_knows_how_far_the_clocks_move_on_a_day(day, change):
    assert recurrence.day_change(parse_zone("Europe/Berlin"), day) == change


@pytest.mark.parametrize(("wall", "instant"), [
    (dt.datetime(2026, 3, 29, 2, 30), at("2026-03-29T01:30Z")),  # skipped: shifted forward by the gap
    (dt.datetime(2026, 10, 25, 2, 30), at("2026-10-25T00:30Z")),  # repeated: the first time
    (dt.datetime(2026, 10, 25, 2, 30, fold=1), at("2026-10-25T00:30Z")),  # even a wall read off the second pass
    (dt.datetime(2026, 5, 4, 8, 0, tzinfo=UTC), at("2026-05-04T06:00Z")),  # a zone on the wall time is ignored
])
def test_it_reads_a_wall_time_as_the_daily_schedules_do(wall, instant):
    assert recurrence.wall_to_instant(wall, "Europe/Berlin") == instant
    assert recurrence.wall_to_instant(wall, parse_zone("Europe/Berlin")) == instant


def test_it_labels_an_instant_on_a_zones_wall_clock():
    assert recurrence.local_label(at("2026-05-04T06:00Z"), "Europe/Berlin") == "Mon 4 May 2026, 08:00 CEST"
    assert recurrence.local_label(at("2026-05-04T06:00Z"), parse_zone("Asia/Tokyo")) == "Mon 4 May 2026, 15:00 JST"


def test_it_anchors_an_interval_on_the_whole_minute():
    assert recurrence.whole_minute(at("2026-05-04T08:18:49.123456Z")) == at("2026-05-04T08:18Z")


# --------------------------------------------------------------------------- exact messages and edges (make mutation)


def message_of(error: pytest.ExceptionInfo) -> tuple[str, str]:
    return error.value.field, str(error.value)


def test_it_lists_the_weekdays_to_use_when_one_is_misspelled():
    with pytest.raises(RecurrenceError) as error:
        parse_days(["mon", "funday"])
    assert message_of(error) == ("schedule_days", "Unknown weekday 'funday'; use mon, tue, wed, thu, fri, sat, sun.")


def test_it_asks_for_at_least_one_weekday():
    with pytest.raises(RecurrenceError) as error:
        parse_days([])
    assert message_of(error) == ("schedule_days", "Choose at least one weekday.")


@pytest.mark.parametrize("days", ["mon", 5])
def test_it_asks_for_weekdays_as_a_list_on_construction(days):
    with pytest.raises(RecurrenceError) as error:
        Recurrence("weekly", timezone="UTC", time=dt.time(9), days=days)
    assert message_of(error) == ("schedule_days", f"Choose the weekdays as a list of mon..sun (got {days!r}).")


@pytest.mark.parametrize("empty", [None, ""])
def test_it_asks_for_a_time_when_none_is_given(empty):
    with pytest.raises(RecurrenceError) as error:
        Recurrence("daily", timezone="UTC", time=empty)
    assert message_of(error) == ("schedule_time", "A time (HH:MM) is required for daily schedules.")


def test_it_asks_for_the_minutes_of_an_interval():
    with pytest.raises(RecurrenceError) as error:
        Recurrence("interval", timezone="UTC")
    assert message_of(error) == ("interval_minutes", "A number of minutes is required for interval schedules.")


def test_it_accepts_the_longest_interval_and_no_longer():
    assert Recurrence("interval", timezone="UTC", interval_minutes=recurrence.MAX_INTERVAL_MINUTES)
    with pytest.raises(RecurrenceError):
        Recurrence("interval", timezone="UTC", interval_minutes=recurrence.MAX_INTERVAL_MINUTES + 1)


@pytest.mark.parametrize("count", [True, -1, "3", 2.0])
def test_it_refuses_a_count_of_runs_that_is_not_a_whole_number(count):
    with pytest.raises(ValueError, match=r"^count must be a non-negative integer \(got "):
        daily("09:00").next_runs(at("2026-05-04T00:00Z"), count)


@pytest.mark.parametrize(("day", "change"), [
    (dt.date(2026, 9, 5), dt.timedelta(0)), (dt.date(2026, 9, 6), dt.timedelta(hours=1)),
    (dt.date(2026, 9, 7), dt.timedelta(0)),
])
def test_it_finds_a_clock_change_at_midnight_on_its_own_day(day, change):
    """Chile's clocks jump from 24:00 to 01:00: the day that loses its midnight is the one that changes."""
    assert recurrence.day_change(parse_zone("America/Santiago"), day) == change


def test_it_tells_the_api_and_the_pages_which_way_the_clocks_go():
    forward, back = (recurrence.preview_runs(daily("09:00", "Europe/Berlin"), at(after), 1)[0]
                     for after in ("2026-03-28T12:00Z", "2026-10-24T12:00Z"))
    assert (forward.clock_change, back.clock_change) == ("forward", "back")


# --------------------------------------------------------------------------- cron names and steps (make mutation)


@pytest.mark.parametrize(("expr", "runs"), [
    ("0 9 * * fri-sun", ["2026-05-08T09:00Z", "2026-05-09T09:00Z", "2026-05-10T09:00Z", "2026-05-15T09:00Z"]),
    ("0 9 * * SAT,Sun", ["2026-05-09T09:00Z", "2026-05-10T09:00Z", "2026-05-16T09:00Z", "2026-05-17T09:00Z"]),
    ("0 9 1 feb,Mar *", ["2027-02-01T09:00Z", "2027-03-01T09:00Z", "2028-02-01T09:00Z", "2028-03-01T09:00Z"]),
    ("0 9 1 JAN-feb *", ["2027-01-01T09:00Z", "2027-02-01T09:00Z", "2028-01-01T09:00Z", "2028-02-01T09:00Z"]),
    ("0 9 1 dec *", ["2026-12-01T09:00Z", "2027-12-01T09:00Z", "2028-12-01T09:00Z", "2029-12-01T09:00Z"]),
    ("0 */1 4 5 *", ["2026-05-04T01:00Z", "2026-05-04T02:00Z", "2026-05-04T03:00Z", "2026-05-04T04:00Z"]),
])
def test_it_reads_weekday_and_month_names_in_any_case_and_steps_of_one(expr, runs):
    assert cron(expr).next_runs(at("2026-05-04T00:30Z"), 4) == [at(run) for run in runs]


# --------------------------------------------------------------------------- ranges, inputs and answers (make mutation)


@pytest.mark.parametrize(("expr", "after", "runs"), [
    # 2026-05-08 is a Friday: the working week starts again on Monday.
    ("0 9 * * mon-fri", "2026-05-08T10:00Z", ["2026-05-11T09:00Z", "2026-05-12T09:00Z"]),
    ("0 0-6 * * *", "2026-05-04T06:30Z", ["2026-05-05T00:00Z", "2026-05-05T01:00Z"]),
    ("0 9 1-6 * *", "2026-05-06T10:00Z", ["2026-06-01T09:00Z", "2026-06-02T09:00Z"]),
    ("0 9 1 jan-jun *", "2026-06-01T10:00Z", ["2027-01-01T09:00Z", "2027-02-01T09:00Z"]),
    # Sunday opens a range as 0 ("sun-tue" is Sunday to Tuesday, not a range running backwards from 7).
    ("0 9 * * sun-tue", "2026-05-05T10:00Z", ["2026-05-10T09:00Z", "2026-05-11T09:00Z", "2026-05-12T09:00Z"]),
    # Sunday named at both ends is one day: six days, not the whole week, so Thursday (05-07) has no run.
    ("0 9 * * sun-wed,fri-sun", "2026-05-05T10:00Z", ["2026-05-06T09:00Z", "2026-05-08T09:00Z", "2026-05-09T09:00Z"]),
])
def test_it_runs_only_on_the_values_a_range_names(expr, after, runs):
    assert cron(expr).next_runs(at(after), len(runs)) == [at(run) for run in runs]


def test_it_refuses_a_cron_whose_every_time_the_clocks_skip_in_its_zone():
    # "*/7" is Sunday (0 and 7) and, starting with '*', is AND-ed with days 25-31: the last Sunday of March,
    # when Berlin's clocks jump over 02:00-03:00 every year. A wildcard cron has no run in a skipped hour,
    # so this one never runs in Berlin: refused like "0 0 30 2 *", not left to fail when it is saved.
    with pytest.raises(RecurrenceError) as error:
        cron("*/15 2 25-31 3 */7", "Europe/Berlin")
    assert message_of(error) == ("cron_expr", "The cron expression '*/15 2 25-31 3 */7' never runs in Europe/Berlin: "
                                              "the clocks skip every time it names.")
    # The same fields run in a zone whose clocks keep that hour.
    assert cron("*/15 2 25-31 3 */7", "Asia/Tokyo").next_after(at("2026-01-01T00:00Z")) == at("2026-03-28T17:00Z")


def test_it_gives_up_after_twenty_years_without_a_run():
    # Moscow skipped 02:00-03:00 on the last Sunday of March until 2011: from 1992 the next such run is
    # 2012-03-25, a little more than twenty years on, further than any cron's gap between runs.
    once_skipped = cron("*/15 2 25-31 3 */7", "Europe/Moscow")
    with pytest.raises(RecurrenceError) as error:
        once_skipped.next_after(at("1992-01-01T00:00Z"))
    assert message_of(error) == ("cron_expr", "This schedule has no upcoming run.")


def test_it_finds_the_first_run_of_a_cron_the_clocks_stopped_skipping():
    # Moscow skipped 02:00-03:00 on the last Sunday of March until it kept summer time in 2011.
    once_skipped = cron("*/15 2 25-31 3 */7", "Europe/Moscow")
    assert once_skipped.next_after(at("2000-01-01T00:00Z")) == at("2012-03-24T22:00Z")


@pytest.fixture
def machine_in_tokyo(monkeypatch):
    """The process's own zone (what `astimezone()` without an argument uses) far from UTC."""
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("machine_in_tokyo")
@pytest.mark.parametrize(("rec", "after", "runs"), [
    (cron("*/15 * * * *"), "2026-01-10T10:00Z", ["2026-01-10T10:15:00+00:00"]),
    (daily("05:30", "Europe/Berlin"), "2026-01-10T12:00Z", ["2026-01-11T04:30:00+00:00"]),
    # New York's repeated hour: both passes of 01:00.
    (cron("0 * * * *", "America/New_York"), "2026-11-01T04:30Z",
     ["2026-11-01T05:00:00+00:00", "2026-11-01T06:00:00+00:00", "2026-11-01T07:00:00+00:00"]),
    (Recurrence("interval", interval_minutes=60, anchor=dt.datetime(2026, 1, 1, 10, 7, tzinfo=parse_zone("Europe/Berlin"))),
     "2026-01-01T09:00Z", ["2026-01-01T09:07:00+00:00"]),
    (Recurrence("interval", interval_minutes=15), "2026-01-01T10:59:30Z", ["2026-01-01T11:00:00+00:00"]),
])
def test_it_answers_in_utc_whatever_the_machines_zone(rec, after, runs):
    assert [run.isoformat() for run in rec.next_runs(at(after), len(runs))] == runs


def test_it_takes_the_time_as_hh_mm_text():
    rec = Recurrence("daily", timezone="Europe/Berlin", time="05:30")
    assert rec.time == dt.time(5, 30)
    assert rec.next_after(at("2026-01-10T12:00Z")) == at("2026-01-11T04:30Z")
    weekly = Recurrence("weekly", timezone="Europe/Berlin", time="02:30", days=("sun",))
    assert weekly.next_after(at("2026-03-28T12:00Z")) == at("2026-03-29T01:30Z")


def test_it_names_the_kinds_to_choose_from():
    with pytest.raises(RecurrenceError) as error:
        Recurrence("hourly")
    assert message_of(error) == ("schedule_kind", "Choose one of: daily, weekly, interval, cron (got 'hourly').")


@pytest.mark.parametrize("empty", [None, ""])
def test_it_asks_for_a_cron_expression_when_none_is_given(empty):
    with pytest.raises(RecurrenceError) as error:
        Recurrence("cron", cron_expr=empty)
    assert message_of(error) == ("cron_expr", "A cron expression is required for cron schedules.")


def test_it_keeps_an_interval_anchor_within_the_dates_it_names():
    # 0001-01-01T00:00+14:00 is a valid aware datetime, but its UTC instant lies before year 1.
    with pytest.raises(RecurrenceError) as error:
        Recurrence("interval", interval_minutes=15, anchor=dt.datetime(1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=14))))
    assert message_of(error) == ("anchor", "The interval anchor must be between 0001-01-02 and 9999-12-30 (UTC) "
                                           "(got 0001-01-01T00:00:00+14:00).")
    # The dates named are in the range, to the minute; a minute outside is not.
    first, last = dt.datetime(1, 1, 2, tzinfo=UTC), dt.datetime(9999, 12, 30, 23, 59, tzinfo=UTC)
    assert Recurrence("interval", interval_minutes=15, anchor=first).anchor == first
    assert Recurrence("interval", interval_minutes=15, anchor=last).anchor == last
    for outside in (first - dt.timedelta(minutes=1), last + dt.timedelta(minutes=1)):
        with pytest.raises(RecurrenceError, match="^The interval anchor must be between"):
            Recurrence("interval", interval_minutes=15, anchor=outside)


@pytest.fixture(autouse=True)
def computed_afresh():
    """Each test compiles its cron and reads its zone's offsets itself, not from the module's caches.

    Without it `make mutation` misjudges: its mutant runs fork from the process that ran the clean
    tests, caches full, so a mutant in a cached function was never executed and "survived".
    """
    for cached in (recurrence._compile_cron_text, recurrence._offset_bounds, recurrence._describe_cron,
                   recurrence.known_zones, recurrence._zones_by_folded_name, recurrence._runs_in_zone):
        cached.cache_clear()
