"""Fixtures for the jobs tests, including real `qcluster` and `schedule_tick --loop` processes.

The processes use the test database (a file, see config.test_settings), so the tests that start
them use `transactional_db`: what the test writes is committed and visible to them, and what they
write is visible to the test. Every process is stopped in teardown, its log kept in tmp_path,
and the log must not mention "database is locked".
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from tests.servers import wait_until

ROOT = Path(__file__).resolve().parents[2]
UTC = dt.timezone.utc


def at(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class Process:
    """A manage.py command in its own session (so its children can be stopped with it)."""

    def __init__(self, name: str, args: list[str], *, env: dict, log_path: Path):
        self.name, self.args, self.log_path = name, args, log_path
        self._log = open(log_path, "ab")
        self.popen = subprocess.Popen(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def running(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM and wait (a graceful stop); then SIGKILL whatever is left of the process group."""
        if self.running():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)  # the group this process leads; its children
        except ProcessLookupError:
            pass
        if self.running():
            self.popen.wait(timeout=5)
        self._log.close()

    def log(self) -> str:
        # The process writes to the file directly; nothing is buffered on this side.
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def live_db_path(transactional_db) -> str:
    return connection.settings_dict["NAME"]


@pytest.fixture
def start_process(live_db_path, tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.test_settings",
        "DATABASE_URL": f"sqlite:///{live_db_path}",
        "LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
    }
    started: list[Process] = []

    def start(name: str, *args: str) -> Process:
        process = Process(name, list(args), env=env, log_path=tmp_path / f"{name}-{len(started)}.log")
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()
    for process in started:
        log = process.log()
        assert "database is locked" not in log, f"{process.name} log:\n{log[-5000:]}"


@pytest.fixture
def start_cluster(start_process):
    """Start a qcluster and wait until it reports itself alive in the shared cache."""
    from jobs.queue import alive_clusters

    def working() -> int:
        # The first status entry is written before the workers exist; wait for them.
        return sum(1 for cluster in alive_clusters() or [] if cluster.workers)

    def start() -> Process:
        before = working()
        process = start_process("qcluster", "qcluster")
        wait_until(lambda: working() > before or not process.running(), timeout=20,
                   message="the cluster did not start")
        assert process.running(), process.log()
        return process

    return start


@pytest.fixture
def cluster(start_cluster):
    return start_cluster()


@pytest.fixture
def scheduler(start_process):
    """`schedule_tick --loop`: it runs the jobs' maintenance (retries, reaping, outbox) every pass."""
    from scheduling.models import SchedulerHeartbeat

    process = start_process("scheduler", "schedule_tick", "--loop")
    wait_until(lambda: SchedulerHeartbeat.objects.exists() or not process.running(), timeout=20,
               message="the scheduler did not start")
    assert process.running(), process.log()
    return process


@pytest.fixture
def marker(tmp_path) -> Path:
    """A file the test handlers append one JSON line to per attempt."""
    return tmp_path / "attempts.jsonl"


def attempts_in(marker: Path) -> list[dict]:
    import json

    if not marker.exists():
        return []
    return [json.loads(line) for line in marker.read_text().splitlines() if line.strip()]


def wait_for_job(job, predicate, *, timeout: float = 20, message: str = ""):
    """Poll the job's row until predicate(job) holds; return the fresh job."""

    def check():
        job.refresh_from_db()
        return predicate(job)

    try:
        wait_until(check, timeout=timeout, message=message or f"job #{job.pk} never got there", interval=0.1)
    except AssertionError:
        raise AssertionError(f"{message or 'timed out'}; job #{job.pk} is {job.status}, attempts {job.attempts}, "
                             f"error {job.error[-500:]!r}") from None
    return job


__all__ = ["at", "attempts_in", "wait_for_job"]
