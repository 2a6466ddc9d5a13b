"""The scheduler's pass: one run per window, coalescing, grace, overlap, dispatch."""

import datetime as dt

import pytest

from jobs.models import Job, JobStatus
from scheduling import tick
from scheduling.models import RunOutcome, ScheduledTask, ScheduleRun
from tests.scheduling.conftest import at, refreshed

pytestmark = pytest.mark.django_db


def test_it_dispatches_a_due_window_once(make_schedule):
    schedule = make_schedule(now=at("2026-05-01 12:00"), schedule_time="02:00")
    assert schedule.next_run_at == at("2026-05-02 02:00")

    report = tick.run_pass(now=at("2026-05-02 02:00:01"))

    assert report.outcomes == {"dispatched": 1}
    [run] = ScheduleRun.objects.filter(schedule=schedule)
    assert (run.trigger, run.due_at, run.outcome) == ("scheduled", at("2026-05-02 02:00"), "dispatched")
    [job] = run.jobs.all()
    assert job.job_type == "DATABASE_BACKUP"
    assert job.status == JobStatus.QUEUED
    assert job.params == {"backup_type": "full", "retention_days": 30, "cleanup_old": True,
                          "force_backup": False, "copy_offsite": True, "window_start": "2026-05-02T02:00:00+00:00"}
    assert (job.origin_label, job.origin_url) == (f"Schedule “Nightly backup”, run #{run.pk}",
                                                  f"/schedules/runs/{run.pk}")
    schedule = refreshed(schedule)
    assert schedule.next_run_at == at("2026-05-03 02:00")
    assert schedule.last_run_at == at("2026-05-02 02:00:01")
    assert schedule.last_outcome == "dispatched"
    assert schedule.updated_at == at("2026-05-02 02:00:01")  # the row changed, as every save says


def test_it_does_nothing_before_the_window(make_schedule):
    make_schedule(now=at("2026-05-01 12:00"), schedule_time="02:00")
    assert tick.run_pass(now=at("2026-05-02 01:59:59")).windows == 0
    assert not ScheduleRun.objects.exists()


def test_it_runs_each_window_once_however_often_it_passes(make_schedule):
    schedule = make_schedule(now=at("2026-05-01 12:00"), schedule_time="02:00")
    for second in range(0, 60, 5):
        tick.run_pass(now=at("2026-05-02 02:00") + dt.timedelta(seconds=second))
    assert ScheduleRun.objects.filter(schedule=schedule).count() == 1
    assert Job.objects.count() == 1


def test_it_simulates_a_week_firing_once_per_day(make_schedule):
    """The manual test plan's 'simulate time' step: once and only once per day."""
    schedule = make_schedule(now=at("2026-05-01 12:00"), schedule_time="02:00")
    instant = at("2026-05-01 12:00")
    while instant < at("2026-05-08 12:00"):
        tick.run_pass(now=instant)
        Job.objects.update(status=JobStatus.COMPLETED)  # the worker's part
        instant += dt.timedelta(minutes=7)
    due = list(ScheduleRun.objects.filter(schedule=schedule).order_by("due_at").values_list("due_at", flat=True))
    assert due == [at(f"2026-05-0{day} 02:00") for day in range(2, 9)]
    assert Job.objects.count() == 7


def test_it_fires_once_after_three_days_of_downtime_and_records_the_missed_windows(make_schedule):
    daily = make_schedule(now=at("2026-05-01 12:00"), name="daily", schedule_time="02:00")
    every_15 = make_schedule(now=at("2026-05-01 12:00"), name="interval", schedule_kind="interval",
                             interval_minutes=15)
    # The scheduler was down from May 1 12:00 until May 4 02:10.
    report = tick.run_pass(now=at("2026-05-04 02:10"))

    assert report.outcomes == {"dispatched": 2}
    [daily_run] = ScheduleRun.objects.filter(schedule=daily)
    assert daily_run.due_at == at("2026-05-04 02:00")
    assert daily_run.coalesced_windows == 2  # May 2 and May 3
    assert daily_run.message.startswith("2 earlier windows since Sat 2 May 2026, 02:00 UTC passed while no scheduler "
                                        "ran; they are folded into this one.")
    [interval_run] = ScheduleRun.objects.filter(schedule=every_15)
    assert interval_run.due_at == at("2026-05-04 02:00")
    # Every quarter hour from May 1 12:15 to May 4 01:45: 61.75 h * 4 = 247 windows.
    assert interval_run.coalesced_windows == 247
    assert Job.objects.count() == 2
    assert refreshed(daily).next_run_at == at("2026-05-05 02:00")
    assert refreshed(every_15).next_run_at == at("2026-05-04 02:15")
    # Nothing more fires until the next windows.
    assert tick.run_pass(now=at("2026-05-04 02:14")).windows == 0


