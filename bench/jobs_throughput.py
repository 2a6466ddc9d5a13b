"""Job throughput: trivial jobs through our durable record beside bare django-q2 `async_task`.

The default setup (SQLite in WAL mode, django-q2's ORM broker in the same database, a real
`manage.py qcluster` with 2 workers), N trivial jobs per measurement, timed from the first enqueue
until every job's record says completed and the broker holds no message. Each kind is measured
in several rounds, interleaved, with a fresh cluster each time (its start is not timed), so the
ratios hold on a shared machine whose speed drifts.

    .venv/bin/python -m bench.jobs_throughput               print the markdown section
    .venv/bin/python -m bench.jobs_throughput --jobs 500    a quicker run
    .venv/bin/python -m bench.jobs_throughput --json        print the raw measurements

Kinds:
- bare django-q2: `async_task(noop, n)`, with django-q2's defaults (it saves each result);
- bare django-q2 with `save=False`: what our messages ask for, as the job row is the record;
- ours: `job_enqueue()` one job at a time (a row, its message, the claim, the result, the attempt log);
- ours in batches: `job_create_many()` 100 at a time, as a schedule run creates its jobs.

`run()` measures in a child process (`--measure`, see `bench/_harness.py`) with a temporary database
and a settings module that is the project's own plus one handler module (this one, for the
BENCH_NOOP job type).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench import _harness

ROOT = Path(__file__).resolve().parent.parent

JOBS = 2_000
ROUNDS = 2
BATCH = 100
WORKERS = 2
TARGET_RATIO = 0.8
MEASURE_TIMEOUT_SECONDS = 900
DRAIN_TIMEOUT_SECONDS = 300

JOB_TYPE = "BENCH_NOOP"
KINDS = ("bare", "bare_nosave", "ours", "ours_batch")
LABELS = {
    "bare": "bare django-q2 `async_task` (its defaults: results saved)",
    "bare_nosave": "bare django-q2 `async_task(..., save=False)`",
    "ours": "ours: `job_enqueue()` one job at a time",
    "ours_batch": f"ours: `job_create_many()` in batches of {BATCH}",
}
SETTINGS_MODULE = "bench_jobs_settings"
SETTINGS_TEXT = '''"""The project's settings plus the benchmark's job handler (written by bench.jobs_throughput)."""
from config.settings import *  # noqa: F401,F403

JOB_HANDLER_MODULES = ["bench.jobs_throughput"]
'''


def noop(n: int = 0):
    """The bare task: nothing."""
    return n


def run_noop(job):
    """The BENCH_NOOP handler: nothing either."""
    return None


def _register_handler() -> None:
    from jobs import registry

    registry.register(registry.JobHandler(JOB_TYPE, "Benchmark: nothing", run_noop, time_limit_seconds=60,
                                          max_retries=0))


if __name__ != "__main__":
    # Imported through JOB_HANDLER_MODULES (the cluster's workers, the measuring child). Run as a
    # script, this module is `__main__` and Django imports it again under its name; registering
    # both copies would register two different functions for one type.
    _register_handler()


def run(*, jobs: int = JOBS, rounds: int = ROUNDS) -> str:
    """Measure in a child process with its own temporary database; the markdown section."""
    return render(measure_in_subprocess(jobs=jobs, rounds=rounds))


def measure_in_subprocess(*, jobs: int = JOBS, rounds: int = ROUNDS) -> dict:
    args = ["--jobs", str(jobs), "--rounds", str(rounds)]
    with _harness.temp_workdir("bench-jobs-") as workdir:
        (workdir / f"{SETTINGS_MODULE}.py").write_text(SETTINGS_TEXT)
        env = _harness.child_env(
            workdir,
            PYTHONPATH=os.pathsep.join([str(workdir), str(ROOT)]),
            DJANGO_SETTINGS_MODULE=SETTINGS_MODULE,
            Q_WORKERS=str(WORKERS),
        )
        return _harness.measure_in_child("bench.jobs_throughput", args, env=env, timeout=MEASURE_TIMEOUT_SECONDS)


# --------------------------------------------------------------------------- rendering


def render(r: dict) -> str:
    medians = {kind: statistics.median(m["jobs_per_second"] for m in r["runs"][kind]) for kind in KINDS}
    enqueue = {kind: statistics.median(m["enqueue_ms_per_job"] for m in r["runs"][kind]) for kind in KINDS}
    bare = medians["bare"]
    lines = [
        "## Job throughput: our durable jobs vs bare django-q2",
        "",
        f"Trivial jobs through the default setup: SQLite (WAL), django-q2's ORM broker, a real `qcluster` with "
        f"{r['workers']} workers. {r['jobs']:,} jobs per measurement, timed from the first enqueue until every "
        f"record is completed and the broker is empty; median of {r['rounds']} interleaved rounds, a fresh cluster "
        f"for each (its start not timed). Logging at WARNING for both. Measured {r['finished_at']}.",
        "",
        "| kind | enqueue, ms per job | end to end, jobs/s | vs bare django-q2 | rounds, jobs/s |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for kind in KINDS:
        rounds = ", ".join(f"{m['jobs_per_second']:.0f}" for m in r["runs"][kind])
        lines.append(f"| {LABELS[kind]} | {enqueue[kind]:.2f} | {medians[kind]:.0f} | "
                     f"{medians[kind] / bare:.0%} | {rounds} |")
    ratio = medians["ours"] / bare
    met = "met" if ratio >= TARGET_RATIO else "**not met**"
    locked = r["database_locked_lines"]
    lines += [
        "",
        f"- Target: at least {TARGET_RATIO:.0%} of bare django-q2's throughput. Ours, one job at a time: "
        f"{ratio:.0%} ({met}); in batches: {medians['ours_batch'] / bare:.0%}.",
        f"- \"database is locked\" in the cluster and benchmark logs: {locked} line{'s' if locked != 1 else ''}.",
        f"- Every one of our jobs completed on its first attempt: {'yes' if r['all_ours_completed'] else '**no**'}.",
        "- Our messages carry `save=False`: django-q2 keeps no result row per success, because the job's own row "
        "is the record. That saves the monitor a transaction per task (pruning its success history, inserting the "
        "result), which more than pays for our claim and result writes; the `save=False` row shows the queue's "
        "own cost without it.",
        "",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- the measuring child


def _measure(*, jobs: int, rounds: int) -> dict:
    import django

    django.setup()
    from django.core.management import call_command

    workdir = _harness.child_workdir()
    call_command("migrate", verbosity=0, interactive=False)
    call_command("createcachetable", verbosity=0)

    runs: dict[str, list[dict]] = {kind: [] for kind in KINDS}
    logs: list[Path] = []
    all_ours_completed = True
    for round_no in range(rounds):
        order = KINDS if round_no % 2 == 0 else tuple(reversed(KINDS))
        for kind in order:
            log = workdir / f"qcluster-{round_no}-{kind}.log"
            logs.append(log)
            cluster = _start_cluster(log)
            try:
                _wait_for_cluster(cluster)
                result = _measure_kind(kind, jobs=jobs)
            finally:
                _stop(cluster)
            all_ours_completed &= result.pop("all_completed", True)
            runs[kind].append(result)
            _progress(f"round {round_no + 1}/{rounds} {kind}: {result['jobs_per_second']:.0f} jobs/s, "
                      f"enqueue {result['enqueue_ms_per_job']:.2f} ms/job")
    locked = sum(log.read_text(errors="replace").count("database is locked") for log in logs)
    return {
        "jobs": jobs,
        "rounds": rounds,
        "workers": WORKERS,
        "runs": runs,
        "database_locked_lines": locked,
        "all_ours_completed": all_ours_completed,
        "finished_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def _measure_kind(kind: str, *, jobs: int) -> dict:
    from django.utils import timezone
    from django_q.brokers import get_broker
    from django_q.models import OrmQ
    from django_q.tasks import async_task

    from jobs.models import ACTIVE_STATUSES, Job, JobStatus
    from jobs.services import JobRequest, job_create_many, job_enqueue

    first_pk = (Job.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
    broker = get_broker()
    started = time.perf_counter()
    if kind == "bare":
        for n in range(jobs):
            async_task("bench.jobs_throughput.noop", n, broker=broker)
    elif kind == "bare_nosave":
        for n in range(jobs):
            async_task("bench.jobs_throughput.noop", n, broker=broker, save=False)
    elif kind == "ours":
        for n in range(jobs):
            job_enqueue(job_type=JOB_TYPE, params={"n": n}, now=timezone.now())
    else:
        for start in range(0, jobs, BATCH):
            job_create_many(requests=[JobRequest(JOB_TYPE, {"n": n}) for n in range(start, min(start + BATCH, jobs))],
                            now=timezone.now())
    enqueued = time.perf_counter()

    ours = kind.startswith("ours")
    deadline = time.monotonic() + DRAIN_TIMEOUT_SECONDS
    while True:
        busy = OrmQ.objects.exists() or (ours and Job.objects.filter(status__in=ACTIVE_STATUSES).exists())
        if not busy:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"{kind}: {jobs} jobs not done after {DRAIN_TIMEOUT_SECONDS} s")
        time.sleep(0.02)
    finished = time.perf_counter()

    result = {
        "enqueue_ms_per_job": (enqueued - started) * 1000 / jobs,
        "seconds": finished - started,
        "jobs_per_second": jobs / (finished - started),
    }
    if ours:
        mine = Job.objects.filter(pk__gte=first_pk, job_type=JOB_TYPE)
        result["all_completed"] = (
            mine.count() == jobs and mine.filter(status=JobStatus.COMPLETED, attempts=1).count() == jobs
        )
    return result


def _start_cluster(log: Path) -> subprocess.Popen:
    with open(log, "ab") as fh:
        return subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT, stdout=fh,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def _wait_for_cluster(cluster: subprocess.Popen, timeout: float = 30) -> None:
    from jobs.queue import alive_clusters

    deadline = time.monotonic() + timeout
    while not any(len(c.workers) == WORKERS for c in alive_clusters() or []):
        if cluster.poll() is not None:
            raise RuntimeError(f"qcluster exited with {cluster.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError("qcluster did not start")
        time.sleep(0.1)


def _stop(cluster: subprocess.Popen) -> None:
    cluster.send_signal(signal.SIGTERM)
    try:
        cluster.wait(timeout=30)
    except subprocess.TimeoutExpired:
        cluster.kill()
        cluster.wait(timeout=10)
    # The next cluster must not be counted as alive through this one's last status entry.
    from jobs.queue import alive_clusters

    deadline = time.monotonic() + 10
    while alive_clusters() and time.monotonic() < deadline:
        time.sleep(0.1)


def _progress(text: str) -> None:
    print(f"[bench.jobs_throughput] {text}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.jobs_throughput", description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=JOBS, help=f"jobs per measurement (default {JOBS:,})")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help=f"rounds of each kind (default {ROUNDS})")
    return _harness.main_for(parser, argv, measure=_measure, measure_in_subprocess=measure_in_subprocess, render=render)


if __name__ == "__main__":
    sys.exit(main())
