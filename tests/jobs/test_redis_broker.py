"""The grown-up deployment: REDIS_URL set, so django-q2 uses the Redis broker and the cache lives in
Redis. A real redis-server, a real qcluster and the scheduler, all as separate processes."""

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.jobs.conftest import Process
from tests.servers import redis_server, wait_until

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]

ENQUEUE = """
from django.utils import timezone
from jobs.services import JobRequest, job_create_many, job_enqueue
single = job_enqueue(job_type="TEST_OK", params={"echo": "one"}, now=timezone.now())
batch = job_create_many(requests=[JobRequest("TEST_OK", {"echo": n}) for n in range(3)], now=timezone.now())
print([single.pk, *[job.pk for job in batch]])
"""

HEALTH = """
import json
from django.utils import timezone
from core.health import health_status
print(json.dumps(health_status(now=timezone.now())["workers"]))
"""


@pytest.fixture
def redis_url():
    with redis_server() as url:
        yield url


def test_it_runs_jobs_through_redis(redis_url, tmp_path):
    db = tmp_path / "redis-deployment.sqlite3"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.test_settings", "DATABASE_URL": f"sqlite:///{db}",
           "REDIS_URL": redis_url, "LOG_LEVEL": "WARNING"}

    def manage(*args: str) -> str:
        done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    manage("migrate", "--noinput", "-v0")
    cluster = Process("qcluster", ["qcluster"], env=env, log_path=tmp_path / "qcluster.log")
    try:
        job_ids = json.loads(manage("shell", "-c", ENQUEUE).strip().splitlines()[-1])

        def statuses() -> list[str]:
            with sqlite3.connect(db, timeout=5) as conn:
                marks = ",".join("?" * len(job_ids))
                return [row[0] for row in conn.execute(f"SELECT status FROM jobs_job WHERE id IN ({marks})", job_ids)]

        wait_until(lambda: statuses() == ["completed"] * 4, timeout=30, message=f"jobs not completed: {statuses()}")
        # The cluster reports itself through the Redis cache, which /healthz reads.
        wait_until(lambda: json.loads(manage("shell", "-c", HEALTH).strip().splitlines()[-1])["ok"], timeout=20,
                   message="the health check never saw the cluster through Redis", interval=0.5)
    finally:
        cluster.stop()
    output = cluster.log()
    assert "database is locked" not in output
    assert "Traceback" not in output
