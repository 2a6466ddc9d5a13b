"""Saving, enabling and running schedules by hand."""

import pytest

from jobs.models import Job, JobStatus
from scheduling import services, tick
from scheduling.models import ScheduledTask, ScheduleRun
from tests.scheduling.conftest import at, refreshed

pytestmark = pytest.mark.django_db


def test_it_computes_next_run_on_create(make_schedule):
    schedule = make_schedule(now=at("2026-05-01 12:00"), schedule_kind="weekly", schedule_days=["mon", "wed", "fri"],
                             schedule_time="04:00", timezone="Europe/Berlin")
    assert schedule.next_run_at == at("2026-05-04 02:00")  # Monday 04:00 CEST


def test_it_anchors_an_interval_at_creation(make_schedule):
    schedule = make_schedule(now=at("2026-05-01 10:07"), schedule_kind="interval", interval_minutes=15)
    assert schedule.anchor_at == at("2026-05-01 10:07")
    assert schedule.next_run_at == at("2026-05-01 10:22")


def test_it_recomputes_next_run_when_the_timing_changes(make_schedule):
    schedule = make_schedule(now=at("2026-05-01 12:00"), schedule_time="02:00")
    schedule.schedule_time = "23:15"
    services.schedule_save(schedule=schedule, now=at("2026-05-01 13:00"))
    assert refreshed(schedule).next_run_at == at("2026-05-01 23:15")


def test_it_keeps_next_run_when_only_the_name_changes(make_schedule):
    schedule = make_schedule(now=at("2026-05-01 12:00"), schedule_time="02:00")
    schedule.name = "Renamed"
    services.schedule_save(schedule=schedule, now=at("2026-05-03 13:00"))
    schedule = refreshed(schedule)
    assert (schedule.name, schedule.next_run_at) == ("Renamed", at("2026-05-02 02:00"))


def test_it_does_not_overwrite_what_the_scheduler_wrote_meanwhile(make_schedule):
    schedule = make_schedule(now=at("2026-05-01 12:00"), schedule_time="02:00")
    stale_copy = ScheduledTask.objects.get(pk=schedule.pk)
    tick.run_pass(now=at("2026-05-02 02:00"))
    stale_copy.name = "Renamed in a form opened before the run"
    services.schedule_save(schedule=stale_copy, now=at("2026-05-02 02:01"))
    schedule = refreshed(schedule)
    assert schedule.last_run_at == at("2026-05-02 02:00")
    assert schedule.next_run_at == at("2026-05-03 02:00")


def test_it_clears_next_run_while_disabled(make_schedule):
    schedule = make_schedule(now=at("2026-05-01 12:00"))
    services.schedule_set_enabled(schedule=schedule, enabled=False, now=at("2026-05-01 12:01"))
    assert refreshed(schedule).next_run_at is None


def test_it_does_not_fire_missed_windows_when_re_enabled(make_schedule):
    schedule = make_schedule(now=at("2026-05-01 12:00"), schedule_time="02:00")
    services.schedule_set_enabled(schedule=schedule, enabled=False, now=at("2026-05-01 12:01"))
    services.schedule_set_enabled(schedule=schedule, enabled=True, now=at("2026-05-05 02:30"))

    assert refreshed(schedule).next_run_at == at("2026-05-06 02:00")
    assert tick.run_pass(now=at("2026-05-05 02:31")).windows == 0


def test_it_validates_on_save(make_schedule):
    schedule = make_schedule(now=at("2026-05-01 12:00"))
    schedule.schedule_time = "25:00"
    with pytest.raises(Exception) as exc_info:
        services.schedule_save(schedule=schedule, now=at("2026-05-01 12:00"))
    assert "schedule_time" in exc_info.value.message_dict
    assert refreshed(schedule).schedule_time == "02:00"  # nothing half-written


