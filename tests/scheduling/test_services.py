"""Saving, enabling and running schedules by hand."""

import pytest

from jobs.models import Job, JobStatus
from scheduling import services, tick
from scheduling.messages import run_now_message
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


def test_a_run_and_its_outcome_mark_the_schedule_as_updated(make_schedule):
    """Like the pass, Run now and a run that settles stamp the schedule's updated_at with their instant."""
    schedule = make_schedule(now=at("2026-05-01 12:00"))
    run = services.schedule_run_now(schedule=schedule, now=at("2026-05-01 12:30"))
    assert refreshed(schedule).updated_at == at("2026-05-01 12:30")

    run.jobs.update(status=JobStatus.COMPLETED)
    services.runs_follow_jobs(job_ids=list(run.jobs.values_list("pk", flat=True)), now=at("2026-05-01 12:31"))

    assert (refreshed(schedule).last_outcome, refreshed(schedule).updated_at) == ("succeeded", at("2026-05-01 12:31"))


def test_it_runs_a_disabled_schedule_now(make_schedule):
    schedule = make_schedule(now=at("2026-05-01 12:00"), enabled=False)
    run = services.schedule_run_now(schedule=schedule, now=at("2026-05-01 12:30"))
    assert run.outcome == "dispatched"
    assert refreshed(schedule).next_run_at is None


def test_a_manual_run_at_a_window_does_not_block_the_scheduled_one(make_schedule):
    schedule = make_schedule(now=at("2026-05-01 12:00"), overlap_policy="allow")
    services.schedule_run_now(schedule=schedule, now=at("2026-05-02 02:00"))
    assert tick.run_pass(now=at("2026-05-02 02:00")).outcomes == {"dispatched": 1}


def test_run_now_records_a_failed_run_when_the_group_is_gone(make_schedule, news_group):
    schedule = make_schedule(now=at("2026-05-01 12:00"), task_type="QUICK_SYNC_GROUP",
                             params={"group_id": news_group.pk})
    group_id = news_group.pk
    news_group.delete()

    run = services.schedule_run_now(schedule=schedule, now=at("2026-05-01 12:30"))

    assert (run.outcome, run.message) == ("dispatch_failed", f"The channel group (id {group_id}) no longer exists.")
    assert not Job.objects.exists()
    assert refreshed(schedule).last_outcome == "dispatch_failed"
    assert run_now_message(run) == (f"“Nightly backup” could not run: The channel group (id {group_id}) "
                                    "no longer exists.")


@pytest.mark.parametrize("field, value", [
    ("schedule_kind", "interval"),
    ("schedule_days", ["tue"]),
    ("interval_minutes", 20),
    ("cron_expr", "45 3 * * *"),
    ("timezone", "Asia/Tokyo"),
])
def test_editing_only_one_timing_field_recomputes_the_next_run(make_schedule, field, value):
    kinds = {"schedule_days": ("weekly", {"schedule_days": ["mon"]}),
             "interval_minutes": ("interval", {"interval_minutes": 15}),
             "cron_expr": ("cron", {"cron_expr": "0 4 * * *"})}
    kind, extra = kinds.get(field, ("daily", {}))
    schedule = make_schedule(now=at("2026-05-01 12:00"), schedule_kind=kind, **extra)
    before = schedule.next_run_at
    setattr(schedule, field, value)
    if field == "schedule_kind":
        schedule.interval_minutes = 30

    services.schedule_save(schedule=schedule, now=at("2026-05-01 12:01"))

    schedule = refreshed(schedule)
    assert schedule.next_run_at != before
    assert schedule.next_run_at == schedule.next_after(at("2026-05-01 12:01"))


def test_editing_the_timing_of_a_disabled_schedule_leaves_it_without_a_next_run(make_schedule):
    schedule = make_schedule(now=at("2026-05-01 12:00"), enabled=False)
    schedule.schedule_time = "23:15"

    services.schedule_save(schedule=schedule, now=at("2026-05-01 13:00"))

    assert refreshed(schedule).next_run_at is None


