"""Pause until a time, with a reason: the rules, the services, and the pass that records the paused
windows, never runs them and resumes the schedule by itself."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from common.actors import SYSTEM, Actor, Via
from jobs.models import Job, JobStatus
from scheduling import recurrence, services, tick
from scheduling.models import AuditAction, RunOutcome, ScheduleAuditEntry, ScheduledTask, ScheduleRun
from tests.factories import UserFactory
from tests.scheduling.conftest import at, refreshed

pytestmark = pytest.mark.django_db

START = at("2026-05-01 12:00")


@pytest.fixture
def alice(db):
    return UserFactory(username="alice")


@pytest.fixture
def every_5(make_schedule):
    """Every 5 minutes from 12:00 (anchored), so windows fall on 12:05, 12:10..."""
    return make_schedule(now=START, name="Every 5", schedule_kind="interval", interval_minutes=5)


def pause(schedule, until, *, reason="server maintenance", now=at("2026-05-01 12:01"), actor=SYSTEM):
    return services.schedule_pause(schedule=schedule, until=until, reason=reason, now=now, actor=actor)


def passes(start, end, *, every=dt.timedelta(minutes=1), finish_jobs=True):
    """The scheduler passing every minute from `start` to `end` (included); the worker finishes jobs."""
    instant = start
    while instant <= end:
        tick.run_pass(now=instant)
        if finish_jobs:
            finish(now=instant)
        instant += every


def finish(*, now, status=JobStatus.COMPLETED):
    """The worker's part: every queued job ends, and the runs follow (as the job signal has them do)."""
    job_ids = list(Job.objects.filter(status=JobStatus.QUEUED).values_list("pk", flat=True))
    Job.objects.filter(pk__in=job_ids).update(status=status)
    services.runs_follow_jobs(job_ids=job_ids, now=now)


def window_jobs():
    """The windows jobs were created for, from their params."""
    return sorted(job.params["window_start"] for job in Job.objects.all())


# --- the rules -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("until", "reason", "errors"), [
    (None, "", {"until": ["Give the date and time the pause ends."]}),
    (at("2026-05-01 12:01"), "", {"until": ["Choose a time in the future: it is already Fri 1 May 2026, 12:01 UTC (UTC)."]}),
    (at("2026-05-01 11:00"), "", {"until": ["Choose a time in the future: it is already Fri 1 May 2026, 12:01 UTC (UTC)."]}),
    (at("2027-05-01 12:02"), "", {"until": ["A pause lasts at most 365 days (until Sat 1 May 2027, 12:01 UTC (UTC)); to "
                                            "stop a schedule for longer, disable it."]}),
    (at("2026-05-02 08:00"), "x" * 201, {"reason": ["Ensure this value has at most 200 characters (it has 201)."]}),
    (at("2026-05-02 08:00"), "a\x00b", {"reason": ["Null characters are not allowed."]}),
    (None, "x" * 201, {"until": ["Give the date and time the pause ends."],
                       "reason": ["Ensure this value has at most 200 characters (it has 201)."]}),
])
def test_it_refuses_a_pause_naming_the_field_and_stores_nothing(every_5, until, reason, errors):
    with pytest.raises(ValidationError) as caught:
        pause(every_5, until, reason=reason)

    assert caught.value.message_dict == errors
    assert refreshed(every_5).paused_until is None and refreshed(every_5).pause_reason == ""
    assert not ScheduleAuditEntry.objects.filter(action=AuditAction.PAUSE).exists()


def test_it_accepts_a_pause_of_exactly_a_year_and_a_reason_of_200_characters(every_5):
    pause(every_5, at("2027-05-01 12:01"), reason="  " + "x" * 200 + " ")
    assert refreshed(every_5).paused_until == at("2027-05-01 12:01")
    assert refreshed(every_5).pause_reason == "x" * 200  # stripped, as forms strip


def test_it_refuses_to_pause_a_disabled_schedule(make_schedule):
    schedule = make_schedule(now=START, name="Off", enabled=False)
    with pytest.raises(ValidationError) as caught:
        pause(schedule, at("2026-05-02 08:00"))
    assert caught.value.message_dict == {"__all__": [
        "“Off” is disabled, so it does not run and cannot be paused. Enable it first, or leave it disabled."]}


