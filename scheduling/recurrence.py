"""The recurrence engine: when does a schedule run next?

Pure Python: no Django, no clock. Every instant is passed in and every instant handed back is an
aware UTC datetime.

Kinds
-----
daily     at HH:MM local time in the schedule's IANA zone.
weekly    on the given weekdays (local date) at HH:MM local time.
interval  every N minutes of real elapsed time on the grid ``anchor + k * N`` (k any integer);
          time zones and DST play no part.
cron      five fields (minute hour day-of-month month day-of-week), Vixie cron semantics.

DST rules (daily, weekly, and cron expressions whose minute and hour fields both do not start with ``*``)
-------------------------------------------------------------------------------------------------------
* A wall time that does not exist (clocks spring forward over it) fires once, shifted forward by the
  length of the gap: 02:30 on a night whose clocks jump from 02:00 to 03:00 fires at 03:30. This is
  what ``datetime.combine(day, t, tzinfo=zone)`` (fold=0) resolves to.
* A wall time that occurs twice (clocks fall back) fires once, at its first occurrence (fold=0).

Cron expressions whose minute or hour field starts with ``*`` (``*/15 * * * *``, ``0 * * * *``,
``5 */2 * * *``) run by real time, like Vixie cron's "wildcard" jobs: every real instant whose local
wall time matches fires, so a repeated hour fires in both passes and a skipped hour simply has no runs.
One whose every time falls in a skipped hour of its zone never runs, and is refused like "0 0 30 2 *".

Day-of-month and day-of-week combine as in Vixie cron and crontab(5): when both fields are restricted
(neither starts with ``*``) a day matches if either matches; otherwise both must match. Day-of-week
0 and 7 are Sunday. Month and weekday names (``jan``, ``mon``) are accepted; croniter extensions
(``L``, ``W``, ``#``, ``?``, ``H``, ``@daily``, seconds or year fields) are not.

How cron runs are found: the fields are parsed here into explicit value sets; croniter only enumerates
*naive* wall-clock times matching those sets with plain AND semantics (a day-field OR is the union of
two such streams). Its own DST handling differs from the rules above, and it has parsing quirks (it
reads a one-value range such as "5-5" as "*"), so it never sees the user's text or a zone. This module
resolves each wall time to real instants. Because resolution can reorder times (a shifted
02:30 -> 03:30 comes after a real 03:00), candidates are collected over a window that provably
contains the answer and the earliest one after the instant wins.
"""

from __future__ import annotations

import datetime as _dt
import functools
import heapq
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from cron_descriptor import DescriptionTypeEnum, ExpressionDescriptor, Options
from croniter import CroniterBadDateError, CroniterError, croniter

__all__ = [
    "KINDS",
    "MIN_INTERVAL_MINUTES",
    "MAX_INTERVAL_MINUTES",
    "WEEKDAYS",
    "Recurrence",
    "RecurrenceError",
    "PreviewRun",
    "canonical_zone",
    "day_change",
    "known_zones",
    "local_label",
    "parse_days",
    "preview_runs",
    "whole_minute",
    "parse_time",
    "parse_zone",
    "read_wall_time",
    "validate_cron",
    "wall_to_instant",
]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index = datetime.weekday()
KINDS = ("daily", "weekly", "interval", "cron")
MIN_INTERVAL_MINUTES = 5
MAX_INTERVAL_MINUTES = 366 * 24 * 60 * 10  # ten years; only there to keep datetime arithmetic in range

UTC = _dt.timezone.utc
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=UTC)  # the grid of an interval without an anchor
# An anchor is compared, stored and shown in UTC and in any zone: a day's margin inside datetime's range
# keeps every conversion of it (offsets reach +-14 h) in range.
_ANCHOR_RANGE = (_dt.datetime(1, 1, 2, tzinfo=UTC), _dt.datetime(9999, 12, 30, 23, 59, tzinfo=UTC))


