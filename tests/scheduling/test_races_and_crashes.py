"""Real scheduler processes on a real database: racing, and killed mid-pass."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.servers import create_database, wait_until

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
TOOL = str(Path(__file__).with_name("race_tool.py"))
CREATED = "2026-05-01T12:00:00+00:00"
INSTANTS = [f"2026-05-01T12:{minute:02d}:00+00:00" for minute in (5, 10, 15, 20)]


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'race.sqlite3'}"
    else:
        url = create_database(request.getfixturevalue("postgres_url_template"), f"race_{uuid.uuid4().hex[:8]}")
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env_for(url),
                   check=True)
    return url


def env_for(url: str, **extra) -> dict:
    return {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "DATABASE_URL": url, "LOG_LEVEL": "WARNING",
            **extra}


def tool(url: str, *args: str, **env) -> dict:
    done = subprocess.run([sys.executable, TOOL, *args], cwd=ROOT, env=env_for(url, **env), check=True,
                          capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def count_runs(url: str) -> int:
    sql = "SELECT count(*) FROM scheduling_schedulerun"
    try:
        if url.startswith("sqlite"):
            with sqlite3.connect(url.removeprefix("sqlite:///"), timeout=5) as conn:
                return conn.execute(sql).fetchone()[0]
        import psycopg

        with psycopg.connect(url) as conn:
            return conn.execute(sql).fetchone()[0]
    except (sqlite3.OperationalError, Exception):
        return 0


def test_two_schedulers_racing_dispatch_every_window_exactly_once(database_url):
    schedules = 300
    tool(database_url, "setup", str(schedules), CREATED)
    start = time.time() + 4  # both processes have imported Django by then
    racers = [
        subprocess.Popen([sys.executable, TOOL, "race", str(start), *INSTANTS], cwd=ROOT,
                         env=env_for(database_url, SCHEDULER_BATCH_SIZE="25"), stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    reports = [json.loads(racer.communicate(timeout=120)[0].strip().splitlines()[-1]) for racer in racers]
    assert all(racer.returncode == 0 for racer in racers)

    windows = schedules * len(INSTANTS)
    assert sum(r["outcomes"].get("dispatched", 0) for r in reports) == windows
    # The race was real: both passes ran at the same time. (On PostgreSQL they also split the
    # work; on SQLite one writer at a time means one may find everything already done.)
    assert max(r["started"] for r in reports) < min(r["finished"] for r in reports), reports
    if database_url.startswith("postgres"):
        assert all(r["outcomes"].get("dispatched", 0) > 0 for r in reports), reports
    state = tool(database_url, "state")
    assert state["runs"] == windows
    assert state["duplicate_windows"] == 0
    assert state["runs_per_schedule"] == [len(INSTANTS)]
    assert state["jobs"] == windows
    assert state["jobs_per_run"] == [1]
    assert state["queue_messages"] == windows
    assert state["inconsistent"] == 0
    assert state["next_run_at"] == ["2026-05-01T12:25:00+00:00"]


def test_a_scheduler_killed_mid_pass_loses_and_doubles_nothing(database_url, tmp_path):
    schedules = 2000
    tool(database_url, "setup", str(schedules), CREATED)
    env = env_for(database_url, SCHEDULER_BATCH_SIZE="20")
    command = [sys.executable, "manage.py", "schedule_tick", "--now", INSTANTS[0]]
    victim = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: count_runs(database_url) > 0 or victim.poll() is not None, timeout=60,
                   message="the pass never started")
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
    finally:
        if victim.poll() is None:
            victim.kill()

    after_crash = tool(database_url, "state")
    assert 0 < after_crash["runs"] < schedules, "the kill did not land mid-pass"
    # Whatever committed is whole: each run has its job, and its schedule has moved on; the rest is
    # untouched. Each job marked sent has its queue message. With the ORM broker that is every job (the
    # message commits with it); with Redis the kill may land between the commit and the send, or between
    # the send and the mark, and a job left unmarked is the outbox's to send again
    # (tests/jobs/test_lost_messages.py; a second delivery is a no-op for the runner's claim).
    assert after_crash["jobs"] == after_crash["runs"]
    assert after_crash["jobs_marked_sent"] <= after_crash["queue_messages"] <= after_crash["jobs"]
    if not os.environ.get("REDIS_URL"):
        assert after_crash["queue_messages"] == after_crash["jobs_marked_sent"] == after_crash["jobs"]
    assert after_crash["inconsistent"] == 0

    subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True)

    state = tool(database_url, "state")
    assert state["runs"] == state["jobs"] == schedules
    sent_unmarked = after_crash["queue_messages"] - after_crash["jobs_marked_sent"]
    assert state["jobs_marked_sent"] <= state["queue_messages"] <= state["jobs_marked_sent"] + sent_unmarked
    assert state["jobs_marked_sent"] >= schedules - (after_crash["jobs"] - after_crash["jobs_marked_sent"])
    assert state["runs_per_schedule"] == [1]
    assert state["duplicate_windows"] == 0
    assert state["next_run_at"] == ["2026-05-01T12:10:00+00:00"]
