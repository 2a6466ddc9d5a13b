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


def test_it_runs_a_schedule_now(make_schedule):
    schedule = make_schedule(now=timezone.now())
    next_run_at = schedule.next_run_at
    output = run_schedule(str(schedule.pk))
    run = ScheduleRun.objects.get()
    job = run.jobs.get()
    assert output.strip() == (
        f"Schedule {schedule.pk} (Nightly backup): run {run.pk} dispatched. 1 job created. Jobs: {job.pk}."
    )
    assert run.trigger == "manual"
    assert refreshed(schedule).next_run_at == next_run_at


def test_it_refuses_while_a_run_is_active_with_exit_status_1(make_schedule):
    schedule = make_schedule(now=timezone.now())
    run_schedule(str(schedule.pk))
    with pytest.raises(CommandError, match="still running from an earlier run") as exc_info:
        run_schedule(str(schedule.pk))
    assert exc_info.value.returncode == 1
    assert ScheduleRun.objects.count() == 1


def test_it_runs_while_active_with_force(make_schedule):
    schedule = make_schedule(now=timezone.now())
    run_schedule(str(schedule.pk))
    run_schedule(str(schedule.pk), "--force")
    assert ScheduleRun.objects.count() == 2


@pytest.mark.parametrize("bad_id", ["999", "abc"])
def test_it_exits_2_for_an_unknown_id(bad_id, capsys):
    err = StringIO()
    with pytest.raises(SystemExit) as exc_info:
        call_command("run_schedule", bad_id, stderr=err)
    assert exc_info.value.code == 2
    assert err.getvalue().strip() == f"schedule_id: no schedule with id {bad_id!r}."