def test_it_says_the_current_time_in_the_schedules_zone(make_schedule):
    schedule = make_schedule(now=START, timezone="Europe/Berlin")
    with pytest.raises(ValidationError) as caught:
        pause(schedule, at("2026-05-01 12:00"))
    assert caught.value.message_dict["until"] == [
        "Choose a time in the future: it is already Fri 1 May 2026, 14:01 CEST (Europe/Berlin)."]


def test_a_pause_given_no_reason_has_none(every_5):
    services.schedule_pause(schedule=every_5, until=at("2026-05-02 08:00"), now=at("2026-05-01 12:01"))
    assert (refreshed(every_5).paused_until, refreshed(every_5).pause_reason) == (at("2026-05-02 08:00"), "")


def test_is_paused_covers_the_windows_before_the_end_only(every_5):
    pause(every_5, at("2026-05-01 12:30"))
    assert every_5.is_paused(at=at("2026-05-01 12:29:59.999999"))
    assert not every_5.is_paused(at=at("2026-05-01 12:30"))


# --- the pass ------------------------------------------------------------------------------------

def test_it_records_the_windows_inside_the_pause_as_paused_runs_none_and_resumes_by_itself(every_5):
    tick.run_pass(now=at("2026-05-01 12:05"))  # one window runs before the pause
    finish(now=at("2026-05-01 12:05:30"))
    pause(every_5, at("2026-05-01 12:30"), now=at("2026-05-01 12:06"))

    passes(at("2026-05-01 12:06"), at("2026-05-01 12:29"))

    # Nothing inside the pause ran; its windows are one paused run, the newest window its due time.
    assert window_jobs() == ["2026-05-01T12:05:00+00:00"]
    [paused] = ScheduleRun.objects.filter(schedule=every_5, outcome=RunOutcome.PAUSED)
    assert (paused.due_at, paused.coalesced_windows) == (at("2026-05-01 12:25"), 3)  # 12:10, 12:15, 12:20 too
    assert paused.message == "Not run: paused until Fri 1 May 2026, 12:30 UTC — server maintenance."
    assert not paused.jobs.exists()
    every_5 = refreshed(every_5)
    assert every_5.paused_until == at("2026-05-01 12:30")  # not yet
    assert every_5.next_run_at == at("2026-05-01 12:30")  # the next window, the first after the pause
    assert every_5.last_outcome == RunOutcome.SUCCEEDED  # the 12:05 run's, not "paused"
    assert every_5.last_run_at == at("2026-05-01 12:05")

    report = tick.run_pass(now=at("2026-05-01 12:30"))

    # At the pause's end the pass lifts it, as the system, and the 12:30 window runs as usual.
    assert (report.outcomes, report.pauses_ended) == ({"dispatched": 1}, 1)
    every_5 = refreshed(every_5)
    assert (every_5.paused_until, every_5.pause_reason) == (None, "")
    assert window_jobs() == ["2026-05-01T12:05:00+00:00", "2026-05-01T12:30:00+00:00"]
    resume = ScheduleAuditEntry.objects.get(action=AuditAction.RESUME)
    assert (resume.via, resume.actor_name, resume.at) == (Via.SYSTEM, "", at("2026-05-01 12:30"))
    assert resume.changes == {"paused_until": ["2026-05-01T12:30:00+00:00", None],
                              "pause_reason": ["server maintenance", ""]}
    passes(at("2026-05-01 12:31"), at("2026-05-01 12:40"))
    assert window_jobs()[-2:] == ["2026-05-01T12:35:00+00:00", "2026-05-01T12:40:00+00:00"]
    assert ScheduleRun.objects.filter(schedule=every_5, outcome=RunOutcome.PAUSED).count() == 1


def test_a_week_of_pause_is_one_run_not_two_thousand(every_5):
    pause(every_5, at("2026-05-08 12:01"), now=at("2026-05-01 12:01"))

    passes(at("2026-05-01 12:05"), at("2026-05-08 12:00"), every=dt.timedelta(minutes=5))

    [paused] = ScheduleRun.objects.filter(schedule=every_5)
    assert paused.outcome == RunOutcome.PAUSED
    assert (paused.due_at, paused.coalesced_windows + 1) == (at("2026-05-08 12:00"), 2016)  # 7 days * 288
    assert paused.created_at == at("2026-05-01 12:05")  # when the first window was met
    assert not Job.objects.exists()