def test_the_schedule_handed_back_from_an_edit_is_the_row_as_saved(make_schedule):
    """The API answers a PATCH with it."""
    schedule = make_schedule(now=at("2026-05-01 12:00"))
    edited = ScheduledTask.objects.get(pk=schedule.pk)
    edited.name = "Renamed"

    saved = services.schedule_save(schedule=edited, now=at("2026-05-01 13:00"))

    stored = ScheduledTask.objects.get(pk=schedule.pk)
    fields = ("name", "next_run_at", "updated_at", "last_run_at", "last_outcome")
    assert [getattr(saved, field) for field in fields] == [getattr(stored, field) for field in fields]
    assert (saved.name, saved.next_run_at) == ("Renamed", at("2026-05-02 02:00"))


def test_disabling_stops_that_schedule_only_and_hands_it_back_as_stored(make_schedule):
    stopped = make_schedule(now=at("2026-05-01 12:00"), name="Stopped")
    other = make_schedule(now=at("2026-05-01 12:00"), name="Other")

    handed_back = services.schedule_set_enabled(schedule=stopped, enabled=False, now=at("2026-05-01 12:01"))

    stored = refreshed(ScheduledTask.objects.get(pk=stopped.pk))
    for schedule in (handed_back, stored):
        assert (schedule.enabled, schedule.next_run_at, schedule.updated_at) == (False, None, at("2026-05-01 12:01"))
    assert refreshed(other).enabled


def test_an_enabled_schedule_without_a_next_run_gets_one_on_save(make_schedule):
    schedule = make_schedule(now=at("2026-05-01 12:00"))
    ScheduledTask.objects.filter(pk=schedule.pk).update(next_run_at=None)  # paused by an invalid timing, say
    schedule = refreshed(schedule)

    services.schedule_save(schedule=schedule, now=at("2026-05-01 12:01"))

    assert refreshed(schedule).next_run_at == at("2026-05-02 02:00")


def test_an_interval_anchors_on_the_whole_minute(make_schedule):
    schedule = make_schedule(now=at("2026-05-01 08:18:49"), schedule_kind="interval", interval_minutes=15)
    assert schedule.anchor_at == at("2026-05-01 08:18")
    assert schedule.next_run_at == at("2026-05-01 08:33")


def test_enable_selected_leaves_already_enabled_schedules_alone(make_schedule):
    enabled = make_schedule(now=at("2026-05-01 12:00"), name="on")
    disabled = make_schedule(now=at("2026-05-01 12:00"), name="off", enabled=False)
    untouched = ScheduledTask.objects.get(pk=enabled.pk).updated_at

    changed, refused = services.schedule_set_enabled_many(
        schedules=ScheduledTask.objects.all(), enabled=True, now=at("2026-05-03 09:00"))

    assert (changed, refused) == (1, {})
    enabled, disabled = refreshed(enabled), refreshed(disabled)
    assert enabled.updated_at == untouched and enabled.next_run_at == at("2026-05-02 02:00")
    assert disabled.enabled and disabled.next_run_at == at("2026-05-04 02:00")
    assert not enabled.audit_entries.filter(action="enable").exists()


def test_enable_selected_counts_each_schedule_and_says_why_one_could_not_be_enabled(make_schedule, news_group):
    for name in ("first", "second"):
        make_schedule(now=at("2026-05-01 12:00"), name=name, enabled=False)
    orphan = make_schedule(now=at("2026-05-01 12:00"), name="orphan", enabled=False, task_type="QUICK_SYNC_GROUP",
                           params={"group_id": news_group.pk})
    news_group.delete()

    changed, refused = services.schedule_set_enabled_many(
        schedules=ScheduledTask.objects.all(), enabled=True, now=at("2026-05-03 09:00"))

    assert changed == 2
    assert {schedule.name: error.messages for schedule, error in refused.items()} == {
        "orphan": ["Channel group: No such channel group; choose one from the list."]}
    assert sorted(ScheduledTask.objects.filter(enabled=True).values_list("name", flat=True)) == ["first", "second"]
    assert not refreshed(orphan).enabled


# --- a run's outcome follows its jobs ---------------------------------------------------------

def finish(job, *, ok: bool, permanent: bool = False):
    """Run the job's attempt to its end the way the runner does, committing (so listeners hear it)."""
    from jobs import runner
    from jobs import services as job_services

    job = runner.claim(job.pk, worker="test:1", now=at("2026-05-02 05:31"))
    if ok:
        job_services.job_attempt_succeeded(job=job, result={}, now=at("2026-05-02 05:32"))
    else:
        job_services.job_attempt_failed(job=job, error="boom", now=at("2026-05-02 05:32"), permanent=permanent)


