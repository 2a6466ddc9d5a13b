"""Pages at scale: `/schedules`, `/jobs`, the API's lists and `/metrics` on a small database and on a
large one: the SQL queries of each request (the same number at both sizes, or the page reads per
row) and its server time.

The measuring child migrates a fresh SQLite file (WAL, the project's settings, DEBUG off) and fills it
twice with the same shape (bench/metrics.py's builder, plus channels with videos and group
memberships, and backup records): first 10 schedules, 100 jobs, 10 channels and 10 backups, then
10,000 schedules, 1,000,000 jobs (500,000 schedule runs), 10,000 channels (100,000 videos) and 10,000
backups. At each size every page is asked for by Django's test `Client`, in this process, as a
logged-in superuser (a session, as a browser sends it): once untimed, once with its queries counted
(a `connection.execute_wrapper`), then `--requests` times, timed from the request to the complete
response (middleware, view, template, JSON): its wall-clock time and this process's CPU time. Server
time only: no network, no web server, no browser. On a machine shared with other work the wall clock
also counts the waits for a core; the CPU time is the page's own work (SQLite runs in this process,
on a database in the page cache, so its work is counted too).

Each list is asked for twice: its first page, and a deep one (the API's `cursor` at the middle id;
`/jobs?before=` the middle id; `/schedules?page=` the middle page). The target is the issue's: the same
number of queries at both sizes, and p95 under 150 ms at the large size. At the large size, each query of
one request is also run again alone with its rows fetched (bench/metrics.py's `_query_time`): the
slowest, its time and SQLite's plan.

    .venv/bin/python -m bench.pages                        the figures, as JSON
    .venv/bin/python -m bench.pages --jobs 100000          a quicker run (the other large sizes stay)
    .venv/bin/python -m bench.pages --raw                  the raw measurements
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import datetime, timedelta, timezone

from bench import _harness, metrics

SMALL = {"schedules": 10, "jobs": 100, "channels": 10, "backups": 10}
LARGE = {"schedules": 10_000, "jobs": 1_000_000, "channels": 10_000, "backups": 10_000}
VIDEOS_PER_CHANNEL = 10
REQUESTS = 30
TARGET_MS = 150.0
MEASURE_TIMEOUT_SECONDS = 1800

# What is asked for; `_url` fills in `<middle id>` and `<middle>` (a page number) from the database.
PAGES = ("/schedules", "/schedules?page=<middle>", "/jobs", "/jobs?before=<middle id>", "/jobs?status=failed",
         "/api/schedules", "/api/schedules?cursor=<middle id>", "/api/jobs", "/api/jobs?cursor=<middle id>",
         "/api/channels", "/api/channels?cursor=<middle id>", "/api/backups", "/api/backups?cursor=<middle id>",
         "/metrics")


def run(*, jobs: int = LARGE["jobs"], requests: int = REQUESTS) -> dict:
    return figures(measure_in_child(jobs=jobs, requests=requests))


def measure_in_child(*, jobs: int = LARGE["jobs"], requests: int = REQUESTS) -> dict:
    return _harness.measure_in_child("bench.pages", ["--jobs", str(jobs), "--requests", str(requests)],
                                     timeout=MEASURE_TIMEOUT_SECONDS, prefix="bench-pages-")


# --------------------------------------------------------------------------- the figures


def figures(r: dict) -> dict:
    small, large = r["sizes"]
    rows, queries = [], []
    for label in PAGES:
        s, big = small["pages"][label], large["pages"][label]
        cpu_p95 = big["cpu_seconds"]["p95"] * 1000
        rows.append({
            "page": f"`{label}`",
            "queries, small": s["queries"], "queries, large": big["queries"],
            "median ms, small": s["seconds"]["median"] * 1000, "median ms, large": big["seconds"]["median"] * 1000,
            "large / small": big["seconds"]["median"] / s["seconds"]["median"],
            "p95 ms, large": big["seconds"]["p95"] * 1000,
            "CPU p95 ms, large": cpu_p95,
            f"same queries, CPU p95 < {TARGET_MS:g} ms": s["queries"] == big["queries"] and cpu_p95 < TARGET_MS,
        })
        slowest = big["slowest_query"]
        queries.append({"page": f"`{label}`", "its slowest query": slowest["label"],
                        "SQL time with its rows fetched, ms": slowest["seconds"] * 1000, "SQLite's plan": slowest["plan"]})
    return {
        "requests timed per page and size": r["requests"],
        "pages": len(rows),
        "pages with the same queries at both sizes": sum(row["queries, small"] == row["queries, large"]
                                                         for row in rows),
        f"pages with a CPU p95 < {TARGET_MS:g} ms at the large size": sum(
            row["CPU p95 ms, large"] < TARGET_MS for row in rows),
        f"pages with a wall-clock p95 < {TARGET_MS:g} ms at the large size": sum(
            row["p95 ms, large"] < TARGET_MS for row in rows),
        "tables": {
            "sizes": [{"size": name, **m["rows"], "fill, s": m["fill_seconds"]}
                      for name, m in zip(("small", "large"), (small, large))],
            "pages": rows,
            "queries": queries,
        },
    }


# --------------------------------------------------------------------------- the measuring child


def measure(*, jobs: int, requests: int) -> dict:
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client

    call_command("migrate", verbosity=0, interactive=False)
    call_command("createcachetable", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)  # DEBUG off: the manifest the pages link by
    client = Client(HTTP_HOST="localhost")
    client.force_login(get_user_model().objects.create_superuser("bench", password="bench-password-only"))
    now = datetime.now(timezone.utc)
    rng = random.Random(20261204)
    filled = {"schedules": 0, "runs": 0, "jobs": 0}
    sizes = []
    for size in (SMALL, {**LARGE, "jobs": jobs}):
        started = time.perf_counter()
        metrics._fill(filled, jobs=size["jobs"], schedules=size["schedules"], channels=0, now=now, rng=rng)
        _top_up(size, now=now)
        fill_seconds = time.perf_counter() - started
        _settle()
        rows = {**filled, **{key: _count(key) for key in ("channels", "videos", "backups")}}
        _harness.progress("pages", f"asking for the pages at {rows}")
        sizes.append({"rows": rows, "fill_seconds": fill_seconds,
                      "pages": {label: _ask(client, label, requests) for label in PAGES}})
    return {"requests": requests, "sizes": sizes}


def _settle() -> None:
    """As a database in use for a while would be: the WAL checkpointed, the planner's statistics there."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        cursor.execute("ANALYZE")