def test_a_late_pass_records_the_paused_windows_and_decides_the_later_ones_as_usual(every_5):
    """The scheduler was down from 12:01 until 12:42, across the end of the pause at 12:30."""
    pause(every_5, at("2026-05-01 12:30"))

    report = tick.run_pass(now=at("2026-05-01 12:42"))

    assert (report.outcomes, report.pauses_ended) == ({"paused": 1, "dispatched": 1}, 1)
    paused, ran = ScheduleRun.objects.filter(schedule=every_5).order_by("pk")
    assert (paused.outcome, paused.due_at, paused.coalesced_windows) == ("paused", at("2026-05-01 12:25"), 4)
    assert (ran.outcome, ran.due_at, ran.coalesced_windows) == ("dispatched", at("2026-05-01 12:40"), 2)
    assert window_jobs() == ["2026-05-01T12:40:00+00:00"]
    assert refreshed(every_5).next_run_at == at("2026-05-01 12:45")


def test_a_pass_coming_back_exactly_at_the_end_of_the_pause_runs_that_window_at_once(every_5):
    """The scheduler was down from 12:01 and passes again at 12:30, when the pause ends."""
    pause(every_5, at("2026-05-01 12:30"))

    report = tick.run_pass(now=at("2026-05-01 12:30"))

    assert report.outcomes == {"paused": 1, "dispatched": 1}
    assert window_jobs() == ["2026-05-01T12:30:00+00:00"]
    assert refreshed(every_5).next_run_at == at("2026-05-01 12:35")


def test_a_paused_window_the_ledger_cannot_explain_stops_the_pass_and_says_which(every_5):
    """The open paused run is past the window already, and no run holds that window (a row edited by
    hand, say): the pass does not guess; the failed pass's log names the window."""
    from django.db import IntegrityError

    pause(every_5, at("2026-05-01 13:00"))
    tick.run_pass(now=at("2026-05-01 12:05"))
    ScheduleRun.objects.filter(schedule=every_5).update(due_at=at("2026-05-01 12:20"))

    with pytest.raises(IntegrityError, match=rf"^Window 2026-05-01T12:10:00\+00:00 of schedule {every_5.pk} is in the "
                                             r"ledger\.$"):
        tick.run_pass(now=at("2026-05-01 12:10:01"))


def test_a_late_pass_inside_the_pause_coalesces_what_it_finds(every_5):
    pause(every_5, at("2026-05-01 13:00"))
    tick.run_pass(now=at("2026-05-01 12:22"))  # 12:05 to 12:20 at once
    tick.run_pass(now=at("2026-05-01 12:25"))
    [paused] = ScheduleRun.objects.filter(schedule=every_5)
    assert (paused.due_at, paused.coalesced_windows) == (at("2026-05-01 12:25"), 4)
    assert refreshed(every_5).next_run_at == at("2026-05-01 12:30")


def test_the_pause_ends_for_a_disabled_schedule_too(every_5):
    pause(every_5, at("2026-05-01 12:30"))
    services.schedule_set_enabled(schedule=every_5, enabled=False, now=at("2026-05-01 12:02"))
    assert tick.run_pass(now=at("2026-05-01 12:30")).pauses_ended == 1
    assert refreshed(every_5).paused_until is None


def test_a_failure_before_the_pause_stays_the_last_outcome(every_5):
    tick.run_pass(now=at("2026-05-01 12:05"))
    pause(every_5, at("2026-05-01 13:00"), now=at("2026-05-01 12:06"))
    tick.run_pass(now=at("2026-05-01 12:10"))  # a paused window, newer than the run still going

    finish(now=at("2026-05-01 12:11"), status=JobStatus.FAILED)

    assert refreshed(every_5).last_outcome == RunOutcome.FAILED
    passes(at("2026-05-01 12:15"), at("2026-05-01 12:30"), every=dt.timedelta(minutes=5))
    assert refreshed(every_5).last_outcome == RunOutcome.FAILED


