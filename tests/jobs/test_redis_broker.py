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


ENQUEUE_ONE = """
from django.utils import timezone
from jobs.models import Job
from jobs.services import job_enqueue
job = job_enqueue(job_type="TEST_OK", params={"echo": "outage"}, now=timezone.now())
print(job.pk, Job.objects.get(pk=job.pk).enqueued_at)
"""


def test_a_redis_outage_between_commit_and_send_loses_no_job(tmp_path):
    import shutil
    import time

    from tests.servers import free_port

    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"

    def start_redis() -> subprocess.Popen:
        process = subprocess.Popen([shutil.which("redis-server"), "--port", str(port), "--bind", "127.0.0.1",
                                    "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True,
                                          text=True).stdout.strip() == "PONG", timeout=10, message="no redis")
        return process

    db = tmp_path / "outage.sqlite3"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.test_settings", "DATABASE_URL": f"sqlite:///{db}",
           "REDIS_URL": url, "LOG_LEVEL": "WARNING"}

    def manage(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=60)

    assert manage("migrate", "--noinput", "-v0").returncode == 0
    # Redis is down when the job's row commits: the send after the commit fails, the row stays.
    done = manage("shell", "-c", ENQUEUE_ONE)
    assert done.returncode == 0, done.stderr
    job_id, enqueued_at = done.stdout.split()[-2:]
    assert enqueued_at == "None"
    assert "Error" in done.stderr  # logged, not raised: the commit stands

    redis = start_redis()
    cluster = Process("qcluster", ["qcluster"], env=env, log_path=tmp_path / "qcluster.log")
    try:
        time.sleep(1.1)  # past the outbox's grace for never-sent jobs (1 s in the test settings)
        assert manage("schedule_tick").returncode == 0  # one step: the outbox sends the job now

        def status() -> str:
            with sqlite3.connect(db, timeout=5) as conn:
                return conn.execute("SELECT status FROM jobs_job WHERE id = ?", (int(job_id),)).fetchone()[0]

        wait_until(lambda: status() == "completed", timeout=30, message=f"the job never ran: {status()}")
    finally:
        cluster.stop()
        redis.terminate()
        redis.wait(timeout=10)


ENQUEUE_MANY = """
from django.utils import timezone
from jobs.services import JobRequest, job_create_many
jobs = job_create_many(requests=[JobRequest("TEST_OK", {"echo": n}) for n in range(3)], now=timezone.now())
print(" ".join(str(job.pk) for job in jobs))
"""


def test_jobs_whose_messages_were_lost_with_a_redis_restart_run_within_a_minute(tmp_path):
    """Redis restarted without its data (no persistence) takes every waiting message with it. With
    the real defaults (JOBS_RESEND_LOST_AFTER_SECONDS = 30), the scheduler's outbox sends them again
    once they are 30 s old and no cluster has messages in hand, not after the 300 s of its slow rule;
    and while the messages still wait, past those 30 s, it sends nothing twice.
    """
    import re
    import shutil
    import time

    from tests.servers import free_port

    port = free_port()

    def start_redis() -> subprocess.Popen:
        process = subprocess.Popen([shutil.which("redis-server"), "--port", str(port), "--bind", "127.0.0.1",
                                    "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: redis_cli("ping") == "PONG", timeout=10, message="no redis")
        return process

    def redis_cli(*args: str) -> str:
        return subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True).stdout.strip()

    def waiting() -> int:
        return int(redis_cli("llen", "django_q:archive:q") or 0)

    db = tmp_path / "restart.sqlite3"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.test_settings", "DATABASE_URL": f"sqlite:///{db}",
           "REDIS_URL": f"redis://127.0.0.1:{port}/0", "LOG_LEVEL": "INFO", "PYTHONUNBUFFERED": "1"}

    def manage(*args: str) -> str:
        done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def statuses(ids: list[int]) -> list[str]:
        with sqlite3.connect(db, timeout=5) as conn:
            marks = ",".join("?" * len(ids))
            return [row[0] for row in conn.execute(f"SELECT status FROM jobs_job WHERE id IN ({marks})", ids)]

    manage("migrate", "--noinput", "-v0")
    redis = start_redis()
    processes = []
    try:
        scheduler = Process("scheduler", ["schedule_tick", "--loop"], env=env, log_path=tmp_path / "scheduler.log")
        processes.append(scheduler)
        # No worker yet: the messages wait in Redis, past the 30 s, and are not sent twice.
        old = [int(pk) for pk in manage("shell", "-c", ENQUEUE_MANY).split()[-3:]]
        time.sleep(33)
        assert waiting() == 3, scheduler.log()[-3000:]
        new = [int(pk) for pk in manage("shell", "-c", ENQUEUE_MANY).split()[-3:]]
        assert waiting() == 6

        redis.terminate()
        redis.wait(timeout=10)
        redis = start_redis()
        restarted = time.monotonic()
        # Every message is gone with it; the scheduler's loop (a pass a second) may already have sent the
        # three old ones again, or be sending them, never the three sent less than 30 s ago.
        assert waiting() <= 3
        processes.append(Process("qcluster", ["qcluster"], env=env, log_path=tmp_path / "qcluster.log"))

        wait_until(lambda: statuses(old) == ["completed"] * 3, timeout=30, interval=0.2,
                   message="the jobs sent long before the restart never ran", details=scheduler.log)
        old_after = time.monotonic() - restarted
        wait_until(lambda: statuses(new) == ["completed"] * 3, timeout=60, interval=0.2,
                   message="the jobs sent just before the restart never ran", details=scheduler.log)
        new_after = time.monotonic() - restarted
    finally:
        for process in processes:
            process.stop()
        redis.terminate()
        redis.wait(timeout=10)
    log = scheduler.log()
    print(f"after a Redis restart: jobs sent 33 s before it ran {old_after:.1f} s later, "
          f"jobs sent just before it {new_after:.1f} s later")
    assert old_after < 15
    assert new_after < 45
    assert re.search(r"no worker has one in hand: 3 message\(s\) were lost", log), log[-3000:]
    assert "database is locked" not in log