class RecurrenceError(ValueError):
    """Invalid recurrence input.

    ``field`` names the offending field ('schedule_kind', 'schedule_time', 'schedule_days',
    'interval_minutes', 'anchor', 'cron_expr', 'timezone'); ``str(e)`` is a clear English message.
    """

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __reduce__(self):  # keep it picklable (task queues pickle exceptions)
        return (type(self), (self.field, self.message))


# --------------------------------------------------------------------------- parsing

_TIME_RE = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")


def parse_time(value: str) -> _dt.time:
    """Strict 24-hour "HH:MM" (00:00..23:59, two-digit hour and minute) -> datetime.time."""
    match = _TIME_RE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise RecurrenceError(
            "schedule_time", f"Enter the time as HH:MM in 24-hour format, 00:00 to 23:59 (got {value!r})."
        )
    return _dt.time(int(match[1]), int(match[2]))


_TWELVE_HOUR_RE = re.compile(r"(1[0-2]|0?[1-9])(?:[:.]([0-5][0-9]))?\s*([ap])\.?\s*m\.?", re.IGNORECASE)
_ONE_DIGIT_HOUR_RE = re.compile(r"([0-9]):([0-5][0-9])")


def read_wall_time(text: str) -> str | None:
    """A time as people type it -> "HH:MM" (24-hour), or None when it is not understood.

    Understood: "17:30", "7:30" (one-digit hour), and the 12-hour clock with am/pm in any case and
    spacing ("5:30pm", "5:30 PM", "5 p.m.", "12:15am" = 00:15). Anything else is None, so the caller
    refuses the whole text rather than a part of it. Pure: `parse_time` stays the strict check.
    """
    if not isinstance(text, str):
        return None
    text = text.strip()
    if _TIME_RE.fullmatch(text):
        return text
    if match := _ONE_DIGIT_HOUR_RE.fullmatch(text):
        return f"0{match[1]}:{match[2]}"
    if match := _TWELVE_HOUR_RE.fullmatch(text):
        hour = int(match[1]) % 12 + (12 if match[3].lower() == "p" else 0)
        return f"{hour:02d}:{match[2] or '00'}"
    return None