@pytest.fixture
def group_run(make_schedule, news_group, django_capture_on_commit_callbacks):
    schedule = make_schedule(now=at("2026-05-01 12:00"), task_type="QUICK_SYNC_GROUP",
                             params={"group_id": news_group.pk}, schedule_time="05:30")
    tick.run_pass(now=at("2026-05-02 05:30"))
    return ScheduleRun.objects.get(schedule=schedule)


def outcomes(run):
    run, schedule = refreshed(run), refreshed(run.schedule)
    return run.outcome, schedule.last_outcome


def test_a_run_succeeds_once_all_its_jobs_have(group_run, django_capture_on_commit_callbacks):
    first, second, third = group_run.jobs.order_by("pk")
    with django_capture_on_commit_callbacks(execute=True):
        finish(first, ok=True)
        finish(second, ok=True)
    assert outcomes(group_run) == ("dispatched", "dispatched")  # one still to go

    with django_capture_on_commit_callbacks(execute=True):
        finish(third, ok=True)

    assert outcomes(group_run) == ("succeeded", "succeeded")
    assert refreshed(group_run).finished_at is not None


def test_a_run_partly_fails_when_some_jobs_fail_for_good(group_run, django_capture_on_commit_callbacks):
    first, second, third = group_run.jobs.order_by("pk")
    with django_capture_on_commit_callbacks(execute=True):
        finish(first, ok=True)
        finish(second, ok=False, permanent=True)
        finish(third, ok=True)
    assert outcomes(group_run) == ("partly_failed", "partly_failed")


