"""Which backups a retention rule keeps: pure Python, no Django, no clock (`now` is passed in).

Two rules, as a backup schedule's params say (backups.tasks.BackupParamsForm):

- **days**: delete the backups started more than N days before now.
- **calendar**, as restic has it (`restic forget --keep-last N --keep-daily D --keep-weekly W
  --keep-monthly M`): walking the good backups newest first, keep the N newest; the newest of each
  of the D newest days that have a backup; the same for W ISO weeks (Monday to Sunday) and M
  calendar months. As in restic, a day, week or month without a backup uses up no place: backups
  that stopped for a fortnight still leave D daily ones. And as in restic (0.16 on), a count that
  still has places left when the walk reaches the oldest good backup keeps that one too, so a young
  archive keeps its whole history. Days, weeks and months are those of the schedule's time zone, the
  one its times are read in (restic uses the machine's local time, which a server often has at UTC).

Whatever the rule:

- the newest good backup is kept; with no good backup at all, every backup is kept;
- a backup that is not good (never verified, or its last verification failed) takes no place in the
  calendar counts; it is kept while it is newer than the newest good backup (what the recent runs
  made, for a person to look at), and deleted otherwise;
- a backup whose file is not the one the app gives it (`ours` false: files.is_ours) is never deleted,
  whatever the rule says: it is "left alone", and the plan says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

DAYS, CALENDAR = "days", "calendar"
MODES = (DAYS, CALENDAR)
# The calendar counts, in the order restic applies them and the words say them.
COUNTS = ("last", "daily", "weekly", "monthly")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")


@dataclass(frozen=True)
class Rule:
    """A retention rule. In days mode only `days` counts; in calendar mode the four counts and `zone`."""

    mode: str = DAYS
    days: int = 30
    last: int = 0
    daily: int = 0
    weekly: int = 0
    monthly: int = 0
    zone: str = "UTC"

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"Unknown retention mode {self.mode!r}.")
        if self.mode == DAYS and self.days < 1:
            raise ValueError("A days retention keeps at least 1 day.")
        if any(count < 0 for count in self.counts()):
            raise ValueError("The calendar counts are 0 or more.")
        if self.mode == CALENDAR and not any(self.counts()):
            raise ValueError("A calendar retention keeps at least one backup.")
        ZoneInfo(self.zone)  # raises for a zone that does not exist

    def counts(self) -> tuple[int, int, int, int]:
        return self.last, self.daily, self.weekly, self.monthly

    def describe(self) -> str:
        """The rule in a few words: "keeps 30 days", "keeps last 3, 7 daily, 4 weekly, 6 monthly"."""
        if self.mode == DAYS:
            return f"keeps {self.days} day{'' if self.days == 1 else 's'}"
        parts = [f"last {self.last}" if self.last else "",
                 *(f"{count} {name}" for count, name in zip(self.counts()[1:], COUNTS[1:]) if count)]
        return "keeps " + ", ".join(part for part in parts if part)


def days_rule(days: int) -> Rule:
    return Rule(mode=DAYS, days=days)


def calendar_rule(*, last: int = 0, daily: int = 0, weekly: int = 0, monthly: int = 0, zone: str = "UTC") -> Rule:
    return Rule(mode=CALENDAR, last=last, daily=daily, weekly=weekly, monthly=monthly, zone=zone)


@dataclass(frozen=True)
class Item:
    """One backup as retention sees it. `id` None stands for the backup a run is about to make."""

    id: int | None
    at: datetime  # when it was started (aware)
    good: bool = True  # verified, and no later verification failed
    ours: bool = True  # its file has the name the app gives it: only such a file is ever deleted


@dataclass(frozen=True)
class Plan:
    """What a rule does to a set of backups: each id is in exactly one of the three, with the reasons in words."""

    rule: Rule
    kept: dict[int | None, tuple[str, ...]] = field(default_factory=dict)
    deleted: dict[int | None, str] = field(default_factory=dict)
    left_alone: dict[int | None, str] = field(default_factory=dict)


def newest_first(items) -> list[Item]:
    """Newest first; among backups started at the same instant, the higher id (the later row) first,
    and the backup about to be made (id None) before every existing one."""
    # Compared in UTC: Python compares two datetimes of one zone by their wall times, which a fall-back
    # night repeats.
    return sorted(items, key=lambda item: (item.at.astimezone(timezone.utc), math.inf if item.id is None else item.id),
                  reverse=True)


def plan(items, rule: Rule, *, now: datetime) -> Plan:
    """Which of `items` the rule keeps and deletes at `now` (see the module's docstring)."""
    items = newest_first(items)
    good = [item for item in items if item.good]
    if not good:
        return Plan(rule, kept={item.id: ("no good backup to fall back on",) for item in items})
    newest_good = good[0]
    reasons: dict[int | None, list[str]] = {item.id: [] for item in items}
    reasons[newest_good.id].append("the newest good backup")
    if rule.mode == DAYS:
        cutoff = now.astimezone(timezone.utc) - timedelta(days=rule.days)
        for item in items:
            if item.at.astimezone(timezone.utc) >= cutoff:
                reasons[item.id].append(f"within {rule.days} day{'' if rule.days == 1 else 's'}")
        why_not = f"older than the retention of {rule.days} day{'' if rule.days == 1 else 's'}"
    else:
        for item, why in calendar_keepers(good, rule).items():
            reasons[item].extend(why)
        # Newer by the one order (an instant, then the later row): two backups started in the same second
        # are told apart as everywhere else here. Every one before the newest good backup is not good.
        for item in items[:items.index(newest_good)]:
            reasons[item.id].append("not verified yet or failed its verification, but newer than the newest "
                                    "good backup")
        why_not = f"not among the backups the rule keeps ({rule.describe().removeprefix('keeps ')})"
    result = Plan(rule)
    for item in items:
        why = reasons[item.id]
        if why:
            result.kept[item.id] = tuple(why)
            continue
        reason = why_not if item.good or rule.mode == DAYS else (
            "not a good backup (never verified, or it failed its verification), and older than the newest good one")
        if item.ours:
            result.deleted[item.id] = reason
        else:
            result.left_alone[item.id] = f"{reason}, but its file is not one this app named, so it is left alone"
    return result


def calendar_keepers(good: list[Item], rule: Rule) -> dict[int | None, list[str]]:
    """restic's walk over the good backups, newest first: {id: [why it is kept]} for the ones kept."""
    zone = ZoneInfo(rule.zone)
    buckets = [[count, None, bucket, name] for count, bucket, name in zip(
        rule.counts(), (_unique, _day, _week, _month), COUNTS)]
    kept: dict[int | None, list[str]] = {}
    last_index = len(good) - 1
    for index, item in enumerate(good):
        local = item.at.astimezone(zone)
        for state in buckets:
            places, previous, bucket, name = state
            if places <= 0:
                continue
            value = bucket(local, index)
            if value != previous or index == last_index:
                oldest = value == previous  # the oldest good backup, kept while places are left
                state[1], state[0] = value, places - 1
                kept.setdefault(item.id, []).append(_why(name, value, places=rule.counts()[COUNTS.index(name)],
                                                         oldest=oldest))
    return kept


def _unique(local: datetime, index: int):
    return index


def _day(local: datetime, index: int):
    return local.date()


def _week(local: datetime, index: int):
    year, week, _ = local.isocalendar()
    return year, week


def _month(local: datetime, index: int):
    return local.year, local.month


def _why(name: str, value, *, places: int, oldest: bool) -> str:
    if oldest:
        return f"the oldest good backup, kept while {name} places are left"
    if name == "last":
        return f"one of the last {places}"
    if name == "daily":
        return f"the newest of {value:%a %-d %b %Y}"
    if name == "weekly":
        return f"the newest of week {value[1]} of {value[0]}"
    return f"the newest of {MONTHS[value[1] - 1]} {value[0]}"
