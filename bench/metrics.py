"""A `/metrics` scrape (core/metrics.py) on a small database and on a large one: its queries and its time.

The measuring child migrates a fresh SQLite file (WAL, the project's settings) and fills it twice,
with the same shape: first 1,000 schedules, 5,000 runs and 10,000 jobs, then up to 100,000
schedules, 500,000 runs and 1,000,000 jobs (two jobs linked to each run; the rest of the shape
below). After each fill it scrapes once untimed, then `--scrapes` times, timed, and counts the
queries of one scrape (Django's query capture) with each query's SQL time. The figures: the
queries of a scrape at both sizes (the same number, or the scrape reads per row), its median and
slowest time, and, at the large size, which query costs what.

Rows are written with executemany, a few transactions per table: a million jobs in seconds.

    .venv/bin/python -m bench.metrics                      the figures, as JSON
    .venv/bin/python -m bench.metrics --jobs 100000        a quicker run (schedules and runs scale with it)
    .venv/bin/python -m bench.metrics --raw                the raw measurements
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import time
from datetime import datetime, timedelta, timezone

from bench import _harness

JOBS = 1_000_000
SMALL_JOBS = 10_000
# Per job: a tenth of a schedule, half a run.
SCHEDULES_PER_JOB, RUNS_PER_JOB = 0.1, 0.5
SCRAPES = 10
TARGET_SECONDS = 1.0  # a scrape at the large size: well inside Prometheus' default 10 s scrape timeout
CHUNK = 50_000
MEASURE_TIMEOUT_SECONDS = 1500

RUN_OUTCOMES = (("succeeded", 85), ("failed", 5), ("partly_failed", 2), ("skipped", 4), ("missed", 2),
                ("dispatched", 1), ("dispatch_failed", 1))
JOB_STATUSES = (("completed", 93), ("failed", 3), ("cancelled", 1.4), ("queued", 2), ("retry_wait", 0.5),
                ("running", 0.1))
CHANNEL_OUTCOMES = ("synced", "unchanged", "server_error", "feed_outage", "not_found", "")


def run(*, jobs: int = JOBS, scrapes: int = SCRAPES) -> dict:
    return figures(measure_in_child(jobs=jobs, scrapes=scrapes))


def measure_in_child(*, jobs: int = JOBS, scrapes: int = SCRAPES) -> dict:
    return _harness.measure_in_child("bench.metrics", ["--jobs", str(jobs), "--scrapes", str(scrapes)],
                                     timeout=MEASURE_TIMEOUT_SECONDS, prefix="bench-metrics-")


# --------------------------------------------------------------------------- the figures


def figures(r: dict) -> dict:
    small, large = r["sizes"]

    def size_row(m: dict) -> dict:
        return {"schedules": m["rows"]["schedules"], "runs": m["rows"]["runs"], "jobs": m["rows"]["jobs"],
                "queries per scrape": m["queries"], "scrape, median ms": m["seconds"]["median"] * 1000,
                "scrape, slowest ms": m["seconds"]["max"] * 1000, "response, bytes": m["bytes"],
                "fill, s": m["fill_seconds"]}

    slowest = large["seconds"]["max"]
    return {
        "scrapes timed per size": r["scrapes"],
        "queries per scrape, the same at both sizes": small["queries"] == large["queries"],
        f"slowest scrape at {large['rows']['jobs']:,} jobs ≤ {TARGET_SECONDS:g} s": slowest <= TARGET_SECONDS,
        "tables": {
            "sizes": [size_row(small), size_row(large)],
            "queries": [{"query": q["label"], "SQL time with its rows fetched, ms": q["seconds"] * 1000,
                         "SQLite's plan": q["plan"]} for q in large["query_times"]],
        },
    }


# --------------------------------------------------------------------------- the measuring child


def measure(*, jobs: int, scrapes: int) -> dict:
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    call_command("createcachetable", verbosity=0)
    now = datetime.now(timezone.utc)
    rng = random.Random(20261201)
    sizes, filled = [], {"schedules": 0, "runs": 0, "jobs": 0}
    for target in (min(SMALL_JOBS, jobs), jobs):
        started = time.perf_counter()
        _fill(filled, jobs=target, now=now, rng=rng)
        fill_seconds = time.perf_counter() - started
        _harness.progress("metrics", f"scraping {filled['jobs']:,} jobs, {filled['runs']:,} runs")
        sizes.append({"rows": dict(filled), "fill_seconds": fill_seconds, **_scrape(scrapes)})
    return {"scrapes": scrapes, "sizes": sizes}


def _scrape(scrapes: int) -> dict:
    from django.db import connection

    from core.metrics import scrape

    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        cursor.execute("ANALYZE")  # as a database in use for a while would have: the planner's statistics
    body = scrape()  # warm: the page cache, Django's and prometheus-client's imports
    times = []
    for _ in range(scrapes):
        started = time.perf_counter()
        scrape()
        times.append(time.perf_counter() - started)
    captured = []
    with connection.execute_wrapper(lambda execute, sql, params, many, context: (
            captured.append((sql, params)), execute(sql, params, many, context))[1]):
        scrape()
    return {"queries": len(captured), "seconds": _harness.summary(times), "bytes": len(body),
            "query_times": [_query_time(sql, params) for sql, params in captured]}


def _query_time(sql: str, params) -> dict:
    """A query of the scrape run again alone, its rows all fetched (SQLite does most of a GROUP BY's work
    while the rows are fetched, after `execute()` returns): the median of 5, and SQLite's plan."""
    from django.db import connection

    times = []
    with connection.cursor() as cursor:
        for _ in range(5):
            started = time.perf_counter()
            cursor.execute(sql, params)
            cursor.fetchall()
            times.append(time.perf_counter() - started)
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        plan = "; ".join(row[-1] for row in cursor.fetchall())
    return {"label": _label(sql), "seconds": statistics.median(times), "plan": plan}


