"""Fixtures for the jobs tests, including real `qcluster` and `schedule_tick --loop` processes.

The processes use the test database (a file, see config.test_settings), so the tests that start
them use `transactional_db`: what the test writes is committed and visible to them, and what they
write is visible to the test. Every process is stopped in teardown, its log kept in tmp_path,
and the log must not mention "database is locked".
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from tests import servers
from tests.servers import Process, wait_until

UTC = dt.timezone.utc


def at(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@pytest.fixture
def process_env(transactional_db) -> dict:
    """The environment of the processes the tests start: the test settings and database (and REDIS_URL, the
    broker, when the suite runs on PostgreSQL with Redis: tests.on_postgresql)."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.test_settings",
        "DATABASE_URL": servers.live_database_url(),
        "LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
    }


@pytest.fixture
def start_process(process_env, tmp_path):
    """Start a command (`manage.py <args>` unless `program` is given); stopped in teardown."""
    started: list[Process] = []

    def start(name: str, *args: str, env: dict | None = None, **options) -> Process:
        """`env`: variables added to the processes' environment (a fault to inject, say)."""
        process = Process(name, list(args), env={**process_env, **(env or {})},
                          log_path=tmp_path / f"{name}-{len(started)}.log", **options)
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
    return lambda env=None: servers.start_cluster(lambda: start_process("qcluster", "qcluster", env=env))


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


__all__ = ["Process", "at", "attempts_in", "wait_for_job"]


@pytest.fixture
def user(db):
    """A user who may read /jobs (jobs.view_job), as the job pages need; not staff."""
    from tests.factories import UserFactory

    return UserFactory(permissions=["jobs.view_job"])


@pytest.fixture
def operator(db):
    """A user who may read jobs and cancel and retry them (jobs.change_job), as in the admin."""
    from tests.factories import UserFactory

    return UserFactory(permissions=["jobs.view_job", "jobs.change_job"])