def parse_days(values: Iterable[str]) -> tuple[int, ...]:
    """Weekday names ("mon".."sun", any case) -> sorted unique weekday ints (0 = Monday)."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise RecurrenceError("schedule_days", f"Choose the weekdays as a list of mon..sun (got {values!r}).")
    days = set()
    for value in values:
        name = value.strip().lower() if isinstance(value, str) else None
        if name not in WEEKDAYS:
            raise RecurrenceError(
                "schedule_days", f"Unknown weekday {value!r}; use {', '.join(WEEKDAYS)}."
            )
        days.add(WEEKDAYS.index(name))
    if not days:
        raise RecurrenceError("schedule_days", "Choose at least one weekday.")
    return tuple(sorted(days))


# Names that resolve on some machines but are not IANA zones (or mean "unknown").
_NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})


@functools.lru_cache(maxsize=1)
def known_zones() -> frozenset[str]:
    """The IANA zone names a schedule may use (read from the tz database once per process)."""
    return frozenset(available_timezones()) - _NOT_ZONES


@functools.lru_cache(maxsize=1)
def _zones_by_folded_name() -> dict[str, str]:
    return {name.casefold(): name for name in known_zones()}


def canonical_zone(name):
    """A zone name as a person may type it ("europe/berlin", " utc ") -> its IANA spelling
    ("Europe/Berlin", "UTC"); a name that matches no zone comes back as it was, for `parse_zone`
    to refuse with the text the person typed. IANA names differ by more than case, never by case alone."""
    if not isinstance(name, str):
        return name
    return _zones_by_folded_name().get(name.strip().casefold(), name)


def parse_zone(name: str) -> ZoneInfo:
    """A valid IANA zone name (exact spelling, e.g. "Europe/Berlin", "UTC") -> ZoneInfo."""
    error = RecurrenceError(
        "timezone", f"Unknown time zone {name!r}; use an IANA name such as 'Europe/Berlin' or 'UTC'."
    )
    if not isinstance(name, str) or not name or name in _NOT_ZONES:
        raise error
    known = known_zones()
    if known and name not in known:  # also rejects wrong case and padded names
        raise error
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise error from exc


# --------------------------------------------------------------------------- cron syntax

_FIELD_NAMES = ("minute", "hour", "day-of-month", "month", "day-of-week")
_FIELD_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DOW_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_ITEM_RE = re.compile(r"(?:(\*)|([0-9a-z]+)(?:-([0-9a-z]+))?)(?:/([0-9]+))?")


@dataclass(frozen=True)
class _Cron:
    text: str  # whitespace-normalised, as the user wrote it
    streams: tuple[str, ...]  # croniter expressions (explicit values, AND semantics) whose union is the schedule
    real_time: bool  # minute or hour field starts with '*': Vixie "wildcard" job


def _cron_value(token: str, index: int, *, range_end: bool) -> int:
    field = _FIELD_NAMES[index]
    if token.isdigit():
        return int(token)
    if index == 3 and token in _MONTH_NAMES:
        return _MONTH_NAMES.index(token) + 1
    if index == 4 and token in _DOW_NAMES:
        number = _DOW_NAMES.index(token)
        return 7 if number == 0 and range_end else number  # "fri-sun" means 5-7
    raise ValueError(f"{token!r} is not a valid {field} value")


def _parse_cron_field(text: str, index: int) -> frozenset[int]:
    """Check one field against Vixie syntax and ranges; return the values it matches."""
    field = _FIELD_NAMES[index]
    low, high = _FIELD_RANGES[index]
    values: set[int] = set()
    for item in text.lower().split(","):
        match = _ITEM_RE.fullmatch(item)
        if match is None:
            raise ValueError(f"the {field} field {text!r} is not valid cron syntax")
        star, first, last, step = match.groups()
        if step is not None:
            if star is None and last is None:
                raise ValueError(f"in the {field} field, a step '/' must follow '*' or a range (got {item!r})")
            if int(step) < 1:
                raise ValueError(f"in the {field} field, the step must be at least 1 (got {item!r})")
        if star is not None:
            start, end = low, high
        else:
            start = _cron_value(first, index, range_end=False)
            end = _cron_value(last, index, range_end=True) if last is not None else start
            for number in (start, end):
                if not low <= number <= high:
                    raise ValueError(f"{field} values must be between {low} and {high} (got {number} in {item!r})")
            if start > end:
                raise ValueError(f"the {field} range {item!r} runs backwards")
        values.update(range(start, end + 1, int(step or 1)))
    if index == 4:
        values = {day % 7 for day in values}  # 7 is Sunday too
    return frozenset(values)


def _cron_list(values: frozenset[int], index: int) -> str:
    low, high = _FIELD_RANGES[index]
    if index == 4:
        high = 6
    return "*" if len(values) == high - low + 1 else ",".join(map(str, sorted(values)))


def _compile_cron(expr: str) -> _Cron:
    if not isinstance(expr, str):
        raise RecurrenceError("cron_expr", f"A cron expression must be text (got {expr!r}).")
    return _compile_cron_text(expr)


@functools.lru_cache(maxsize=1024)
def _compile_cron_text(expr: str) -> _Cron:
    fields = expr.split()
    if len(fields) != 5:
        raise RecurrenceError(
            "cron_expr",
            "A cron expression needs exactly 5 fields: minute hour day-of-month month day-of-week "
            f"(got {len(fields)} in {expr!r}).",
        )
    try:
        minute, hour, dom, month, dow = (
            _cron_list(_parse_cron_field(text, index), index) for index, text in enumerate(fields)
        )
    except ValueError as exc:
        raise RecurrenceError("cron_expr", f"Invalid cron expression {expr!r}: {exc}.") from None
    # crontab(5): if both day fields are restricted (neither starts with '*'), a day matches when
    # either does; otherwise both must match. croniter is only ever asked for plain AND matches
    # over explicit value lists; an OR is the union of two such streams.
    if fields[2].startswith("*") or fields[4].startswith("*"):
        candidates = [f"{minute} {hour} {dom} {month} {dow}"]
    else:
        candidates = [f"{minute} {hour} {dom} {month} *", f"{minute} {hour} * {month} {dow}"]
    streams = []
    for candidate in candidates:
        # A 5-field stream that matches once matches again: the calendar repeats every 400 years.
        try:
            _cron_iter(candidate, _dt.datetime(2000, 1, 1)).get_next()
        except CroniterBadDateError:
            continue
        except CroniterError as exc:  # not expected after our own parsing
            raise RecurrenceError("cron_expr", f"Invalid cron expression {expr!r}: {exc}.") from None
        streams.append(candidate)
    if not streams:
        raise RecurrenceError("cron_expr", f"The cron expression {expr!r} never runs (no such date exists).")
    return _Cron(
        text=" ".join(fields),
        streams=tuple(streams),
        real_time=fields[0].startswith("*") or fields[1].startswith("*"),
    )


def _cron_iter(stream: str, start: _dt.datetime) -> croniter:
    return croniter(stream, start, ret_type=_dt.datetime, day_or=False)


def validate_cron(expr: str) -> str:
    """Check a 5-field cron expression (syntax, ranges, and that it ever runs); return it with
    whitespace collapsed. Raises RecurrenceError('cron_expr', ...)."""
    return _compile_cron(expr).text


# --------------------------------------------------------------------------- time zone helpers

_PROBE_SPAN_HOURS = 28  # > the largest UTC offset change on record (24h, Pacific/Apia 2011)


@functools.lru_cache(maxsize=8192)
def _offset_bounds(zone: ZoneInfo, hour: int) -> tuple[_dt.timedelta, _dt.timedelta]:
    """Smallest and largest UTC offset of `zone` within ~28h either side of the given hour
    (hours since the epoch), sampled every hour."""
    base = _EPOCH + _dt.timedelta(hours=hour)
    offsets = [
        (base + _dt.timedelta(hours=k)).astimezone(zone).utcoffset()
        for k in range(-_PROBE_SPAN_HOURS, _PROBE_SPAN_HOURS + 2)
    ]
    return min(offsets), max(offsets)


def _bounds_around(zone: ZoneInfo, instant: _dt.datetime) -> tuple[_dt.timedelta, _dt.timedelta]:
    return _offset_bounds(zone, (instant - _EPOCH) // _dt.timedelta(hours=1))


def _resolve_first(wall: _dt.datetime, zone: ZoneInfo) -> tuple[_dt.datetime, ...]:
    """Daily/weekly/fixed-time cron: nonexistent -> shifted by the gap; repeated -> first pass."""
    return (wall.replace(tzinfo=zone, fold=0).astimezone(UTC),)


def _resolve_real(wall: _dt.datetime, zone: ZoneInfo) -> tuple[_dt.datetime, ...]:
    """Wildcard cron: every real instant showing this wall time (none, one, or two)."""
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) != wall:
        return ()  # skipped by a spring-forward
    second = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    return (first,) if second == first else (first, second)


# --------------------------------------------------------------------------- Recurrence

_NO_RUN_HORIZON = _dt.timedelta(days=366 * 20)  # 5-field cron gaps are at most 8 years (Feb 29)
# After every clock change the tz database lists (Morocco's run to 2087), each zone repeats one yearly
# rule: a cron with a run after this instant keeps having runs, one with none never runs again.
_SETTLED_RULES = _dt.datetime(2200, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Recurrence:
    """When a schedule runs. Validated on construction (RecurrenceError names the field).

    Fields that do not belong to the kind are ignored. ``days`` may be given in any order (weekday
    ints or names); it is stored sorted and unique. ``time`` may also be given as "HH:MM". An interval
    without ``anchor`` is anchored at the Unix epoch, i.e. aligned to the UTC clock.
    """

    kind: str
    timezone: str = "UTC"
    time: _dt.time | None = None
    days: tuple[int, ...] = ()
    interval_minutes: int | None = None
    cron_expr: str | None = None
    anchor: _dt.datetime | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise RecurrenceError("schedule_kind", f"Choose one of: {', '.join(KINDS)} (got {self.kind!r}).")
        parse_zone(self.timezone)
        if self.kind in ("daily", "weekly"):
            object.__setattr__(self, "time", self._checked_time())
        if self.kind == "weekly":
            object.__setattr__(self, "days", self._checked_days())
        if self.kind == "interval":
            self._check_interval()
        if self.kind == "cron":
            if self.cron_expr in (None, ""):
                raise RecurrenceError("cron_expr", "A cron expression is required for cron schedules.")
            object.__setattr__(self, "cron_expr", validate_cron(self.cron_expr))
            if _compile_cron(self.cron_expr).real_time and not _runs_in_zone(self.cron_expr, self.timezone):
                # A wildcard cron has no run in an hour the clocks skip, so valid fields can still name
                # only such hours (02:xx on the last Sunday of March, in Berlin). Refused here, with the
                # other invalid input, rather than when the schedule's next run is first asked for (its save).
                raise RecurrenceError("cron_expr", f"The cron expression {self.cron_expr!r} never runs in {self.timezone}: "
                                                   "the clocks skip every time it names.")

    def _checked_time(self) -> _dt.time:
        value = self.time
        if value is None or value == "":
            raise RecurrenceError("schedule_time", f"A time (HH:MM) is required for {self.kind} schedules.")
        if isinstance(value, str):
            return parse_time(value)
        if not isinstance(value, _dt.time) or value.tzinfo is not None or value.second or value.microsecond:
            raise RecurrenceError(
                "schedule_time", f"The time must be a whole minute without a time zone, HH:MM (got {value!r})."
            )
        return value.replace(fold=0)

    def _checked_days(self) -> tuple[int, ...]:
        values = self.days
        if isinstance(values, Iterable) and not isinstance(values, (str, bytes)):
            # Weekday ints (0 = Monday) become their names, so that parse_days checks both.
            values = [WEEKDAYS[value] if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 6
                      else value for value in values]
        return parse_days(values)

    def _check_interval(self) -> None:
        minutes = self.interval_minutes
        if minutes is None:
            raise RecurrenceError("interval_minutes", "A number of minutes is required for interval schedules.")
        if not isinstance(minutes, int) or isinstance(minutes, bool):
            raise RecurrenceError("interval_minutes", f"The interval must be a whole number of minutes (got {minutes!r}).")
        if minutes < MIN_INTERVAL_MINUTES:
            raise RecurrenceError(
                "interval_minutes", f"The interval must be at least {MIN_INTERVAL_MINUTES} minutes (got {minutes})."
            )
        if minutes > MAX_INTERVAL_MINUTES:
            raise RecurrenceError(
                "interval_minutes", f"The interval must be at most {MAX_INTERVAL_MINUTES} minutes (got {minutes})."
            )
        anchor = self.anchor
        if anchor is not None and (not isinstance(anchor, _dt.datetime) or anchor.utcoffset() is None):
            raise RecurrenceError("anchor", f"The interval anchor must be a time-zone-aware datetime (got {anchor!r}).")
        if anchor is not None and not _ANCHOR_RANGE[0] <= anchor <= _ANCHOR_RANGE[1]:
            # 0001-01-01T00:00+14:00 is a valid aware datetime whose UTC instant is before year 1:
            # converting it (to store it, or to step the grid) would raise OverflowError.
            raise RecurrenceError("anchor", f"The interval anchor must be between {_ANCHOR_RANGE[0].date().isoformat()} and "
                                            f"{_ANCHOR_RANGE[1].date().isoformat()} (UTC) (got {anchor.isoformat()}).")

    # ----------------------------------------------------------------- queries

    def next_after(self, instant: _dt.datetime) -> _dt.datetime:
        """The first run strictly after `instant` (aware), as an aware UTC datetime."""
        if not isinstance(instant, _dt.datetime) or instant.utcoffset() is None:
            raise ValueError(f"next_after needs a time-zone-aware datetime (got {instant!r}).")
        instant = instant.astimezone(UTC)
        if self.kind == "interval":
            step = _dt.timedelta(minutes=self.interval_minutes)
            anchor = (self.anchor or _EPOCH).astimezone(UTC)
            return anchor + ((instant - anchor) // step + 1) * step
        zone = ZoneInfo(self.timezone)
        if self.kind == "cron":
            cron = _compile_cron(self.cron_expr)
            resolve = _resolve_real if cron.real_time else _resolve_first
            return self._earliest(instant, zone, lambda start: self._cron_walls(cron, start), resolve)
        return self._earliest(instant, zone, self._calendar_walls, _resolve_first)

    def next_runs(self, instant: _dt.datetime, count: int) -> list[_dt.datetime]:
        """The next `count` runs strictly after `instant`, ascending, as aware UTC datetimes."""
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise ValueError(f"count must be a non-negative integer (got {count!r}).")
        runs = []
        for _ in range(count):
            instant = self.next_after(instant)
            runs.append(instant)
        return runs

    def describe(self) -> str:
        """A short English description, e.g. "Every Mon, Wed, Fri at 04:00 (Europe/Berlin)"."""
        if self.kind == "interval":
            minutes = self.interval_minutes
            if minutes % 60:
                return f"Every {minutes} minutes"
            return "Every hour" if minutes == 60 else f"Every {minutes // 60} hours"
        if self.kind == "cron":
            return f"{_describe_cron(self.cron_expr)} ({self.timezone})"
        at = f"at {self.time:%H:%M} ({self.timezone})"
        days = self.days if self.kind == "weekly" else tuple(range(7))
        if days == tuple(range(7)):
            return f"Every day {at}"
        if days == tuple(range(5)):
            return f"Every Mon–Fri {at}"
        return f"Every {', '.join(WEEKDAYS[d].capitalize() for d in days)} {at}"

    # ----------------------------------------------------------------- engine

    def _calendar_walls(self, start: _dt.datetime) -> Iterator[_dt.datetime]:
        """Daily/weekly wall times, ascending, from the day of `start` on."""
        day = start.date()
        while True:
            if self.kind == "daily" or day.weekday() in self.days:
                yield _dt.datetime.combine(day, self.time)
            day += _dt.timedelta(days=1)

    @staticmethod
    def _cron_walls(cron: _Cron, start: _dt.datetime) -> Iterator[_dt.datetime]:
        """Matching naive wall times, ascending and unique, from the minute of `start` on."""
        begin = start.replace(second=0, microsecond=0) - _dt.timedelta(minutes=1)

        def stream(expr: str) -> Iterator[_dt.datetime]:
            it = _cron_iter(expr, begin)
            while True:
                try:
                    yield it.get_next()
                except CroniterBadDateError:
                    return

        previous = None
        for wall in heapq.merge(*(stream(expr) for expr in cron.streams)):
            if wall != previous:
                yield wall
                previous = wall

    @staticmethod
    def _earliest(instant, zone, walls, resolve) -> _dt.datetime:
        """The earliest resolved run strictly after `instant` (aware UTC).

        Wall time w resolves to w - offset, the offset being one in force near that instant. So no w
        below `instant + smallest nearby offset` can resolve after `instant`, and once w passes
        `best + largest offset near best`, no later w can resolve before `best`.
        """
        naive = instant.replace(tzinfo=None)
        low, _ = _bounds_around(zone, instant)
        start = naive + low
        best = best_naive = stop = None
        for wall in walls(start):
            if stop is not None and wall > stop:
                break
            if best is None and wall - start > _NO_RUN_HORIZON:
                break
            for run in resolve(wall, zone):
                if run > instant and (best is None or run < best):
                    best, best_naive = run, run.replace(tzinfo=None)
                    stop = best_naive + _bounds_around(zone, best)[1]
        if best is None:
            raise RecurrenceError("cron_expr", "This schedule has no upcoming run.")
        return best


_DESCRIBE_OPTIONS = dict(
    locale_code="en_US",  # never the machine's locale
    use_24hour_time_format=True,
    verbose=False,
    day_of_week_start_index_zero=True,  # 0 (and 7) = Sunday, as in cron
)


@functools.lru_cache(maxsize=1024)
def _describe_cron(expr: str) -> str:
    try:
        descriptor = ExpressionDescriptor(expr, Options(**_DESCRIBE_OPTIONS))
        text = descriptor.get_description()
        dom, dow = expr.split()[2:5:2]
        if dom != "*" and dow != "*":
            # cron-descriptor words the day fields loosely; say which of OR / AND applies.
            segment = descriptor.get_description(DescriptionTypeEnum.DAYOFWEEK)
            days = segment.removeprefix(", ").removeprefix("or on ").removeprefix("only on ")
            if dom.startswith("*") or dow.startswith("*"):  # crontab(5): a '*' field makes both apply
                only = "only " if days.startswith("every ") else "only on "
                but = "but " if descriptor.get_description(DescriptionTypeEnum.DAYOFMONTH) else ""
                wording = f", {but}{only}{days}"
            else:
                wording = f", or on {days}" if segment.startswith((", or on ", ", only on ")) else f", or {days}"
            if segment and segment in text:
                text = text.replace(segment, wording, 1)
        return text
    except Exception:  # cron-descriptor cannot word every valid expression; say what it is instead
        return f"Cron {expr}"


# --------------------------------------------------------------------------- anchors


def whole_minute(instant: _dt.datetime) -> _dt.datetime:
    """Where an interval schedule counts from when it is created at `instant`: "every 15 minutes"
    then reads 08:15, 08:30, never 08:18:49."""
    return instant.replace(second=0, microsecond=0)


# --------------------------------------------------------------------------- wall clocks


def wall_to_instant(wall: _dt.datetime, zone: str | ZoneInfo) -> _dt.datetime:
    """A naive wall-clock time in `zone` (what a datetime-local input sends) as a UTC instant.

    By the daily schedules' DST rules, so a person meets one rule everywhere: a time the clocks
    skip is shifted forward by the gap (02:30 on a night that jumps from 02:00 to 03:00 is 03:30),
    a time they repeat is its first occurrence.
    """
    return _resolve_first(wall.replace(tzinfo=None), parse_zone(zone) if isinstance(zone, str) else zone)[0]


def local_label(instant: _dt.datetime, zone: str | ZoneInfo) -> str:
    """"Mon 4 May 2026, 08:00 CEST": an instant on a zone's wall clock, in the pages' one format
    (common.formatting.INSTANT_FORMAT, which this pure module cannot import)."""
    local = instant.astimezone(parse_zone(zone) if isinstance(zone, str) else zone)
    return f"{local:%a} {local.day} {local:%b} {local.year}, {local:%H:%M} {local.tzname()}"


# --------------------------------------------------------------------------- preview


@dataclass(frozen=True)
class PreviewRun:
    """One upcoming run, as the schedule editor's preview shows it."""

    at: _dt.datetime  # UTC
    local: _dt.datetime  # the same instant on the schedule's wall clock
    clock_change: str | None  # "forward" / "back" when the local day has a DST (offset) change
    shifted_from: _dt.time | None  # the wall time asked for, when a spring-forward gap moved the run
    note: str  # the two facts above in plain words, or ""

    @property
    def label(self) -> str:
        """"Sun 25 Oct 2026, 02:30 CEST": the local time with its zone, which stays on a time the clocks
        repeat (Django's `date` filter leaves the zone out there, the time being ambiguous to it)."""
        local = self.local
        return f"{local:%a} {local.day} {local:%b} {local.year}, {local:%H:%M} {local.tzname()}"

    @property
    def differs_from_utc(self) -> bool:
        """Whether the local time reads differently from UTC ("= 02:00 UTC" beside 02:00 UTC says nothing)."""
        return self.local.utcoffset() != _dt.timedelta(0)