def _label(sql: str) -> str:
    """A few words for a query: its table and what it does."""
    table = re.search(r'FROM "(\w+)"', sql)
    what = ("GROUP BY" if "GROUP BY" in sql else "MIN" if "MIN(" in sql else "COUNT" if "COUNT(" in sql
            else "newest rows" if "ORDER BY" in sql and "DESC" in sql else "read")
    return f"{table.group(1) if table else '?'}: {what}"


# ----------------------------------------------------------------- data


def _insert(model, columns: list[str], rows) -> int:
    """executemany INSERT of `rows` (tuples of database values for `columns`), CHUNK rows a transaction."""
    from django.db import connection, transaction

    names = ", ".join(f'"{column}"' for column in columns)
    sql = f'INSERT INTO "{model._meta.db_table}" ({names}) VALUES ({", ".join("%s" for _ in columns)})'
    count, chunk = 0, []

    def flush():
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(sql, chunk)

    for row in rows:
        chunk.append(row)
        if len(chunk) == CHUNK:
            flush()
            count += len(chunk)
            chunk = []
    if chunk:
        flush()
        count += len(chunk)
    return count


def _fill(filled: dict, *, jobs: int, now: datetime, rng: random.Random, schedules: int | None = None,
          channels: int = 5000) -> None:
    """Add rows until there are `jobs` jobs (and schedules, runs in proportion, or `schedules` schedules);
    the groups and `channels` channels once. (bench/pages.py fills its sizes with it too.)"""
    from django.db import connection

    from channels.models import Channel, ChannelGroup, GroupSync
    from jobs.models import Job
    from scheduling.models import ScheduledTask, ScheduleRun

    ops = connection.ops

    def instant(seconds_ago: float) -> str:
        return ops.adapt_datetimefield_value(now - timedelta(seconds=seconds_ago))

    history = 90 * 86400
    first_schedule = filled["schedules"] + 1
    schedules = (int(jobs * SCHEDULES_PER_JOB) if schedules is None else schedules) - filled["schedules"]
    backup_params = json.dumps({"backup_type": "full", "retention_days": 30, "cleanup_old": True,
                                "force_backup": False})
    outcomes = [o for o, _ in RUN_OUTCOMES]
    weights = [w for _, w in RUN_OUTCOMES]
    _harness.progress("metrics", f"adding {schedules:,} schedules")
    filled["schedules"] += _insert(ScheduledTask, [
        "name", "key", "task_type", "enabled", "schedule_kind", "schedule_time", "schedule_days", "interval_minutes",
        "cron_expr", "timezone", "anchor_at", "params_json", "grace_minutes", "overlap_policy", "last_run_at",
        "last_outcome", "next_run_at", "created_at", "updated_at"], (
        (f"Schedule {n:06d}", f"schedule-{n:06d}", "DATABASE_BACKUP" if n % 10 == 0 else "QUICK_SYNC_GROUP", n % 10 != 7, "daily",
         f"{n % 24:02d}:{n % 60:02d}", "[]", None, "", "UTC", None,
         backup_params if n % 10 == 0 else json.dumps({"group_id": 1 + n % 200}), 60, "skip",
         instant(3600), rng.choices(outcomes, weights)[0], instant(-rng.randrange(86400)), instant(history),
         instant(3600))
        for n in range(first_schedule, first_schedule + schedules)))

    runs = int(jobs * RUNS_PER_JOB) - filled["runs"]
    first_run = filled["runs"] + 1
    _harness.progress("metrics", f"adding {runs:,} runs")
    # Every run a distinct window (the ledger's unique (schedule, due_at) for scheduled runs), spread over
    # the history, newest last; 1 % of them outlived their deleted schedule.
    spacing = history / max(runs, 1)
    filled["runs"] += _insert(ScheduleRun, [
        "schedule_id", "schedule_name", "trigger", "due_at", "outcome", "message", "coalesced_windows",
        "created_at", "finished_at"], (
        (None if n % 100 == 0 else rng.randrange(1, filled["schedules"] + 1), f"Schedule {n % 1000}",
         "scheduled" if n % 50 else "manual", instant(history - i * spacing + rng.random() * 5),
         rng.choices(outcomes, weights)[0], "", 0, instant(history - i * spacing), instant(history - i * spacing - 30))
        for i, n in enumerate(range(first_run, first_run + runs))))

    new_jobs = jobs - filled["jobs"]
    first_job = filled["jobs"] + 1
    statuses = [s for s, _ in JOB_STATUSES]
    job_weights = [w for _, w in JOB_STATUSES]
    _harness.progress("metrics", f"adding {new_jobs:,} jobs and their links to the runs")

    def job_rows():
        spacing_jobs = history / max(new_jobs, 1)
        for i in range(new_jobs):
            status = rng.choices(statuses, job_weights)[0]
            created = history - i * spacing_jobs
            started = instant(created - 1) if status not in ("queued",) else None
            finished = instant(created - 1 - rng.expovariate(1 / 3)) if status in ("completed", "failed",
                                                                                  "cancelled") else None
            yield ("DATABASE_BACKUP" if i % 10 == 0 else "QUICK_SYNC", status, 5, "{}", 1, 3, 3600,
                   instant(created), instant(created), instant(created), started, finished, "host:1", None, "",
                   "[]", False, "", "", False)

    filled["jobs"] += _insert(Job, [
        "job_type", "status", "priority", "params", "attempts", "max_retries", "time_limit_seconds", "created_at",
        "available_at", "enqueued_at", "started_at", "finished_at", "worker", "result", "error", "attempt_log",
        "failed_permanently", "origin_label", "origin_url", "followed"], job_rows())
    _insert(ScheduleRun.jobs.through, ["schedulerun_id", "job_id"], (
        (first_run + i // 2, first_job + i) for i in range(min(new_jobs, 2 * runs))))

    if not ChannelGroup.objects.exists():
        _harness.progress("metrics", f"adding 200 groups and {channels:,} channels")
        _insert(ChannelGroup, ["name", "description", "created_at", "cooldown_reason"],
                ((f"Group {n}", "", instant(history), "") for n in range(200)))
        _insert(GroupSync, ["group_id", "group_name", "origin_label", "created_at", "finished_at", "jobs_created",
                            "channels_total", "synced", "failed", "skipped_backoff", "skipped_cooldown", "new_videos",
                            "updated_videos", "outage", "note"],
                ((n, f"Group {n}", "", instant(600), instant(590), 25, 25, 25, 0, 0, 0, 3, 10, n % 20 == 0, "")
                 for n in range(1, 201)))
        with connection.cursor() as cursor:
            cursor.execute('UPDATE "channels_channelgroup" SET "last_sync_id" = "id"')
        _insert(Channel, ["youtube_id", "title", "enabled", "created_at", "last_outcome", "last_new_count",
                          "last_updated_count", "last_error", "consecutive_failures", "feed_etag",
                          "feed_last_modified", "feed_sha256"],
                ((f"UC{n:022d}", f"Channel {n}", n % 50 != 0, instant(history), CHANNEL_OUTCOMES[n % 6], 0, 0, "", 0,
                  "", "", "") for n in range(channels)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=JOBS)
    parser.add_argument("--scrapes", type=int, default=SCRAPES)
    return _harness.main_for(parser, argv, measure=measure, measure_in_child=measure_in_child, figures=figures)


if __name__ == "__main__":
    raise SystemExit(main())
