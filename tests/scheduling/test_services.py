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