def day_change(zone: ZoneInfo, day: _dt.date) -> _dt.timedelta:
    """How far the zone's clocks move during this local day (0 on ordinary days)."""
    start = _dt.datetime.combine(day, _dt.time(0), tzinfo=zone)
    end = _dt.datetime.combine(day + _dt.timedelta(days=1), _dt.time(0), tzinfo=zone)
    return end.utcoffset() - start.utcoffset()


def _wanted_wall_time(recurrence: Recurrence, local: _dt.datetime, change: _dt.timedelta) -> _dt.time | None:
    """The wall time the run was meant for, if a gap moved it; None if it runs as written."""
    naive = local.replace(tzinfo=None)
    if recurrence.kind in ("daily", "weekly"):
        return recurrence.time if naive.time() != recurrence.time else None
    if recurrence.kind == "cron" and change > _dt.timedelta(0):
        cron = _compile_cron(recurrence.cron_expr)
        if not any(croniter.match(stream, naive, day_or=False) for stream in cron.streams):
            return (naive - change).time()
    return None


def preview_runs(recurrence: Recurrence, instant: _dt.datetime, count: int) -> list[PreviewRun]:
    """The next `count` runs after `instant`, each with its local time and any DST note."""
    zone = ZoneInfo(recurrence.timezone)
    runs = []
    for at in recurrence.next_runs(instant, count):
        local = at.astimezone(zone)
        change = day_change(zone, local.date())
        clock_change = None if not change else "forward" if change > _dt.timedelta(0) else "back"
        shifted_from = _wanted_wall_time(recurrence, local, change) if clock_change == "forward" else None
        runs.append(PreviewRun(at=at, local=local, clock_change=clock_change, shifted_from=shifted_from,
                               note=_clock_note(recurrence, local, clock_change, shifted_from)))
    return runs