def _count(what: str) -> int:
    from backups.models import Backup
    from channels.models import Channel, Video

    return {"channels": Channel, "videos": Video, "backups": Backup}[what].objects.count()


def _url(label: str) -> str:
    """The label's URL on the database as it is now: `<middle id>` and `<middle>` filled in."""
    from backups.models import Backup
    from channels.models import Channel
    from common.api import IdCursorPagination
    from jobs.models import Job
    from scheduling.models import ScheduledTask
    from scheduling.views import PAGE_SIZE

    if "<middle>" in label:
        return label.replace("<middle>", str(1 + ScheduledTask.objects.count() // PAGE_SIZE // 2))
    if "<middle id>" not in label:
        return label
    model = {"schedules": ScheduledTask, "jobs": Job, "channels": Channel, "backups": Backup}[
        label.split("?")[0].rstrip("/").rsplit("/", 1)[-1]]
    middle = str(model.objects.order_by("-pk").values_list("pk", flat=True).first() // 2 or 1)
    if label.startswith("/api/"):
        return label.replace("<middle id>", IdCursorPagination.Cursor(p=middle).encode_as_param())
    return label.replace("<middle id>", middle)


def _ask(client, label: str, requests: int) -> dict:
    from django.db import connection

    url = _url(label)
    def get():
        response = client.get(url)
        if response.status_code != 200:
            raise RuntimeError(f"{url} answered {response.status_code}")
        return response

    size = len(get().content)  # warm: imports, templates, the page cache
    # Counted by a wrapper, not CaptureQueriesContext: a request's start empties the log that reads.
    captured = []
    with connection.execute_wrapper(lambda execute, sql, params, many, context: (
            captured.append((sql, params)), execute(sql, params, many, context))[1]):
        get()
    times, cpu = [], []
    for _ in range(requests):
        started, started_cpu = time.perf_counter(), time.process_time()
        get()
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    slowest = max((metrics._query_time(sql, params) for sql, params in captured), key=lambda q: q["seconds"])
    return {"url": url, "queries": len(captured), "sql": [sql for sql, _ in captured], "bytes": size,
            "seconds": _harness.summary(times), "cpu_seconds": _harness.summary(cpu), "slowest_query": slowest}


def _top_up(size: dict, *, now: datetime) -> None:
    """Channels (each with VIDEOS_PER_CHANNEL videos, in one group) and completed backups, up to the size's
    numbers: bulk_create, a transaction per table."""
    from django.db import transaction

    from backups.models import Backup, BackupStatus
    from channels.models import Channel, ChannelGroup, Video

    with transaction.atomic():
        first = Channel.objects.count()
        groups = list(ChannelGroup.objects.order_by("pk").values_list("pk", flat=True))
        channels = Channel.objects.bulk_create(
            [Channel(youtube_id=f"UC{n:022d}", title=f"Channel {n:05d}", enabled=n % 50 != 0,
                     last_outcome=metrics.CHANNEL_OUTCOMES[n % 6], created_at=now - timedelta(days=90))
             for n in range(first, size["channels"])], batch_size=2000)
        channels = list(Channel.objects.filter(youtube_id__in=[c.youtube_id for c in channels])) if channels else []
        Channel.groups.through.objects.bulk_create(
            [Channel.groups.through(channel_id=c.pk, channelgroup_id=groups[c.pk % len(groups)]) for c in channels],
            batch_size=2000)
        Video.objects.bulk_create(
            [Video(channel_id=c.pk, youtube_id=f"v{c.pk:08d}{k:02d}", title=f"Video {k} of channel {c.pk}",
                   url=f"https://www.youtube.com/watch?v=v{c.pk:08d}{k:02d}",
                   published_at=now - timedelta(days=k), first_seen_at=now - timedelta(days=k))
             for c in channels for k in range(VIDEOS_PER_CHANNEL)], batch_size=2000)
    with transaction.atomic():
        Backup.objects.bulk_create(
            [Backup(status=BackupStatus.COMPLETED, database_vendor="sqlite", file_name=f"backup-{n:05d}.sqlite3.zst",
                    size_bytes=1_000_000, database_size_bytes=4_000_000, started_at=now - timedelta(hours=n),
                    finished_at=now - timedelta(hours=n) + timedelta(seconds=30))
             for n in range(Backup.objects.count(), size["backups"])], batch_size=2000)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=LARGE["jobs"])
    parser.add_argument("--requests", type=int, default=REQUESTS)
    return _harness.main_for(parser, argv, measure=measure, measure_in_child=measure_in_child, figures=figures)


if __name__ == "__main__":
    raise SystemExit(main())