def test_it_records_a_window_past_its_grace_period_as_missed(make_schedule):
    schedule = make_schedule(now=at("2026-05-01 12:00"), schedule_time="02:00", grace_minutes=60)
    report = tick.run_pass(now=at("2026-05-02 03:01"))

    assert report.outcomes == {"missed": 1}
    [run] = ScheduleRun.objects.filter(schedule=schedule)
    assert run.outcome == RunOutcome.MISSED
    assert "1 h 1 min late" in run.message
    assert not Job.objects.exists()
    schedule = refreshed(schedule)
    assert schedule.next_run_at == at("2026-05-03 02:00")
    assert schedule.last_run_at is None
    assert schedule.last_outcome == "missed"


def test_it_runs_a_window_just_inside_its_grace_period(make_schedule):
    make_schedule(now=at("2026-05-01 12:00"), schedule_time="02:00", grace_minutes=60)
    assert tick.run_pass(now=at("2026-05-02 03:00")).outcomes == {"dispatched": 1}


def test_it_skips_a_window_while_the_previous_run_is_active(make_schedule):
    schedule = make_schedule(now=at("2026-05-01 12:00"), schedule_kind="interval", interval_minutes=5)
    tick.run_pass(now=at("2026-05-01 12:05"))
    assert Job.objects.get().status == JobStatus.QUEUED  # no worker has taken it yet

    report = tick.run_pass(now=at("2026-05-01 12:10"))

    assert report.outcomes == {"skipped": 1}
    assert ScheduleRun.objects.get(due_at=at("2026-05-01 12:10")).message == "Skipped: the previous run is still active."
    assert Job.objects.count() == 1
    assert refreshed(schedule).next_run_at == at("2026-05-01 12:15")


def test_it_runs_again_once_the_previous_run_finished(make_schedule):
    make_schedule(now=at("2026-05-01 12:00"), schedule_kind="interval", interval_minutes=5)
    tick.run_pass(now=at("2026-05-01 12:05"))
    Job.objects.update(status=JobStatus.COMPLETED)
    assert tick.run_pass(now=at("2026-05-01 12:10")).outcomes == {"dispatched": 1}


def test_it_overlaps_when_the_policy_allows(make_schedule):
    make_schedule(now=at("2026-05-01 12:00"), schedule_kind="interval", interval_minutes=5, overlap_policy="allow")
    tick.run_pass(now=at("2026-05-01 12:05"))
    assert tick.run_pass(now=at("2026-05-01 12:10")).outcomes == {"dispatched": 1}
    assert Job.objects.filter(status=JobStatus.QUEUED).count() == 2


def test_it_creates_a_quick_sync_job_per_enabled_channel(make_schedule, news_group):
    schedule = make_schedule(now=at("2026-05-01 12:00"), task_type="QUICK_SYNC_GROUP",
                             params={"group_id": news_group.pk}, schedule_time="05:30")
    tick.run_pass(now=at("2026-05-02 05:30"))

    [run] = ScheduleRun.objects.filter(schedule=schedule)
    jobs = list(run.jobs.order_by("pk"))
    enabled = list(news_group.channels.filter(enabled=True).order_by("pk").values_list("pk", flat=True))
    assert [job.job_type for job in jobs] == ["QUICK_SYNC"] * 3
    assert [job.params["channel_id"] for job in jobs] == enabled
    assert run.message == "3 jobs created."


def test_it_records_a_failed_run_when_the_group_is_gone_and_moves_on(make_schedule, news_group):
    schedule = make_schedule(now=at("2026-05-01 12:00"), task_type="QUICK_SYNC_GROUP",
                             params={"group_id": news_group.pk}, schedule_time="05:30")
    group_id = news_group.pk
    news_group.delete()

    report = tick.run_pass(now=at("2026-05-02 05:30"))

    assert report.outcomes == {"dispatch_failed": 1}
    run = ScheduleRun.objects.get(schedule=schedule)
    assert run.message == f"The channel group (id {group_id}) no longer exists."
    assert refreshed(schedule).next_run_at == at("2026-05-03 05:30")


def test_it_leaves_disabled_schedules_alone(make_schedule):
    make_schedule(now=at("2026-05-01 12:00"), enabled=False)
    assert tick.run_pass(now=at("2026-05-09 12:00")).windows == 0