def test_a_run_fails_when_every_job_failed(group_run, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        for job in group_run.jobs.all():
            finish(job, ok=False, permanent=True)
    assert outcomes(group_run) == ("failed", "failed")


def test_a_failed_attempt_that_will_be_retried_leaves_the_run_dispatched(group_run,
                                                                          django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        for job in group_run.jobs.all():
            finish(job, ok=False)  # retries remain: waiting to retry
    assert outcomes(group_run) == ("dispatched", "dispatched")


def test_a_retry_by_hand_reopens_the_run(group_run, django_capture_on_commit_callbacks):
    from jobs import services as job_services

    with django_capture_on_commit_callbacks(execute=True):
        for job in group_run.jobs.all():
            finish(job, ok=False, permanent=True)
    assert outcomes(group_run) == ("failed", "failed")

    with django_capture_on_commit_callbacks(execute=True):
        job_services.job_retry(job=group_run.jobs.first(), now=at("2026-05-02 06:00"))

    assert outcomes(group_run) == ("dispatched", "dispatched")
    assert refreshed(group_run).finished_at is None


def test_a_cancelled_run_counts_as_failed(group_run, django_capture_on_commit_callbacks):
    from jobs import services as job_services

    with django_capture_on_commit_callbacks(execute=True):
        for job in group_run.jobs.all():
            job_services.job_cancel(job=job, now=at("2026-05-02 06:00"), by="alice")
    assert outcomes(group_run) == ("failed", "failed")


def test_a_run_with_nothing_to_do_succeeds_at_once(make_schedule):
    from tests.factories import ChannelGroupFactory

    empty = ChannelGroupFactory(name="Empty")
    schedule = make_schedule(now=at("2026-05-01 12:00"), task_type="QUICK_SYNC_GROUP", params={"group_id": empty.pk})

    run = services.schedule_run_now(schedule=schedule, now=at("2026-05-01 12:30"))

    assert (run.outcome, run.message) == ("succeeded", "0 jobs created.")
    assert refreshed(schedule).last_outcome == "succeeded"


def test_the_schedule_keeps_the_outcome_of_its_newest_run(make_schedule, django_capture_on_commit_callbacks):
    schedule = make_schedule(now=at("2026-05-01 12:00"))
    older = services.schedule_run_now(schedule=schedule, now=at("2026-05-01 12:30"))
    newer = services.schedule_run_now(schedule=schedule, now=at("2026-05-01 12:31"), force=True)
    with django_capture_on_commit_callbacks(execute=True):
        finish(newer.jobs.get(), ok=True)
        finish(older.jobs.get(), ok=False, permanent=True)  # finishes last, but is not the newest run

    assert refreshed(older).outcome == "failed"
    assert refreshed(schedule).last_outcome == "succeeded"


# --- deleting keeps history -------------------------------------------------------------------

def test_deleting_a_schedule_keeps_its_runs_and_their_jobs_origin(make_schedule):
    schedule = make_schedule(now=at("2026-05-01 12:00"), name="Daily backup")
    run = services.schedule_run_now(schedule=schedule, now=at("2026-05-01 12:30"))

    services.schedule_delete(schedule=schedule, now=at("2026-05-01 13:00"))

    assert not ScheduledTask.objects.exists()
    run = refreshed(run)
    assert (run.schedule, run.schedule_name) == (None, "Daily backup")
    job = run.jobs.get()
    assert job.origin_label == f"Schedule “Daily backup”, run #{run.pk} (Run now)"
    assert job.origin_url == f"/schedules/runs/{run.pk}"


# --- task types that fail to say which jobs they want ------------------------------------------

def test_a_task_type_that_crashes_fails_its_run_with_a_message_not_the_pass(make_schedule, monkeypatch, caplog):
    from scheduling import registry
    from tests.factories import ChannelGroupFactory

    broken = make_schedule(now=at("2026-05-01 12:00"), name="broken")
    healthy = make_schedule(now=at("2026-05-01 12:00"), name="healthy", task_type="QUICK_SYNC_GROUP",
                            params={"group_id": ChannelGroupFactory().pk})

    def crash(run, **kwargs):
        raise KeyError("retention_days")

    backup = registry.get("DATABASE_BACKUP")
    monkeypatch.setitem(registry._task_types, "DATABASE_BACKUP",
                        registry.TaskType(backup.name, backup.label, backup.params_form, crash))

    report = tick.run_pass(now=at("2026-05-02 02:00"))

    assert report.outcomes == {"dispatch_failed": 1, "succeeded": 1}
    run = ScheduleRun.objects.get(schedule=broken)
    assert run.message == "The task type failed to create its jobs: KeyError: 'retention_days'"
    assert "Task type DATABASE_BACKUP failed to create the jobs" in caplog.text
    assert ScheduleRun.objects.get(schedule=healthy).outcome == "succeeded"


@pytest.fixture
def runs_given(monkeypatch):
    """The DATABASE_BACKUP task type, noting each run it is given as it sees it."""
    from backups import tasks
    from scheduling import registry

    seen = []

    def job_requests(run, *, now):
        seen.append({"pk": run.pk, "in_ledger": ScheduleRun.objects.filter(pk=run.pk).exists(),
                     "schedule": run.schedule, "due_at": run.due_at, "trigger": run.trigger, "now": now})
        return tasks.job_requests(run, now=now)

    backup = registry.get("DATABASE_BACKUP")
    monkeypatch.setitem(registry._task_types, "DATABASE_BACKUP",
                        registry.TaskType(backup.name, backup.label, backup.params_form, job_requests))
    return seen


def test_a_task_type_is_given_the_run_of_a_window_saved_in_the_ledger(make_schedule, runs_given):
    schedule = make_schedule(now=at("2026-05-01 12:00"))

    tick.run_pass(now=at("2026-05-02 02:00:03"))

    run = ScheduleRun.objects.get()
    assert runs_given == [{"pk": run.pk, "in_ledger": True, "schedule": schedule, "due_at": at("2026-05-02 02:00"),
                           "trigger": "scheduled", "now": at("2026-05-02 02:00:03")}]


def test_a_task_type_is_given_the_run_of_run_now_saved_in_the_ledger(make_schedule, runs_given):
    schedule = make_schedule(now=at("2026-05-01 12:00"))

    run = services.schedule_run_now(schedule=schedule, now=at("2026-05-01 12:30"))

    assert runs_given == [{"pk": run.pk, "in_ledger": True, "schedule": schedule, "due_at": at("2026-05-01 12:30"),
                           "trigger": "manual", "now": at("2026-05-01 12:30")}]


def test_a_note_joins_a_runs_message_as_a_sentence_of_its_own(make_schedule):
    empty, filled = (ScheduleRun.objects.create(schedule_name="x", trigger="manual", due_at=at("2026-05-01 12:00"),
                                                outcome="dispatched", message=message)
                     for message in ("", "2 jobs created."))

    for run in (empty, filled):
        services.schedule_run_add_note(run_id=run.pk, note="Feed outage.")

    assert [refreshed(run).message for run in (empty, filled)] == ["Feed outage.", "2 jobs created. Feed outage."]


# --- Run now: who ran it, and what holds it back ------------------------------------------------

def test_the_jobs_of_run_now_name_who_ran_it_and_a_windows_jobs_name_the_run_alone(make_schedule):
    from common.actors import Actor, Via
    from tests.factories import UserFactory

    schedule = make_schedule(now=at("2026-05-01 12:00"))
    manual = services.schedule_run_now(schedule=schedule, now=at("2026-05-01 12:30"),
                                       actor=Actor(Via.PAGE, UserFactory(username="alice")))
    manual.jobs.update(status=JobStatus.COMPLETED)
    tick.run_pass(now=at("2026-05-02 02:00"))
    scheduled = ScheduleRun.objects.get(schedule=schedule, trigger="scheduled")

    assert manual.jobs.get().origin_label == f"Schedule “Nightly backup”, run #{manual.pk} (Run now by alice)"
    assert scheduled.jobs.get().origin_label == f"Schedule “Nightly backup”, run #{scheduled.pk}"


def test_the_refusal_counts_the_earlier_runs_jobs_by_status(group_run):
    Job.objects.filter(pk=group_run.jobs.order_by("pk").first().pk).update(status=JobStatus.RUNNING)

    with pytest.raises(services.RunActiveError) as refused:
        services.schedule_run_now(schedule=group_run.schedule, now=at("2026-05-02 05:31"))

    assert str(refused.value) == "“Nightly backup” is still busy with an earlier run: 2 jobs queued, 1 job running."


@pytest.mark.parametrize("status", [JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED])
def test_a_finished_run_does_not_hold_back_run_now(make_schedule, status):
    schedule = make_schedule(now=at("2026-05-01 12:00"))
    services.schedule_run_now(schedule=schedule, now=at("2026-05-01 12:30")).jobs.update(status=status)

    run = services.schedule_run_now(schedule=schedule, now=at("2026-05-01 12:40"))

    assert run.outcome == "dispatched"


def test_another_schedules_active_run_does_not_hold_back_run_now(make_schedule):
    busy = make_schedule(now=at("2026-05-01 12:00"), name="Busy")
    idle = make_schedule(now=at("2026-05-01 12:00"), name="Idle")
    services.schedule_run_now(schedule=busy, now=at("2026-05-01 12:30"))

    run = services.schedule_run_now(schedule=idle, now=at("2026-05-01 12:31"))

    assert run.outcome == "dispatched"


# --- the ledger: messages, and the jobs' ends announced durably -----------------------------------

def test_a_late_runs_message_says_the_windows_folded_into_it_then_its_jobs(make_schedule):
    schedule = make_schedule(now=at("2026-05-01 12:00"), schedule_kind="interval", interval_minutes=5)

    tick.run_pass(now=at("2026-05-01 12:16"))  # the scheduler was down for 12:05 and 12:10

    assert ScheduleRun.objects.get(schedule=schedule).message == (
        "2 earlier windows since Fri 1 May 2026, 12:05 UTC passed while no scheduler ran; they are folded into this "
        "one. 1 job created.")


def test_a_job_whose_end_went_unannounced_settles_its_run_when_the_scheduler_announces_it_again(
        make_schedule, django_capture_on_commit_callbacks):
    from jobs import runner
    from jobs import services as job_services
    from jobs.maintenance import jobs_announce_overdue

    run = services.schedule_run_now(schedule=make_schedule(now=at("2026-05-01 12:00")), now=at("2026-05-01 12:30"))
    with django_capture_on_commit_callbacks(execute=False):  # the worker dies right after its commit
        job = runner.claim(run.jobs.get().pk, worker="test:1", now=at("2026-05-01 12:31"))
        job_services.job_attempt_succeeded(job=job, result={}, now=at("2026-05-01 12:32"))
    assert refreshed(run).outcome == "dispatched"

    assert jobs_announce_overdue(now=at("2026-05-01 12:33")) == 1

    assert refreshed(run).outcome == "succeeded"


# --- several runs followed at once ------------------------------------------------------------------

def runs_now(schedule, *minutes):
    """Run now at 12:<minute> for each minute, forced: runs of one schedule side by side."""
    return [services.schedule_run_now(schedule=schedule, now=at(f"2026-05-01 12:{minute}"), force=True)
            for minute in minutes]


def test_one_announcement_of_several_runs_jobs_settles_each_run_that_is_done(make_schedule):
    """The scheduler's step announces a batch of jobs again: one of a run still going, one of a run
    settled already, one of a run done (the newest is read first)."""
    done, settled, going = runs_now(make_schedule(now=at("2026-05-01 12:00")), 30, 31, 32)
    done.jobs.update(status=JobStatus.FAILED)
    settled.jobs.update(status=JobStatus.COMPLETED)
    services.runs_follow_jobs(job_ids=[settled.jobs.get().pk], now=at("2026-05-01 12:35"))
    going.jobs.update(status=JobStatus.RUNNING)

    job_ids = list(Job.objects.values_list("pk", flat=True))
    assert services.runs_follow_jobs(job_ids=job_ids, now=at("2026-05-01 12:40")) == 1

    assert [refreshed(run).outcome for run in (done, settled, going)] == ["failed", "succeeded", "dispatched"]


def test_a_run_another_worker_settled_meanwhile_is_left_to_it(make_schedule, monkeypatch):
    from scheduling import alerts

    oldest, middle, newest = runs_now(make_schedule(now=at("2026-05-01 12:00")), 30, 31, 32)
    Job.objects.update(status=JobStatus.COMPLETED)
    settled_here = []

    def run_settled(*, run, outcome, now):
        settled_here.append(run)
        if run == newest:  # meanwhile, another worker's announcement settles the middle run
            ScheduleRun.objects.filter(pk=middle.pk).update(outcome="succeeded", finished_at=at("2026-05-01 12:39"))

    monkeypatch.setattr(alerts, "run_settled", run_settled)

    assert services.runs_follow_jobs(job_ids=list(Job.objects.values_list("pk", flat=True)),
                                     now=at("2026-05-01 12:40")) == 2

    assert settled_here == [newest, oldest]
    assert refreshed(middle).finished_at == at("2026-05-01 12:39")
    assert refreshed(oldest).outcome == "succeeded"


def test_another_schedules_newer_run_does_not_hold_back_the_last_outcome(make_schedule):
    mine = make_schedule(now=at("2026-05-01 12:00"), name="Mine")
    theirs = make_schedule(now=at("2026-05-01 12:00"), name="Theirs")
    run = services.schedule_run_now(schedule=mine, now=at("2026-05-01 12:30"))
    services.schedule_run_now(schedule=theirs, now=at("2026-05-01 12:31"))
    run.jobs.update(status=JobStatus.COMPLETED)

    services.runs_follow_jobs(job_ids=[run.jobs.get().pk], now=at("2026-05-01 12:40"))

    assert (refreshed(mine).last_outcome, refreshed(theirs).last_outcome) == ("succeeded", "dispatched")


def test_a_scheduled_run_that_failed_opens_an_incident_as_it_settles(group_run):
    from notifications.models import Incident

    job_ids = list(group_run.jobs.values_list("pk", flat=True))
    Job.objects.filter(pk__in=job_ids).update(status=JobStatus.FAILED, error="OSError: disk full")

    services.runs_follow_jobs(job_ids=job_ids, now=at("2026-05-02 05:40"))

    incident = Incident.objects.get()
    assert (incident.title, incident.opened_at) == ("Schedule “Nightly backup” failed", at("2026-05-02 05:40"))
    assert incident.detail.startswith(f"Run #{group_run.pk} (window 2026-05-02 05:30 UTC): 3 of 3 jobs failed")


def test_jobs_of_no_run_are_answered_with_one_query_and_change_nothing(db):
    """Most finished jobs (Sync now, a retry of an old job...) belong to no run: a worker asks after each."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.factories import JobFactory

    job = JobFactory(status=JobStatus.COMPLETED)
    with CaptureQueriesContext(connection) as captured:
        assert services.runs_follow_jobs(job_ids=[job.pk], now=at("2026-05-01 12:40")) == 0
    assert len(captured) == 1
