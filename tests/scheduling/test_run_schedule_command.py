from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from scheduling.models import ScheduleRun
from tests.scheduling.conftest import refreshed

pytestmark = pytest.mark.django_db


def run_schedule(*args) -> str:
    out = StringIO()
    call_command("run_schedule", *args, stdout=out)
    return out.getvalue()


def test_it_runs_a_schedule_now_and_says_the_job_waits_when_no_worker_runs(make_schedule):
    schedule = make_schedule(now=timezone.now())
    next_run_at = schedule.next_run_at
    output = run_schedule(str(schedule.pk))
    run = ScheduleRun.objects.get()
    job = run.jobs.get()
    assert output.strip() == (
        f"Run {run.pk} of schedule {schedule.pk}: “Nightly backup” started: 1 job created. No worker is running, "
        f"so the jobs wait until one starts (manage.py qcluster). Jobs: {job.pk}."
    )
    assert run.trigger == "manual"
    assert refreshed(schedule).next_run_at == next_run_at


def test_it_does_not_say_the_job_waits_while_a_worker_runs(make_schedule, monkeypatch):
    from jobs import queue

    monkeypatch.setattr(queue, "alive_clusters", lambda: ["a cluster"])
    schedule = make_schedule(now=timezone.now())

    output = run_schedule(str(schedule.pk))

    assert output.strip().endswith("“Nightly backup” started: 1 job created. Jobs: "
                                   f"{ScheduleRun.objects.get().jobs.get().pk}.")


def test_it_records_who_ran_it_in_the_audit_trail(make_schedule):
    schedule = make_schedule(now=timezone.now())
    run_schedule(str(schedule.pk), "--force")
    entry = schedule.audit_entries.get(action="run_now")
    assert (entry.via, entry.actor, entry.changes) == ("command", None, {"forced": True})


def test_it_refuses_while_a_run_is_active_with_exit_status_1(make_schedule):
    schedule = make_schedule(now=timezone.now())
    run_schedule(str(schedule.pk))
    with pytest.raises(CommandError) as exc_info:
        run_schedule(str(schedule.pk))
    assert str(exc_info.value) == ("“Nightly backup” is still busy with an earlier run: 1 job queued (waiting for a "
                                   "worker). (use --force to run anyway)")
    assert exc_info.value.returncode == 1
    assert ScheduleRun.objects.count() == 1


def test_it_runs_while_active_with_force(make_schedule):
    schedule = make_schedule(now=timezone.now())
    run_schedule(str(schedule.pk))
    run_schedule(str(schedule.pk), "--force")
    assert ScheduleRun.objects.count() == 2


def test_it_exits_2_for_an_unknown_id():
    with pytest.raises(CommandError) as exc_info:
        run_schedule("999")
    assert exc_info.value.returncode == 2
    assert str(exc_info.value) == "schedule_id: no schedule with id 999."


def test_it_refuses_an_id_that_is_not_a_number():
    with pytest.raises(CommandError) as exc_info:
        run_schedule("abc")
    assert "argument schedule_id: invalid int value: 'abc'" in str(exc_info.value)
    assert ScheduleRun.objects.count() == 0


def test_it_exits_1_when_the_run_cannot_dispatch(make_schedule):
    """A quick sync of a deleted group: the run is recorded as failed to dispatch, and cron sees a failure."""
    from channels.models import ChannelGroup
    from tests.factories import ChannelFactory, ChannelGroupFactory

    group = ChannelGroupFactory(name="News")
    ChannelFactory(group=group)
    schedule = make_schedule(now=timezone.now(), task_type="QUICK_SYNC_GROUP", params={"group_id": group.pk})
    ChannelGroup.objects.filter(pk=group.pk).delete()

    with pytest.raises(CommandError) as exc_info:
        run_schedule(str(schedule.pk))

    assert exc_info.value.returncode == 1
    assert "could not run" in str(exc_info.value)
    assert ScheduleRun.objects.get().outcome == "dispatch_failed"