def test_it_handles_many_due_schedules_across_batches(make_schedule):
    for n in range(7):
        make_schedule(now=at("2026-05-01 12:00"), name=f"s{n}")
    report = tick.run_pass(now=at("2026-05-02 02:00"), batch_size=3)
    assert report.outcomes == {"dispatched": 7}
    assert ScheduleRun.objects.count() == Job.objects.count() == 7


def test_it_reports_how_late_it_dispatched(make_schedule):
    make_schedule(now=at("2026-05-01 12:00"))
    report = tick.run_pass(now=at("2026-05-02 02:00:00.250"))
    assert report.max_lateness == dt.timedelta(milliseconds=250)


def test_it_copes_with_a_year_of_downtime_on_a_five_minute_schedule(make_schedule):
    schedule = make_schedule(now=at("2025-05-01 12:00"), schedule_kind="interval", interval_minutes=5)
    tick.run_pass(now=at("2026-05-01 12:02"))
    run = ScheduleRun.objects.get(schedule=schedule)
    assert (run.due_at, run.outcome) == (at("2026-05-01 12:00"), "dispatched")
    assert run.coalesced_windows == tick.MAX_WINDOWS_COUNTED
    assert run.message.startswith(f"At least {tick.MAX_WINDOWS_COUNTED} earlier windows")
    assert refreshed(schedule).next_run_at == at("2026-05-01 12:05")


def test_it_fires_a_berlin_schedule_at_local_time_across_the_spring_gap(make_schedule):
    schedule = make_schedule(now=at("2026-03-27 12:00"), schedule_time="02:30", timezone="Europe/Berlin")
    tick.run_pass(now=at("2026-03-28 01:30"))  # 02:30 CET
    tick.run_pass(now=at("2026-03-29 01:30"))  # 02:30 does not exist; 03:30 CEST
    tick.run_pass(now=at("2026-03-30 00:30"))  # 02:30 CEST
    due = list(ScheduleRun.objects.filter(schedule=schedule).order_by("due_at").values_list("due_at", flat=True))
    assert due == [at("2026-03-28 01:30"), at("2026-03-29 01:30"), at("2026-03-30 00:30")]


def test_a_window_already_in_the_ledger_is_set_aside_and_the_rest_of_the_batch_runs(make_schedule):
    """A racing scheduler that lost sees the unique (schedule, due_at) fail and moves on."""
    claimed = make_schedule(now=at("2026-05-01 12:00"), name="claimed elsewhere")
    others = [make_schedule(now=at("2026-05-01 12:00"), name=f"other {n}") for n in range(3)]
    ScheduleRun.objects.create(schedule=claimed, trigger="scheduled", due_at=at("2026-05-02 02:00"),
                               outcome="dispatched", created_at=at("2026-05-02 02:00"))

    report = tick.run_pass(now=at("2026-05-02 02:00:05"))

    assert report.outcomes == {"dispatched": 3}
    assert report.lost_races == 1
    assert ScheduleRun.objects.filter(schedule=claimed).count() == 1
    assert all(ScheduleRun.objects.filter(schedule=other).count() == 1 for other in others)
    assert Job.objects.count() == 3
    assert refreshed(claimed).next_run_at == at("2026-05-03 02:00")
    assert tick.run_pass(now=at("2026-05-02 02:00:10")).windows == 0


def test_a_schedule_whose_timing_no_longer_computes_pauses_without_stopping_the_others(make_schedule):
    broken = make_schedule(now=at("2026-05-01 12:00"), name="broken")
    healthy = make_schedule(now=at("2026-05-01 12:00"), name="healthy")
    # Stored before a tzdata update removed the zone, say; validation would refuse it today.
    ScheduledTask.objects.filter(pk=broken.pk).update(timezone="Mars/Olympus_Mons")

    report = tick.run_pass(now=at("2026-05-02 02:00"))

    assert report.outcomes == {"dispatched": 1, "dispatch_failed": 1}
    run = ScheduleRun.objects.get(schedule=broken)
    assert (run.due_at, run.coalesced_windows) == (at("2026-05-02 02:00"), 0)  # its own window, nothing folded in
    assert run.message.startswith("The schedule's timing is invalid (Unknown time zone 'Mars/Olympus_Mons'")
    assert run.message.endswith("it is paused until edited.")
    assert refreshed(broken).next_run_at is None
    assert ScheduleRun.objects.get(schedule=healthy).outcome == "dispatched"
    Job.objects.update(status=JobStatus.COMPLETED)
    assert tick.run_pass(now=at("2026-05-03 02:00")).outcomes == {"dispatched": 1}  # only the healthy one