def test_it_runs_now_without_touching_the_next_run(make_schedule):
    schedule = make_schedule(now=at("2026-05-01 12:00"))
    run = services.schedule_run_now(schedule=schedule, now=at("2026-05-01 12:30"))

    assert (run.trigger, run.outcome, run.due_at) == ("manual", "dispatched", at("2026-05-01 12:30"))
    assert run.jobs.get().job_type == "DATABASE_BACKUP"
    schedule = refreshed(schedule)
    assert schedule.next_run_at == at("2026-05-02 02:00")
    assert schedule.last_run_at == at("2026-05-01 12:30")


def test_it_refuses_to_run_now_while_a_run_is_active(make_schedule):
    schedule = make_schedule(now=at("2026-05-01 12:00"))
    services.schedule_run_now(schedule=schedule, now=at("2026-05-01 12:30"))
    with pytest.raises(services.RunActiveError) as refused:
        services.schedule_run_now(schedule=schedule, now=at("2026-05-01 12:31"))
    assert str(refused.value) == "“Nightly backup” is still busy with an earlier run: 1 job queued (waiting for a worker)."
    assert ScheduleRun.objects.count() == 1


def test_the_refusal_says_when_the_earlier_run_is_already_running(make_schedule):
    schedule = make_schedule(now=at("2026-05-01 12:00"))
    run = services.schedule_run_now(schedule=schedule, now=at("2026-05-01 12:30"))
    run.jobs.update(status=JobStatus.RUNNING)
    with pytest.raises(services.RunActiveError, match=r"earlier run: 1 job running\.$"):
        services.schedule_run_now(schedule=schedule, now=at("2026-05-01 12:31"))


def test_it_runs_now_while_active_when_forced(make_schedule):
    schedule = make_schedule(now=at("2026-05-01 12:00"))
    services.schedule_run_now(schedule=schedule, now=at("2026-05-01 12:30"))
    services.schedule_run_now(schedule=schedule, now=at("2026-05-01 12:31"), force=True)
    assert Job.objects.filter(status=JobStatus.QUEUED).count() == 2


def test_it_runs_a_disabled_schedule_now(make_schedule):
    schedule = make_schedule(now=at("2026-05-01 12:00"), enabled=False)
    run = services.schedule_run_now(schedule=schedule, now=at("2026-05-01 12:30"))
    assert run.outcome == "dispatched"
    assert refreshed(schedule).next_run_at is None


def test_a_manual_run_at_a_window_does_not_block_the_scheduled_one(make_schedule):
    schedule = make_schedule(now=at("2026-05-01 12:00"), overlap_policy="allow")
    services.schedule_run_now(schedule=schedule, now=at("2026-05-02 02:00"))
    assert tick.run_pass(now=at("2026-05-02 02:00")).outcomes == {"dispatched": 1}


def test_heartbeats_of_schedulers_silent_for_a_day_are_forgotten():
    from scheduling import loop
    from scheduling.models import SchedulerHeartbeat

    SchedulerHeartbeat.objects.create(name="old-box:1", last_pass_at=at("2026-04-29 12:00"))
    SchedulerHeartbeat.objects.create(name="box:2", last_pass_at=at("2026-04-30 13:00"))
    loop.write_heartbeat(now=at("2026-05-01 12:00"), report=tick.PassReport(now=at("2026-05-01 12:00")),
                         source="loop", name="box:3")
    assert sorted(SchedulerHeartbeat.objects.values_list("name", flat=True)) == ["box:2", "box:3"]


def test_run_now_records_a_failed_run_when_the_group_is_gone(make_schedule, news_group):
    schedule = make_schedule(now=at("2026-05-01 12:00"), task_type="QUICK_SYNC_GROUP",
                             params={"group_id": news_group.pk})
    group_id = news_group.pk
    news_group.delete()

    run = services.schedule_run_now(schedule=schedule, now=at("2026-05-01 12:30"))

    assert (run.outcome, run.message) == ("dispatch_failed", f"The channel group (id {group_id}) no longer exists.")
    assert not Job.objects.exists()
    assert refreshed(schedule).last_outcome == "dispatch_failed"
    assert services.run_now_message(run) == (f"“Nightly backup” could not run: The channel group (id {group_id}) "
                                             "no longer exists.")
