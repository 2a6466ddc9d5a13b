"""The cluster's safety net: django-q2 runs our pass every minute."""

import pytest
from django_q.models import Schedule

from jobs.models import Job
from scheduling import tasks
from scheduling.models import SchedulerHeartbeat

pytestmark = pytest.mark.django_db


def test_it_is_registered_with_django_q_by_the_migrations():
    schedule = Schedule.objects.get(name="Scheduler safety net")
    assert (schedule.func, schedule.schedule_type, schedule.minutes, schedule.repeats) == (
        "scheduling.tasks.safety_net_pass", Schedule.MINUTES, 1, -1)


def test_it_runs_the_same_pass_and_says_it_is_alive(make_schedule, time_machine):
    from tests.scheduling.conftest import at

    make_schedule(now=at("2026-05-01 12:00"), schedule_time="02:00")
    time_machine.move_to(at("2026-05-02 02:00:40"), tick=False)

    assert tasks.safety_net_pass() == "1 window(s)"
    assert Job.objects.count() == 1
    heartbeat = SchedulerHeartbeat.objects.get(name="qcluster safety net")
    assert heartbeat.last_pass_at == at("2026-05-02 02:00:40")
    assert heartbeat.lateness_seconds == 40
