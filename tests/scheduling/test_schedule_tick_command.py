import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from jobs.models import Job
from scheduling.models import SchedulerHeartbeat, ScheduleRun
from tests.scheduling.conftest import at
from tests.servers import live_database_url

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def tick(*args) -> str:
    out = StringIO()
    call_command("schedule_tick", *args, stdout=out)
    return out.getvalue().strip()


def test_it_simulates_an_instant_with_now(make_schedule):
    make_schedule(now=at("2026-05-01 12:00"), schedule_time="02:00")
    assert tick("--now", "2026-05-02T02:00:30Z") == (
        "2026-05-02T02:00:30+00:00: 1 window: 1 dispatched; dispatched up to 30.000 s after the window."
    )
    assert tick("--now", "2026-05-02T02:00:30Z") == "2026-05-02T02:00:30+00:00: nothing due."
    assert ScheduleRun.objects.count() == Job.objects.count() == 1


def test_it_accepts_offsets_in_now(make_schedule):
    make_schedule(now=at("2026-05-01 12:00"), schedule_time="02:00")
    tick("--now", "2026-05-02T04:00:00+02:00")
    assert ScheduleRun.objects.get().due_at == at("2026-05-02 02:00")


@pytest.mark.parametrize("value, message", [
    ("tomorrow", "--now: 'tomorrow' is not an ISO-8601 date and time"),
    ("2026-05-02T02:00:00", "--now: '2026-05-02T02:00:00' has no UTC offset"),
    ("2026-13-02T02:00:00Z", "--now: '2026-13-02T02:00:00Z' is not an ISO-8601 date and time"),
])
def test_it_rejects_a_bad_now(value, message):
    with pytest.raises(CommandError, match=message):
        tick("--now", value)


def test_it_refuses_now_with_loop():
    with pytest.raises(CommandError, match="cannot be combined with --now or --dry-run"):
        tick("--loop", "--now", "2026-05-02T02:00:00Z")


def test_a_real_pass_writes_one_heartbeat_per_machine(make_schedule):
    tick()
    tick()
    [heartbeat] = SchedulerHeartbeat.objects.all()
    assert (heartbeat.name, heartbeat.source) == (f"{socket.gethostname()}:schedule_tick", "once")
    assert (timezone.now() - heartbeat.last_pass_at).total_seconds() < 5


def test_a_real_pass_keeps_the_jobs_moving_too(make_schedule):
    # The README promises the scheduler keeps jobs moving: a one-shot pass from cron must as well.
    from jobs.models import JobStatus
    from tests.factories import JobFactory

    waiting = JobFactory(job_type="TEST_OK", status=JobStatus.RETRY_WAIT,
                         available_at=timezone.now() - dt.timedelta(seconds=1))

    tick()

    waiting.refresh_from_db()
    assert waiting.status == JobStatus.QUEUED and waiting.enqueued_at is not None


def test_a_simulated_pass_leaves_the_jobs_alone(make_schedule):
    from jobs.models import JobStatus
    from tests.factories import JobFactory

    waiting = JobFactory(job_type="TEST_OK", status=JobStatus.RETRY_WAIT, available_at=at("2026-05-02 02:00"))
    tick("--now", "2026-05-02T02:00:30Z")
    waiting.refresh_from_db()
    assert waiting.status == JobStatus.RETRY_WAIT


def test_a_simulated_pass_writes_no_heartbeat(make_schedule):
    tick("--now", "2026-05-02T02:00:30Z")
    assert not SchedulerHeartbeat.objects.exists()


def test_it_refuses_a_future_now_that_would_dispatch_for_real(make_schedule):
    make_schedule(now=timezone.now(), schedule_kind="interval", interval_minutes=5)
    future = (timezone.now() + dt.timedelta(days=4)).isoformat()
    with pytest.raises(CommandError, match="is in the future. A pass there dispatches real jobs"):
        tick("--now", future)
    assert not ScheduleRun.objects.exists()


def test_a_dry_run_shows_what_would_happen_and_keeps_nothing(make_schedule):
    schedule = make_schedule(now=timezone.now(), schedule_kind="interval", interval_minutes=5)
    next_run_at = schedule.next_run_at
    output = tick("--dry-run", "--now", (timezone.now() + dt.timedelta(days=4)).isoformat())
    assert output.startswith("Dry run, nothing kept: ")
    assert "1 window: 1 dispatched" in output
    assert not ScheduleRun.objects.exists() and not Job.objects.exists()
    schedule.refresh_from_db()
    assert schedule.next_run_at == next_run_at


def test_it_dispatches_at_a_future_now_when_asked_to(make_schedule):
    make_schedule(now=timezone.now(), schedule_kind="interval", interval_minutes=5, grace_minutes=10)
    tick("--allow-future", "--now", (timezone.now() + dt.timedelta(minutes=6)).isoformat())
    assert ScheduleRun.objects.get().outcome == "dispatched"


@pytest.mark.django_db(transaction=True)
@pytest.mark.integration
def test_it_loops_until_sigterm_and_fires_a_schedule_created_while_running(make_schedule, tmp_path):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.test_settings",
           "DATABASE_URL": live_database_url()}
    log = (tmp_path / "tick.log").open("w")
    process = subprocess.Popen([sys.executable, "manage.py", "schedule_tick", "--loop"], cwd=ROOT, env=env,
                               stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while not SchedulerHeartbeat.objects.exists():
            assert time.monotonic() < deadline, "the loop never wrote a heartbeat"
            time.sleep(0.1)
        # An interval schedule anchored so that its first window is two seconds from now.
        now = timezone.now()
        schedule = make_schedule(now=now, schedule_kind="interval", interval_minutes=5,
                                 anchor_at=now + dt.timedelta(seconds=2))
        while not ScheduleRun.objects.filter(schedule=schedule).exists():
            assert time.monotonic() < deadline, "the loop never fired the new schedule"
            time.sleep(0.05)
        run = ScheduleRun.objects.get(schedule=schedule)
        assert run.outcome == "dispatched"
        assert (run.created_at - run.due_at).total_seconds() < 1.5
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
        log.close()
    output = (tmp_path / "tick.log").read_text()
    assert "Scheduler stopped." in output
    assert "database is locked" not in output


def test_it_fires_once_after_three_days_down_when_simulated_with_now(make_schedule):
    daily = make_schedule(now=at("2026-05-01 12:00"), name="Backup", schedule_time="02:00", grace_minutes=240)
    weekly = make_schedule(now=at("2026-05-01 12:00"), name="Sync", schedule_kind="weekly",
                           schedule_days=["sat", "sun"], schedule_time="05:30", grace_minutes=30)

    # Down from Friday May 1 12:00 until Monday May 4 05:45.
    output = tick("--now", "2026-05-04T05:45:00Z")

    assert output.startswith("2026-05-04T05:45:00+00:00: 2 windows: 1 dispatched, 1 missed")
    backup_run = ScheduleRun.objects.get(schedule=daily)
    assert (backup_run.due_at, backup_run.outcome, backup_run.coalesced_windows) == (
        at("2026-05-04 02:00"), "dispatched", 2)
    assert backup_run.jobs.count() == 1
    sync_run = ScheduleRun.objects.get(schedule=weekly)
    assert (sync_run.due_at, sync_run.outcome, sync_run.coalesced_windows) == (
        at("2026-05-03 05:30"), "missed", 1)
    assert sync_run.message == (
        "1 earlier window since Sat 2 May 2026, 05:30 UTC passed while no scheduler ran; it is folded into this "
        "one. Missed: 24 h 15 min late, past the grace period of 30 min.")
