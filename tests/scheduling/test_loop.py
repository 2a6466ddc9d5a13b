"""scheduling.loop: the scheduler's step and `schedule_tick --loop`'s rhythm."""

import datetime as dt
import threading

import pytest

from jobs.models import JobStatus
from scheduling import loop, tasks
from scheduling.models import SchedulerHeartbeat
from tests.factories import JobFactory
from tests.scheduling.conftest import at

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def keep_the_test_transaction(monkeypatch):
    # close_old_connections() closes a connection inside a transaction, as the test's own is.
    monkeypatch.setattr(loop, "close_old_connections", lambda: None)


class CountingStop(threading.Event):
    """A stop flag that records how long the loop asked to sleep, and stops it after a few passes."""

    def __init__(self, passes: int):
        super().__init__()
        self.passes, self.sleeps = passes, []

    def wait(self, timeout=None):
        self.sleeps.append(timeout)
        if len(self.sleeps) >= self.passes:
            self.set()
        return self.is_set()


def test_an_idle_loop_sleeps_between_passes_and_never_spins():
    stop = CountingStop(passes=5)
    clock = iter(at("2026-05-01 12:00") + dt.timedelta(seconds=s) for s in range(100))

    reports = list(loop.run(stop=stop, clock=lambda: next(clock)))

    assert len(reports) == 5
    assert stop.sleeps == [loop.MAX_SLEEP_SECONDS] * 5


def test_it_sleeps_until_the_next_window_when_that_is_sooner(make_schedule):
    make_schedule(now=at("2026-05-01 12:00"), schedule_time="12:00", name="soon")
    stop = CountingStop(passes=1)
    instants = iter([at("2026-05-02 11:59:59.75"), at("2026-05-02 11:59:59.75"), at("2026-05-02 11:59:59.75")])

    list(loop.run(stop=stop, clock=lambda: next(instants)))

    assert stop.sleeps == [pytest.approx(0.25)]


def test_a_window_still_due_after_a_pass_gets_a_short_pause_not_a_spin(make_schedule, monkeypatch):
    # Another scheduler holds the due row (PostgreSQL, SKIP LOCKED): this one waits a moment.
    monkeypatch.setattr(loop, "seconds_until_next_window", lambda now: 0.0)
    stop = CountingStop(passes=3)

    list(loop.run(stop=stop))

    assert stop.sleeps == [loop.BUSY_RETRY_SECONDS] * 3


def test_a_failing_pass_backs_off_instead_of_crash_looping(monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("database is unavailable")

    monkeypatch.setattr(loop, "scheduler_step", broken)
    stop = CountingStop(passes=2)

    assert list(loop.run(stop=stop)) == []
    assert stop.sleeps == [loop.ERROR_BACKOFF_SECONDS] * 2


def test_the_loop_heartbeat_says_it_is_the_loop():
    stop = CountingStop(passes=1)
    list(loop.run(stop=stop))
    assert SchedulerHeartbeat.objects.get().source == "loop"


def test_the_safety_net_takes_the_same_step_and_says_it_is_the_safety_net(time_machine):
    time_machine.move_to(at("2026-05-01 12:00"), tick=False)
    waiting = JobFactory(job_type="TEST_OK", status=JobStatus.RETRY_WAIT, available_at=at("2026-05-01 11:59"))

    tasks.safety_net_pass()

    heartbeat = SchedulerHeartbeat.objects.get()
    assert (heartbeat.name, heartbeat.source) == ("qcluster safety net", "safety_net")
    waiting.refresh_from_db()
    assert waiting.status == JobStatus.QUEUED  # due retries released, as by the loop


def test_heartbeats_of_schedulers_silent_for_a_day_are_forgotten():
    from scheduling import tick

    SchedulerHeartbeat.objects.create(name="old-box:1", last_pass_at=at("2026-04-29 12:00"))
    SchedulerHeartbeat.objects.create(name="box:2", last_pass_at=at("2026-04-30 13:00"))
    loop.heartbeat_write(now=at("2026-05-01 12:00"), report=tick.PassReport(now=at("2026-05-01 12:00")),
                         source="loop", name="box:3")
    assert sorted(SchedulerHeartbeat.objects.values_list("name", flat=True)) == ["box:2", "box:3"]
