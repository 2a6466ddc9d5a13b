"""The worker cluster (`manage.py qcluster`), stopped so that no running job is lost.

    python deploy/run_worker.py [--grace SECONDS]

Runs the cluster in a process group of its own and, on SIGTERM or SIGINT, stops it in steps:

1. SIGINT to the cluster's main process: django-q2's own stop. It takes no new jobs and waits for
   the running ones (its other processes ignore SIGINT).
2. If it is still running after the grace period, SIGTERM to all of its processes: each worker
   still running a job hands the job back to the queue, uncounted (jobs/runner.py).
3. SIGKILL to whatever is left a moment later.

Without it, a SIGTERM sent to the cluster's whole process group (honcho on Ctrl-C, systemd's default
KillMode) kills django-q2's sentinel at once, and its main process can then hang for good waiting
on the dead sentinel. The Procfile runs it with a grace that fits honcho's 5 s before SIGKILL;
deploy/channel-archive-worker.service with minutes.

It exits 0 only after a stop it was asked for (SIGTERM or SIGINT to it). A cluster that ends on its
own, however (a crash, a SIGKILL, a stray SIGTERM to the cluster's own process), ends it with a
failure, so that a supervisor restarts it.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Between the SIGTERM (step 2) and the SIGKILL (step 3): time for the workers' hand-back writes.
HAND_BACK_SECONDS = 1.5


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="run_worker.py", description=__doc__.splitlines()[0])
    parser.add_argument("--grace", type=float, default=300.0,
                        help="seconds running jobs get to finish once asked to stop (default 300)")
    grace = parser.parse_args(argv).grace

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    cluster = subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT, start_new_session=True)
    print(f"run_worker: qcluster started, process group {cluster.pid}", file=sys.stderr, flush=True)
    while cluster.poll() is None and not stop.wait(0.5):
        pass
    if not stop.is_set():
        return ended_by_itself(cluster.returncode)
    stop_cluster(cluster, grace=grace)
    return 0


def ended_by_itself(returncode: int) -> int:
    """The cluster stopped without being asked (it crashed, or was killed or stopped from outside):
    a failure, whatever its exit code, so that the service manager restarts it (django-q2's cluster
    exits 0 after a stray SIGTERM or SIGINT, which would otherwise look like a stop that was asked for)."""
    how = f"killed by signal {-returncode}" if returncode < 0 else f"exit code {returncode}"
    print(f"run_worker: the cluster stopped by itself ({how}); exiting with a failure", file=sys.stderr, flush=True)
    if returncode < 0:
        return 128 - returncode  # as a shell reports a death by signal
    return returncode or 1


def stop_cluster(cluster: subprocess.Popen, *, grace: float) -> None:
    cluster.send_signal(signal.SIGINT)
    try:
        cluster.wait(timeout=grace)
        return  # django-q2 waited for its workers: nothing is left
    except subprocess.TimeoutExpired:
        pass
    for sig, wait in ((signal.SIGTERM, HAND_BACK_SECONDS), (signal.SIGKILL, 0)):
        try:
            os.killpg(cluster.pid, sig)
        except ProcessLookupError:
            break
        threading.Event().wait(wait)
    cluster.wait()


if __name__ == "__main__":
    sys.exit(main())