def test_run_now_runs_a_paused_schedule_and_the_next_paused_window_starts_a_new_run(every_5):
    pause(every_5, at("2026-05-01 13:00"))
    passes(at("2026-05-01 12:05"), at("2026-05-01 12:10"), every=dt.timedelta(minutes=5))

    run = services.schedule_run_now(schedule=every_5, now=at("2026-05-01 12:12"))
    assert run.outcome == RunOutcome.DISPATCHED and refreshed(every_5).paused_until == at("2026-05-01 13:00")
    finish(now=at("2026-05-01 12:13"))
    passes(at("2026-05-01 12:15"), at("2026-05-01 12:20"), every=dt.timedelta(minutes=5))

    runs = list(ScheduleRun.objects.filter(schedule=every_5).order_by("pk").values_list("outcome", "coalesced_windows"))
    assert runs == [("paused", 1), ("succeeded", 0), ("paused", 1)]
    assert Job.objects.count() == 1


def test_resume_now_lifts_the_pause_and_the_next_window_runs(every_5, alice):
    pause(every_5, at("2026-05-01 13:00"))
    tick.run_pass(now=at("2026-05-01 12:05"))

    services.schedule_resume(schedule=every_5, now=at("2026-05-01 12:07"), actor=Actor(Via.PAGE, alice))
    tick.run_pass(now=at("2026-05-01 12:10"))

    assert window_jobs() == ["2026-05-01T12:10:00+00:00"]
    assert refreshed(every_5).paused_until is None
    assert tick.run_pass(now=at("2026-05-01 13:00")).pauses_ended == 0


def test_the_schedule_handed_back_by_resume_now_is_not_paused(every_5):
    """The API answers with it."""
    pause(every_5, at("2026-05-01 13:00"))
    resumed = services.schedule_resume(schedule=every_5, now=at("2026-05-01 12:07"))
    assert (resumed.paused_until, resumed.pause_reason, resumed.updated_at) == (None, "", at("2026-05-01 12:07"))


def test_the_pass_lifts_every_pause_that_ended_batch_after_batch(make_schedule):
    schedules = [make_schedule(now=START, name=f"Every 5 ({n})", schedule_kind="interval", interval_minutes=5)
                 for n in range(3)]
    for schedule, minute in zip(schedules, (30, 20, 25)):
        pause(schedule, at(f"2026-05-01 12:{minute}"))

    assert services.schedule_pauses_end(now=at("2026-05-01 12:30"), limit=2) == 3

    assert not ScheduledTask.objects.filter(paused_until__isnull=False).exists()
    resumed = ScheduleAuditEntry.objects.filter(action=AuditAction.RESUME).order_by("pk")
    assert [entry.schedule for entry in resumed] == [schedules[1], schedules[2], schedules[0]]  # as they ended


@pytest.mark.parametrize(("run_now_at", "runs"), [
    # Run now at the very instant of the paused window, written after it: the newer of the two.
    ("2026-05-01 12:05", [("paused", 0), ("succeeded", 0), ("paused", 0)]),
    # Run now whose instant was taken a moment before the pass's, written a moment after it: the paused
    # window is the newer, as the history lists them, and the next window is added to it.
    ("2026-05-01 12:04:59.9", [("paused", 1), ("succeeded", 0)]),
])
def test_the_open_paused_run_is_the_newest_as_the_history_lists_them(every_5, run_now_at, runs):
    pause(every_5, at("2026-05-01 13:00"))
    tick.run_pass(now=at("2026-05-01 12:05"))
    services.schedule_run_now(schedule=every_5, now=at(run_now_at))
    finish(now=at("2026-05-01 12:06"))

    tick.run_pass(now=at("2026-05-01 12:10"))

    assert list(ScheduleRun.objects.filter(schedule=every_5).order_by("pk").values_list(
        "outcome", "coalesced_windows")) == runs


