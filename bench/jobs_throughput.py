"""Job throughput: trivial jobs through our durable record beside bare django-q2 `async_task`.

    .venv/bin/python -m bench.jobs_throughput               the figures, as JSON
    .venv/bin/python -m bench.jobs_throughput --jobs 500    a quicker run
    .venv/bin/python -m bench.jobs_throughput --raw         the raw measurements

What it measures and why: docs/benchmarks.md, "Job throughput". The measuring child's settings
are the project's own plus this module as a handler module (the BENCH_NOOP job type).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

from bench import _harness
from tests.servers import ROOT, Process, start_cluster, stop_cluster, wait_until

JOBS = 2_000
ROUNDS = 2
BATCH = 100
WORKERS = 2
TARGET_RATIO = 0.8

JOB_TYPE = "BENCH_NOOP"
LABELS = {
    "bare": "bare django-q2 `async_task` (its defaults: results saved)",
    "bare_nosave": "bare django-q2 `async_task(..., save=False)`",
    "ours": "ours: `job_enqueue()` one job at a time",
    "ours_batch": f"ours: `job_create_many()` in batches of {BATCH}",
}
SETTINGS_MODULE = "bench_jobs_settings"


def noop(n: int = 0):
    """The bare task: nothing."""
    return n


if __name__ != "__main__":
    # Imported through JOB_HANDLER_MODULES (the cluster's workers, the measuring child). Run as a
    # script this module is `__main__`, and Django imports it again under its name: registering
    # both copies would register two functions for one type.
    from jobs import registry

    registry.register(registry.JobHandler(JOB_TYPE, "Benchmark: nothing", lambda job: None, time_limit_seconds=60,
                                          max_retries=0))


def run(*, jobs: int = JOBS, rounds: int = ROUNDS) -> dict:
    return figures(measure_in_child(jobs=jobs, rounds=rounds))


def measure_in_child(*, jobs: int = JOBS, rounds: int = ROUNDS) -> dict:
    def prepare(workdir):
        (workdir / f"{SETTINGS_MODULE}.py").write_text(
            "from config.settings import *  # noqa: F401,F403\n\nJOB_HANDLER_MODULES = ['bench.jobs_throughput']\n")
        return {"PYTHONPATH": os.pathsep.join([str(workdir), str(ROOT)]), "DJANGO_SETTINGS_MODULE": SETTINGS_MODULE,
                "Q_WORKERS": str(WORKERS)}

    return _harness.measure_in_child("bench.jobs_throughput", ["--jobs", str(jobs), "--rounds", str(rounds)],
                                     timeout=900, prefix="bench-jobs-", prepare=prepare)


def figures(r: dict) -> dict:
    per_second = {kind: statistics.median(m["jobs_per_second"] for m in runs) for kind, runs in r["runs"].items()}
    bare, floor = per_second["bare"], per_second["bare_nosave"]
    return {
        "jobs per measurement": r["jobs"], "workers": r["workers"], "rounds": r["rounds"],
        f"ours one at a time, ≥ {TARGET_RATIO:.0%} of bare django-q2": per_second["ours"] >= TARGET_RATIO * bare,
        f"ours one at a time, % of bare django-q2 (target ≥ {TARGET_RATIO:.0%})": 100 * per_second["ours"] / bare,
        "ours one at a time, % of bare django-q2 `save=False` (the queue's own cost, its floor: no target)":
            100 * per_second["ours"] / floor,
        "ours in batches, % of bare django-q2 `save=False`": 100 * per_second["ours_batch"] / floor,
        "all of our jobs completed on their first attempt": r["all_ours_completed"],
        '"database is locked" in the logs, lines': r["database_locked_lines"],
        "tables": {"kinds": [
            {"kind": LABELS[kind], "enqueue, ms per job": statistics.median(m["enqueue_ms_per_job"] for m in runs),
             "end to end, jobs/s": per_second[kind], "share of bare django-q2, %": 100 * per_second[kind] / bare,
             "share of bare `save=False`, %": 100 * per_second[kind] / floor,
             "rounds, jobs/s": [m["jobs_per_second"] for m in runs]} for kind, runs in r["runs"].items()]}}


# --------------------------------------------------------------------------- the measuring child


def measure(*, jobs: int, rounds: int) -> dict:
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    call_command("createcachetable", verbosity=0)
    workdir = _harness.workdir()
    runs: dict[str, list[dict]] = {kind: [] for kind in LABELS}
    clusters: list[Process] = []
    all_ours_completed = True
    for round_no in range(rounds):
        for kind in LABELS if round_no % 2 == 0 else reversed(LABELS):  # interleaved, so drift evens out
            cluster = start_cluster(lambda: Process("qcluster", ["qcluster"], env=dict(os.environ),
                                                    log_path=workdir / f"qcluster-{round_no}-{kind}.log"))
            clusters.append(cluster)
            try:
                result = _measure_kind(kind, jobs=jobs)
            finally:
                stop_cluster(cluster)
            all_ours_completed &= result.pop("all_completed", True)
            runs[kind].append(result)
            _harness.progress("jobs_throughput", f"round {round_no + 1}/{rounds} {kind}: "
                              f"{result['jobs_per_second']:.0f} jobs/s")
    return {
        "jobs": jobs, "rounds": rounds, "workers": WORKERS, "runs": runs, "all_ours_completed": all_ours_completed,
        "database_locked_lines": sum(c.log().count("database is locked") for c in clusters),
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
    if kind.startswith("bare"):
        for n in range(jobs):
            async_task("bench.jobs_throughput.noop", n, broker=broker, **({"save": False} if kind == "bare_nosave" else {}))
    elif kind == "ours":
        for n in range(jobs):
            job_enqueue(job_type=JOB_TYPE, params={"n": n}, now=timezone.now())
    else:
        for start in range(0, jobs, BATCH):
            job_create_many(requests=[JobRequest(JOB_TYPE, {"n": n}) for n in range(start, min(start + BATCH, jobs))],
                            now=timezone.now())
    enqueued = time.perf_counter()
    ours = kind.startswith("ours")
    wait_until(lambda: not OrmQ.objects.exists() and not (ours and Job.objects.filter(status__in=ACTIVE_STATUSES)
                                                          .exists()),
               timeout=300, interval=0.02, message=f"{kind}: {jobs} jobs not done after 300 s")
    seconds = time.perf_counter() - started
    result = {"enqueue_ms_per_job": (enqueued - started) * 1000 / jobs, "jobs_per_second": jobs / seconds}
    if ours:
        mine = Job.objects.filter(pk__gte=first_pk, job_type=JOB_TYPE)
        result["all_completed"] = mine.filter(status=JobStatus.COMPLETED, attempts=1).count() == jobs == mine.count()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.jobs_throughput", description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=JOBS, help=f"jobs per measurement (default {JOBS:,})")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help=f"rounds of each kind (default {ROUNDS})")
    return _harness.main_for(parser, argv, measure=measure, measure_in_child=measure_in_child, figures=figures)


if __name__ == "__main__":
    sys.exit(main())