def _clock_note(recurrence: Recurrence, local: _dt.datetime, clock_change: str | None,
                shifted_from: _dt.time | None) -> str:
    if clock_change is None:
        return ""
    if shifted_from is not None:
        return f"Clocks go forward: runs at {local:%H:%M} instead of {shifted_from:%H:%M}."
    real_time = recurrence.kind == "interval" or (
        recurrence.kind == "cron" and _compile_cron(recurrence.cron_expr).real_time)
    if clock_change == "forward":
        return "Clocks go forward this day" + ("; runs follow real time." if real_time else ".")
    if real_time:
        return "Clocks go back this day; runs follow real time, so the repeated hour has runs in both passes."
    return "Clocks go back this day; a time that occurs twice runs once, the first time."


@functools.lru_cache(maxsize=1024)
def _runs_in_zone(cron_expr: str, timezone: str) -> bool:
    """Whether a wildcard cron has a run at all in its zone: one after `_SETTLED_RULES`.

    Cached: a Recurrence is built again from every stored schedule (each tick, each page row), and this
    search costs about 0.4 ms where building one otherwise costs a few microseconds.
    """
    cron = _compile_cron(cron_expr)
    try:
        Recurrence._earliest(_SETTLED_RULES, ZoneInfo(timezone), lambda start: Recurrence._cron_walls(cron, start),
                             _resolve_real)
    except RecurrenceError:
        return False
    return True