@pytest.mark.parametrize("claimed_by", ["the open run moved", "a row of its own"])
def test_a_paused_window_already_in_the_ledger_is_set_aside(every_5, claimed_by):
    """A racing scheduler (or a simulated --now pass) claimed the window: the pass moves on."""
    pause(every_5, at("2026-05-01 13:00"))
    tick.run_pass(now=at("2026-05-01 12:05"))
    if claimed_by == "a row of its own":
        ScheduleRun.objects.create(schedule=every_5, trigger="scheduled", due_at=at("2026-05-01 12:10"),
                                   outcome="paused", created_at=at("2026-05-01 12:10"))
    else:
        ScheduleRun.objects.filter(schedule=every_5).update(due_at=at("2026-05-01 12:10"), coalesced_windows=1)
    counted = sum(ScheduleRun.objects.filter(schedule=every_5).values_list("coalesced_windows", flat=True))

    report = tick.run_pass(now=at("2026-05-01 12:10:01"))

    assert report.lost_races == 1
    assert refreshed(every_5).next_run_at == at("2026-05-01 12:15")
    assert ScheduleRun.objects.filter(schedule=every_5, due_at=at("2026-05-01 12:10")).count() == 1
    assert sum(ScheduleRun.objects.filter(schedule=every_5).values_list("coalesced_windows", flat=True)) == counted


# --- DST ------------------------------------------------------------------------------------------

def test_a_pause_ending_at_a_wall_time_the_clocks_skip_ends_after_the_gap(make_schedule):
    """Berlin springs forward on 29 March 2026 from 02:00 to 03:00: 02:30 does not exist."""
    daily = make_schedule(now=at("2026-03-28 12:00"), name="Daily 02:30", schedule_time="02:30",
                          timezone="Europe/Berlin")
    half_hourly = make_schedule(now=at("2026-03-28 12:00"), name="Half-hourly", schedule_kind="interval",
                                interval_minutes=30)
    until = recurrence.wall_to_instant(dt.datetime(2026, 3, 29, 2, 30), "Europe/Berlin")
    assert until == at("2026-03-29 01:30")  # 03:30 CEST, shifted by the gap like a daily run
    for schedule in (daily, half_hourly):
        pause(schedule, until, reason="", now=at("2026-03-28 12:00"))

    passes(at("2026-03-28 12:00"), at("2026-03-29 02:00"), every=dt.timedelta(minutes=30))

    due = {schedule.name: list(schedule.runs.order_by("pk").values_list("outcome", "due_at"))
           for schedule in (daily, half_hourly)}
    # The daily run's own 02:30 is also shifted to 03:30 CEST: it is the first window after the pause.
    assert due["Daily 02:30"] == [("succeeded", at("2026-03-29 01:30"))]
    assert due["Half-hourly"] == [("paused", at("2026-03-29 01:00")), ("succeeded", at("2026-03-29 01:30")),
                                  ("succeeded", at("2026-03-29 02:00"))]
    assert ScheduleRun.objects.get(outcome="paused").coalesced_windows == 25  # 12:30 to 00:30 UTC


def test_a_pause_ending_at_a_repeated_wall_time_ends_at_its_first_occurrence(make_schedule):
    """Berlin falls back on 25 October 2026 from 03:00 CEST to 02:00 CET: 02:30 happens twice."""
    half_hourly = make_schedule(now=at("2026-10-24 23:00"), schedule_kind="interval", interval_minutes=30,
                                timezone="Europe/Berlin")
    until = recurrence.wall_to_instant(dt.datetime(2026, 10, 25, 2, 30), "Europe/Berlin")
    assert until == at("2026-10-25 00:30")  # 02:30 CEST, the first 02:30
    pause(half_hourly, until, reason="", now=at("2026-10-24 23:10"))

    passes(at("2026-10-24 23:30"), at("2026-10-25 01:30"), every=dt.timedelta(minutes=30))

    runs = list(half_hourly.runs.order_by("pk").values_list("outcome", "due_at"))
    assert runs == [("paused", at("2026-10-25 00:00")), ("succeeded", at("2026-10-25 00:30")),
                    ("succeeded", at("2026-10-25 01:00")), ("succeeded", at("2026-10-25 01:30"))]
    assert refreshed(half_hourly).paused_until is None


# --- audit ----------------------------------------------------------------------------------------