def test_it_finds_due_schedules_through_the_partial_index():
    from django.db import connection

    if connection.vendor == "postgresql":
        # An empty table is cheaper to scan; ask whether the index *can* serve the query.
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
    plan = tick.due_schedules(now=at("2026-05-02 02:00")).explain()
    assert "scheduled_task_due_idx" in plan, plan


def test_a_conflict_the_ledger_does_not_explain_is_not_swallowed(make_schedule):
    schedule = make_schedule(now=at("2026-05-01 12:00"))
    assert tick._move_past_claimed_window(schedule.pk, now=at("2026-05-02 02:00")) is False
    assert refreshed(schedule).next_run_at == at("2026-05-02 02:00")


@pytest.mark.parametrize("task_type", ["DATABASE_BACKUP", "QUICK_SYNC_GROUP"])
def test_a_batch_of_many_windows_costs_as_many_statements_as_a_batch_of_few(make_schedule, news_group, task_type):
    """The runs are written before their task types are asked, and their outcomes after: still in a
    number of statements that does not grow with the windows (the task types' own aside)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    params = {"group_id": news_group.pk} if task_type == "QUICK_SYNC_GROUP" else {}

    def pass_over(windows: int, day: int) -> list[str]:
        for n in range(windows):
            make_schedule(now=at(f"2026-05-{day:02d} 12:00"), name=f"{day}-{n}", task_type=task_type, params=params)
        with CaptureQueriesContext(connection) as queries:
            tick.run_pass(now=at(f"2026-05-{day + 1:02d} 02:00"))
        ScheduledTask.objects.update(enabled=False)
        return [q["sql"] for q in queries.captured_queries if "channels_" not in q["sql"]]

    few, many = pass_over(2, 1), pass_over(7, 10)

    assert ScheduleRun.objects.filter(outcome="dispatched").count() == 9
    assert len(many) == len(few)


# --------------------------------------------------------------------------- missed windows (make mutation)


@pytest.mark.parametrize(("fields", "now", "due_at", "coalesced", "next_run_at"), [
    # One window missed: the newest is a minute old.
    ({"schedule_time": "02:00"}, "2026-05-03 02:00:30", "2026-05-03 02:00", 1, "2026-05-04 02:00"),
    # One window missed, and the pass comes exactly at the next one: that one runs, now.
    ({"schedule_time": "02:00"}, "2026-05-03 02:00", "2026-05-03 02:00", 1, "2026-05-04 02:00"),
    # Two windows close together after a long gap: the newest is found past the older one of the pair.
    ({"schedule_kind": "cron", "cron_expr": "0,10 8 * * *"}, "2026-05-02 08:15", "2026-05-02 08:10", 2,
     "2026-05-03 08:00"),
])
def test_it_runs_the_newest_missed_window_once_and_counts_the_others(make_schedule, fields, now, due_at, coalesced,
                                                                     next_run_at):
    schedule = make_schedule(now=at("2026-05-01 08:05"), **fields)

    report = tick.run_pass(now=at(now))

    assert report.outcomes == {"dispatched": 1}
    run = ScheduleRun.objects.get(schedule=schedule)
    assert (run.due_at, run.coalesced_windows, run.outcome) == (at(due_at), coalesced, "dispatched")
    assert refreshed(schedule).next_run_at == at(next_run_at)


@pytest.mark.parametrize("other_run", ["another schedule's window", "a run-now at that instant", "an earlier window"])
def test_a_run_that_is_not_this_window_does_not_explain_a_conflict(make_schedule, other_run):
    schedule = make_schedule(now=at("2026-05-01 12:00"))
    other = make_schedule(now=at("2026-05-01 12:00"), name="other")
    run = {"another schedule's window": {"schedule": other, "trigger": "scheduled", "due_at": at("2026-05-02 02:00")},
           "a run-now at that instant": {"schedule": schedule, "trigger": "manual", "due_at": at("2026-05-02 02:00")},
           "an earlier window": {"schedule": schedule, "trigger": "scheduled", "due_at": at("2026-05-01 02:00")}}
    ScheduleRun.objects.create(**run[other_run], outcome="dispatched", created_at=at("2026-05-01 12:00"))

    assert tick._move_past_claimed_window(schedule.pk, now=at("2026-05-02 02:00")) is False
    assert refreshed(schedule).next_run_at == at("2026-05-02 02:00")


def test_a_schedule_a_racing_scheduler_moved_on_meanwhile_is_not_a_conflict(make_schedule):
    schedule = make_schedule(now=at("2026-05-01 12:00"))
    ScheduledTask.objects.filter(pk=schedule.pk).update(next_run_at=at("2026-05-03 02:00"))  # the other one's work

    assert tick._move_past_claimed_window(schedule.pk, now=at("2026-05-02 02:00")) is True
    assert refreshed(schedule).next_run_at == at("2026-05-03 02:00")


def test_it_logs_the_window_it_set_aside_for_the_operator(make_schedule, caplog):
    claimed = make_schedule(now=at("2026-05-01 12:00"), name="claimed elsewhere")
    ScheduleRun.objects.create(schedule=claimed, trigger="scheduled", due_at=at("2026-05-02 02:00"),
                               outcome="dispatched", created_at=at("2026-05-02 02:00"))

    with caplog.at_level("WARNING", logger="scheduling.tick"):
        tick.run_pass(now=at("2026-05-02 02:00:05"))

    assert f"Schedule {claimed.pk}: window 2026-05-02T02:00:00+00:00 is already in the ledger; moving on." in (
        caplog.messages)


def test_it_logs_each_window_decided_with_its_ids_for_the_operator(make_schedule, caplog):
    schedule = make_schedule(now=at("2026-05-01 12:00"), schedule_time="02:00")

    with caplog.at_level("INFO", logger="scheduling.tick"):
        tick.run_pass(now=at("2026-05-03 02:00:01.5"))

    [line] = [record for record in caplog.records if getattr(record, "event", None) == "window"]
    run = ScheduleRun.objects.get(schedule=schedule)
    assert line.getMessage() == f"Window 2026-05-03T02:00:00+00:00 of schedule “Nightly backup”: dispatched. {run.message}"
    assert (line.schedule_id, line.run_id, line.outcome, line.due_at, line.late_seconds, line.coalesced) == (
        schedule.pk, run.pk, "dispatched", at("2026-05-03 02:00"), 1.5, 1)


def test_it_logs_how_late_a_window_was_to_the_millisecond(make_schedule, caplog):
    make_schedule(now=at("2026-05-01 12:00"), schedule_time="02:00")

    with caplog.at_level("INFO", logger="scheduling.tick"):
        tick.run_pass(now=at("2026-05-02 02:00:00.0004"))

    [line] = [record for record in caplog.records if getattr(record, "event", None) == "window"]
    assert line.late_seconds == 0.0


def test_it_logs_which_schedule_cannot_compute_its_windows_and_why(make_schedule, caplog):
    broken = make_schedule(now=at("2026-05-01 12:00"), name="broken")
    ScheduledTask.objects.filter(pk=broken.pk).update(timezone="Mars/Olympus_Mons")

    with caplog.at_level("ERROR", logger="scheduling.tick"):
        tick.run_pass(now=at("2026-05-02 02:00"))

    [line] = [record for record in caplog.records if record.name == "scheduling.tick" and record.levelname == "ERROR"]
    assert line.getMessage() == f"Schedule {broken.pk}: cannot compute its windows"
    assert "Mars/Olympus_Mons" in str(line.exc_info[1])  # the traceback follows the line


def test_a_pass_that_fails_keeps_what_the_batches_before_it_did(make_schedule, monkeypatch):
    """A batch is a transaction of its own: a bug met in the second batch undoes that batch only, and
    its schedule stays due for the next pass."""
    from scheduling import registry

    first = make_schedule(now=at("2026-05-01 12:00"), name="first", schedule_time="02:00")
    second = make_schedule(now=at("2026-05-01 12:00"), name="second", schedule_time="02:01")
    job_requests_for = registry.job_requests_for

    def failing_for_second(run, *, now):
        if run.schedule_name == "second":
            raise RuntimeError("a bug in a task type")
        return job_requests_for(run, now=now)

    monkeypatch.setattr(registry, "job_requests_for", failing_for_second)

    with pytest.raises(RuntimeError):
        tick.run_pass(now=at("2026-05-02 02:01"), batch_size=1)

    assert ScheduleRun.objects.get(schedule=first).outcome == "dispatched"
    assert Job.objects.count() == 1
    assert refreshed(first).next_run_at == at("2026-05-03 02:00")
    assert not ScheduleRun.objects.filter(schedule=second).exists()
    assert refreshed(second).next_run_at == at("2026-05-02 02:01")
