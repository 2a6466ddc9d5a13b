"""deploy/run_worker.py tells a stop it was asked for (exit 0) from a cluster that ended by itself (a failure),
so that systemd (or any supervisor) restarts a worker whose cluster was killed from outside.

Real processes: run_worker.py and its `manage.py qcluster` on the test database.
"""

import contextlib
import os
import re
import signal
import sys

import pytest

from tests import servers
from tests.servers import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker(start_process):
    """run_worker.py with its cluster up; whatever is left of the cluster is killed afterwards."""
    # A cluster stopped by the test before still reports for a few seconds: it must not count as this one.
    wait_until(lambda: servers.working_clusters() == 0, timeout=15, message="an earlier cluster still reports")
    process = start_process("worker", "deploy/run_worker.py", "--grace", "5", program=(sys.executable,))
    wait_until(lambda: servers.working_clusters() or not process.running(), timeout=30,
               message="the cluster did not start", details=process.log)
    assert process.running(), process.log()
    yield process
    for pgid in cluster_groups(process):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)


def cluster_groups(process) -> list[int]:
    return [int(pgid) for pgid in re.findall(r"qcluster started, process group (\d+)", process.log())]


def test_it_fails_when_the_cluster_s_own_process_is_stopped_from_outside(worker):
    [cluster] = cluster_groups(worker)

    os.kill(cluster, signal.SIGTERM)  # a stray kill: django-q2's cluster stops cleanly and exits 0

    assert worker.popen.wait(timeout=60) == 1, worker.log()[-3000:]
    assert "the cluster stopped by itself (exit code 0)" in worker.log()


def test_it_fails_when_the_cluster_is_killed(worker):
    [cluster] = cluster_groups(worker)

    os.killpg(cluster, signal.SIGKILL)

    assert worker.popen.wait(timeout=30) == 128 + signal.SIGKILL, worker.log()[-3000:]
    assert "killed by signal 9" in worker.log()


def test_it_exits_0_when_asked_to_stop(worker):
    worker.popen.send_signal(signal.SIGTERM)

    assert worker.popen.wait(timeout=60) == 0, worker.log()[-3000:]
    wait_until(lambda: not worker.group_alive() and not any(servers.group_members(g) for g in cluster_groups(worker)),
               timeout=15, message="a process of the worker is still running")