def test_pausing_and_resuming_are_audited_with_who_when_through_what_and_the_diff(every_5, alice):
    pause(every_5, at("2026-05-02 08:00"), now=at("2026-05-01 12:01"), actor=Actor(Via.API, alice))
    pause(every_5, at("2026-05-02 09:00"), now=at("2026-05-01 12:02"), actor=Actor(Via.PAGE, alice))
    pause(every_5, at("2026-05-02 09:00"), now=at("2026-05-01 12:03"), actor=Actor(Via.PAGE, alice))  # no change
    services.schedule_resume(schedule=every_5, now=at("2026-05-01 12:04"), actor=Actor(Via.ADMIN, alice))
    services.schedule_resume(schedule=every_5, now=at("2026-05-01 12:05"), actor=Actor(Via.ADMIN, alice))  # not paused

    entries = list(every_5.audit_entries.exclude(action="create").order_by("pk")
                   .values_list("action", "via", "actor_name", "at", "changes"))
    assert entries == [
        ("pause", "api", "alice", at("2026-05-01 12:01"),
         {"paused_until": [None, "2026-05-02T08:00:00+00:00"], "pause_reason": ["", "server maintenance"]}),
        ("pause", "page", "alice", at("2026-05-01 12:02"),
         {"paused_until": ["2026-05-02T08:00:00+00:00", "2026-05-02T09:00:00+00:00"]}),
        ("resume", "admin", "alice", at("2026-05-01 12:04"),
         {"paused_until": ["2026-05-02T09:00:00+00:00", None], "pause_reason": ["server maintenance", ""]}),
    ]
    assert refreshed(every_5).updated_at == at("2026-05-01 12:04")


def test_an_edit_keeps_the_pause(every_5):
    pause(every_5, at("2026-05-02 08:00"))
    every_5 = refreshed(every_5)
    every_5.name = "Renamed"
    services.schedule_save(schedule=every_5, now=at("2026-05-01 12:03"))
    assert refreshed(every_5).paused_until == at("2026-05-02 08:00")
    assert set(every_5.audit_entries.get(action="update").changes) == {"name"}


def test_an_edit_in_a_form_opened_before_the_pause_keeps_the_pause(every_5):
    form_copy = ScheduledTask.objects.get(pk=every_5.pk)
    pause(every_5, at("2026-05-02 08:00"))
    form_copy.name = "Renamed"

    services.schedule_save(schedule=form_copy, now=at("2026-05-01 12:03"))

    every_5 = refreshed(every_5)
    assert (every_5.name, every_5.paused_until, every_5.pause_reason) == ("Renamed", at("2026-05-02 08:00"),
                                                                         "server maintenance")


def test_schedule_tick_says_which_pauses_ended_and_a_dry_run_keeps_them(every_5):
    from io import StringIO

    from django.core.management import call_command

    def schedule_tick(*args) -> str:
        out = StringIO()
        call_command("schedule_tick", *args, stdout=out)
        return out.getvalue().strip()

    pause(every_5, at("2026-05-01 12:30"))
    tick.run_pass(now=at("2026-05-01 12:25"))

    assert schedule_tick("--dry-run", "--now", "2026-05-01T12:30:00Z") == (
        "Dry run, nothing kept: 2026-05-01T12:30:00+00:00: 1 window: 1 dispatched; dispatched up to 0.000 s after "
        "the window; 1 pause ended.")
    assert refreshed(every_5).paused_until == at("2026-05-01 12:30")
    assert schedule_tick("--now", "2026-05-01T12:31:00Z").endswith("1 dispatched; dispatched up to 60.000 s after the "
                                                                   "window; 1 pause ended.")
    assert refreshed(every_5).paused_until is None
    assert schedule_tick("--now", "2026-05-01T12:32:00Z") == "2026-05-01T12:32:00+00:00: nothing due."


def test_schedule_tick_says_a_pause_ended_when_nothing_was_due(make_schedule):
    from io import StringIO

    from django.core.management import call_command

    daily = make_schedule(now=START)  # 02:00 UTC: nothing due in the afternoon
    pause(daily, at("2026-05-01 12:30"))
    out = StringIO()
    call_command("schedule_tick", "--now", "2026-05-01T12:31:00Z", stdout=out)
    assert out.getvalue().strip() == "2026-05-01T12:31:00+00:00: nothing due; 1 pause ended."
