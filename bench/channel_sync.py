"""Quick sync of a 200-channel group: wall time against the I/O bound, and the CPU of an unchanged feed.

A local HTTP server (a process of its own) answers every channel's feed after 50 ms (the tests'
15-entry fixture, one version per channel). A real `manage.py qcluster` syncs the whole group
(Sync now: one QUICK_SYNC job per channel), timed from the jobs' creation until the group sync's
summary is written; with the default worker count (settings: Q_CLUSTER workers = 2) and with 8;
with django-q2's ORM broker (the default) and with Redis, each in a measuring child of its own.
The I/O bound is what the workers could do if a sync cost nothing but the 50 ms wait: workers /
50 ms channels per second. The feeds either all changed since the last sync (their view counts:
each job updates its 15 videos, the usual case, as YouTube's view counts move all the time) or
none did.

The CPU of one quick sync of an unchanged feed is measured in the measuring process, on the thread
that runs it (`time.thread_time`): the handler alone, and a whole job attempt as a worker runs it
(claim, handler, result, the sync's follow-up).

    .venv/bin/python -m bench.channel_sync            the figures, as JSON
    .venv/bin/python -m bench.channel_sync --raw      the raw measurements
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import shutil
import signal
import socket
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from bench import _harness
from tests.servers import Process, group_members, redis_server, start_cluster, stop_cluster

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "channels" / "feeds" / "channel.xml"
FIXTURE_CHANNEL = "UCq1w2e3r4t5y6u7i8o9p0aZ"

CHANNELS = 200
DELAY_SECONDS = 0.050
WORKER_COUNTS = (2, 8)
ROUNDS = 2
TARGET_SHARE = 0.70
KINDS = ("changed", "unchanged")
KIND_LABELS = {"changed": "every feed changed (15 videos updated per job)",
               "unchanged": "no feed changed (hash equal: no video written)"}
CPU_TARGET_MS = 5.0
CORES = os.cpu_count() or 1
CPU_SAMPLES = 200
MEASURE_TIMEOUT_SECONDS = 900
SYNC_TIMEOUT_SECONDS = 300


def run(*, channels: int = CHANNELS, rounds: int = ROUNDS) -> dict:
    return figures(measure_in_child(channels=channels, rounds=rounds))


def measure_in_child(*, channels: int = CHANNELS, rounds: int = ROUNDS) -> dict:
    """One measuring child per broker: the ORM broker (the default: the queue in SQLite too), then
    Redis (REDIS_URL), if redis-server is installed."""
    args = ["--channels", str(channels), "--rounds", str(rounds)]
    results = {"orm": _harness.measure_in_child("bench.channel_sync", args, timeout=MEASURE_TIMEOUT_SECONDS,
                                                prefix="bench-channels-")}
    if shutil.which("redis-server"):
        with redis_server() as url:
            results["redis"] = _harness.measure_in_child("bench.channel_sync", args, timeout=MEASURE_TIMEOUT_SECONDS,
                                                         prefix="bench-channels-", prepare=lambda _: {"REDIS_URL": url})
    return results


BROKER_LABELS = {"orm": "ORM (SQLite, the default)", "redis": "Redis"}


# --------------------------------------------------------------------------- the figures


def figures(results: dict) -> dict:
    def median(runs: list[dict], key: str) -> float | None:
        values = [m[key] for m in runs if m.get(key) is not None]
        return statistics.median(values) if values else None

    syncs = []
    for broker, r in results.items():
        for kind in KINDS:
            for workers in r["workers"]:
                runs = r["runs"][f"{kind}/{workers}"]
                rate = r["channels"] / median(runs, "seconds")
                bound = workers / (r["delay_ms"] / 1000)
                cpu_ms = median(runs, "cluster_cpu_ms") + median(runs, "server_cpu_ms")
                syncs.append({
                    "broker": BROKER_LABELS[broker], "feeds": KIND_LABELS[kind],
                    "workers": f"{workers} (default)" if workers == r["default_workers"] else str(workers),
                    "wall time, s": median(runs, "seconds"), "channels/s": rate, "I/O bound, channels/s": bound,
                    "share of the bound, %": 100 * rate / bound,
                    f"≥ {TARGET_SHARE:.0%}?": rate >= TARGET_SHARE * bound,
                    "CPU per channel: cluster, ms": median(runs, "cluster_cpu_ms"),
                    "feed server, ms": median(runs, "server_cpu_ms"), f"cores busy, of {CORES}": rate * cpu_ms / 1000,
                    "a job, claim to result, ms": median(runs, "job_run_ms_median"),
                    "of which the fetch, ms": median(runs, "fetch_ms_median"),
                    "rounds, s": [m["seconds"] for m in runs]})
    orm = results["orm"]
    cpu = orm["cpu"]
    return {
        "channels": orm["channels"], "feeds answered after, ms": orm["delay_ms"], "rounds": orm["rounds"],
        "every job completed, every summary said all channels synced": all(r["all_synced"] for r in results.values()),
        '"database is locked" in the cluster logs, lines': sum(r["locked"] for r in results.values()),
        "tables": {
            "syncs": syncs,
            "first_syncs": [{"broker": BROKER_LABELS[broker], "workers": workers, "first sync, s": statistics.median(
                f["seconds"] for f in r["first_syncs"] if f["workers"] == workers)}
                for broker, r in results.items() for workers in r["workers"]],
            "cpu": [{f"an unchanged feed's sync, {cpu['samples']} times": "the handler",
                     "median, ms": cpu["handler_ms_median"], "p95, ms": cpu["handler_ms_p95"],
                     "target, ms": f"< {CPU_TARGET_MS:g}", "met?": cpu["handler_ms_median"] < CPU_TARGET_MS},
                    {f"an unchanged feed's sync, {cpu['samples']} times": "a whole job attempt",
                     "median, ms": cpu["job_ms_median"], "p95, ms": cpu["job_ms_p95"], "target, ms": None,
                     "met?": None}]}}


# --------------------------------------------------------------------------- the feed server


class FeedServer:
    """Every channel's feed, after a delay, from a process of its own; a new `version` changes the
    view counts, so each round's feeds differ.

    It stands in for YouTube, whose CPU is not on this machine, so it takes as little of the two
    shared cores as it can: one asyncio loop speaking just enough HTTP/1.1 for httpx (keep-alive,
    Content-Length). http.server's thread per connection and header parsing cost about 2.5 ms of
    CPU per request, a tenth of a sync's. Its own process keeps it off the GIL of this one, which
    measures a handler's CPU; its CPU is measured too.
    """

    def __init__(self, channel_ids: list[str]):
        self._version = multiprocessing.Value("i", 0, lock=False)
        self._delay = multiprocessing.Value("d", DELAY_SECONDS, lock=False)
        listener = socket.create_server(("127.0.0.1", 0), backlog=512)
        self.port = listener.getsockname()[1]
        self._process = multiprocessing.get_context("fork").Process(
            target=_serve_feeds, args=(listener, channel_ids, self._version, self._delay), daemon=True)
        self._process.start()
        listener.close()

    @property
    def version(self) -> int:
        return self._version.value

    def set_version(self, version: int) -> None:
        self._version.value = version

    def set_delay(self, seconds: float) -> None:
        self._delay.value = seconds

    def cpu_seconds(self) -> float:
        return _harness.cpu_seconds([self._process.pid])

    def shutdown(self) -> None:
        self._process.terminate()
        self._process.join(timeout=10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/feeds/videos.xml?channel_id={{channel_id}}"


NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"


def _serve_feeds(listener: socket.socket, channel_ids: list[str], version, delay) -> None:
    """The server process: every channel's feed (the tests' fixture with the channel's ids), its
    view counts prefixed with the version."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the measuring child's clean-up: just end
    template = FIXTURE.read_bytes()
    base = {cid: template.replace(FIXTURE_CHANNEL.encode(), cid.encode())
            .replace(FIXTURE_CHANNEL[2:].encode(), cid[2:].encode())
            .replace(b"Xk3vP9qLm", f"{n:05d}abcd".encode()) for n, cid in enumerate(channel_ids)}
    responses: dict[int, dict[str, bytes]] = {}

    def response(channel_id: str) -> bytes:
        current = version.value
        if current not in responses:
            bodies = {cid: body.replace(b'views="', f'views="{current}'.encode()) if current else body
                      for cid, body in base.items()}
            responses.clear()
            responses[current] = {
                cid: b"HTTP/1.1 200 OK\r\nContent-Type: application/atom+xml; charset=UTF-8\r\n"
                     + f"Content-Length: {len(body)}\r\n\r\n".encode() + body for cid, body in bodies.items()}
        return responses[current].get(channel_id, NOT_FOUND)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:  # one request after another on a kept-alive connection
                head = await reader.readuntil(b"\r\n\r\n")
                target = head.split(b" ", 2)[1].decode()
                channel_id = parse_qs(urlsplit(target).query).get("channel_id", [""])[0]
                await asyncio.sleep(delay.value)
                writer.write(response(channel_id))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(serve, sock=listener)
        await server.serve_forever()

    asyncio.run(main())


# --------------------------------------------------------------------------- the measuring child


def _measure(*, channels: int, rounds: int) -> dict:
    channel_ids = [f"UC{n:022d}" for n in range(channels)]
    server = FeedServer(channel_ids)
    os.environ["YOUTUBE_FEED_URL"] = server.url  # before Django reads its settings; the cluster inherits it
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    call_command("createcachetable", verbosity=0)
    from django.utils import timezone

    from channels import services
    from channels.models import Channel

    workdir = _harness.workdir()
    group = services.group_create(name="Bench", now=timezone.now())
    Channel.objects.bulk_create([Channel(youtube_id=cid, title=cid) for cid in channel_ids])
    group.channels.set(Channel.objects.all())
    default_workers = settings.Q_CLUSTER["workers"]

    runs: dict[str, list[dict]] = {f"{kind}/{w}": [] for kind in KINDS for w in WORKER_COUNTS}
    first_syncs: list[dict] = []
    logs: list[Path] = []
    all_synced = True
    plan = []
    for round_no in range(rounds):
        counts = WORKER_COUNTS if round_no % 2 == 0 else tuple(reversed(WORKER_COUNTS))
        plan += [(kind, workers) for workers in counts for kind in KINDS]
    for index, (kind, workers) in enumerate(plan):
        log = workdir / f"qcluster-{index}-{kind}-{workers}.log"
        logs.append(log)
        cluster = start_cluster(lambda: Process("qcluster", ["qcluster"], env={**os.environ, "Q_WORKERS": str(workers)},
                                                log_path=log), timeout=60)
        try:
            # Untimed: a fresh worker's first job imports and sets up what every later one reuses
            # (the HTTP client, its TLS context, a kept-alive connection); a cluster's workers live
            # for 500 jobs each (Q_CLUSTER recycle), so the timed sync is the steady state.
            server.set_version(server.version + 1)
            first = _sync_group(group, channels=channels, cluster=cluster, server=server)
            if kind == "changed":
                server.set_version(server.version + 1)
            result = _sync_group(group, channels=channels, cluster=cluster, server=server)
        finally:
            stop_cluster(cluster)
        _harness.progress("channel_sync", f"{kind}, {workers} workers: {result['seconds']:.2f} s, "
                          f"{channels / result['seconds']:.1f} channels/s (first sync {first['seconds']:.2f} s; "
                          f"CPU per channel: cluster {result['cluster_cpu_ms']:.1f} ms, "
                          f"feed server {result['server_cpu_ms']:.2f} ms)")
        all_synced &= first.pop("all_synced") & result.pop("all_synced")
        runs[f"{kind}/{workers}"].append(result)
        first_syncs.append({"workers": workers, **first})

    server.set_delay(0)
    cpu = _cpu_of_unchanged_sync(group)
    locked = sum(log.read_text(errors="replace").count("database is locked") for log in logs)
    server.shutdown()
    return {"channels": channels, "rounds": rounds, "delay_ms": DELAY_SECONDS * 1000, "workers": list(WORKER_COUNTS),
            "default_workers": default_workers, "runs": runs, "first_syncs": first_syncs, "cpu": cpu, "all_synced": all_synced,
            "locked": locked}


def _sync_group(group, *, channels: int, cluster: Process, server: FeedServer) -> dict:
    """Sync now of the whole group, timed from the jobs' creation until the summary's `finished_at`
    (both on this machine's clock, so the wait between looks at the database adds nothing)."""
    from django.utils import timezone

    from channels import services
    from channels.models import GroupSync
    from jobs.models import Job, JobStatus

    cluster_cpu, server_cpu = _harness.cpu_seconds(group_members(cluster.pid)), server.cpu_seconds()
    started = timezone.now()
    group_sync = services.group_sync_now(group=group, now=started)
    deadline = time.monotonic() + SYNC_TIMEOUT_SECONDS
    while not GroupSync.objects.filter(pk=group_sync.pk, finished_at__isnull=False).exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"the group sync did not finish in {SYNC_TIMEOUT_SECONDS} s")
        time.sleep(0.05)
    cluster_cpu = _harness.cpu_seconds(group_members(cluster.pid)) - cluster_cpu
    server_cpu = server.cpu_seconds() - server_cpu
    group_sync.refresh_from_db()
    jobs = list(Job.objects.filter(params__group_sync_id=group_sync.pk))
    spans = [(j.finished_at - j.started_at).total_seconds() for j in jobs if j.started_at and j.finished_at]
    fetches = [j.result["fetch_ms"] for j in jobs if isinstance(j.result, dict) and "fetch_ms" in j.result]
    return {"seconds": (group_sync.finished_at - started).total_seconds(),
            "job_run_ms_median": statistics.median(spans) * 1000,
            "fetch_ms_median": statistics.median(fetches) if fetches else None,
            "cluster_cpu_ms": cluster_cpu * 1000 / channels, "server_cpu_ms": server_cpu * 1000 / channels,
            "updated_videos": group_sync.updated_videos,
            "all_synced": group_sync.synced == channels
            and sum(j.status == JobStatus.COMPLETED for j in jobs) == channels}


def _cpu_of_unchanged_sync(group) -> dict:
    """Thread CPU of the handler, then of a whole job attempt, for the channels of a group sync
    (what a schedule's run makes) whose feeds have not changed."""
    from django.utils import timezone
    from django_q.models import OrmQ

    from channels import services, sync
    from channels.models import Channel
    from jobs import runner
    from jobs.models import Job, JobStatus

    handler_ms, job_ms = [], []
    group_sync = services.group_sync_now(group=group, now=timezone.now())
    jobs = list(sync.sync_jobs(group_sync.pk).order_by("pk")[:CPU_SAMPLES])
    for job in jobs:  # the handler alone: body fetched, hash equal, the channel's record written
        begin = time.thread_time()
        sync.channel_sync(channel_id=job.params["channel_id"], group_sync_id=group_sync.pk, now=timezone.now())
        handler_ms.append((time.thread_time() - begin) * 1000)
    Job.objects.filter(pk__in=[job.pk for job in jobs]).update(status=JobStatus.CANCELLED)
    group_sync = services.group_sync_now(group=group, now=timezone.now())
    job_ids = list(sync.sync_jobs(group_sync.pk).order_by("pk").values_list("pk", flat=True)[:CPU_SAMPLES])
    for job_id in job_ids:  # a whole attempt, as a worker runs it (autocommit: each write commits)
        begin = time.thread_time()
        runner.execute(job_id)
        job_ms.append((time.thread_time() - begin) * 1000)
    OrmQ.objects.all().delete()
    channel_ids = [job.params["channel_id"] for job in jobs]
    assert all(c.last_outcome == "unchanged" for c in Channel.objects.filter(pk__in=channel_ids))

    handler, job = _harness.summary(handler_ms), _harness.summary(job_ms)
    return {"samples": len(jobs), "handler_ms_median": handler["median"], "handler_ms_p95": handler["p95"],
            "job_ms_median": job["median"], "job_ms_p95": job["p95"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.channel_sync", description=__doc__.split("\n")[0])
    parser.add_argument("--channels", type=int, default=CHANNELS, help=f"channels in the group (default {CHANNELS})")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help=f"rounds per worker count (default {ROUNDS})")
    return _harness.main_for(parser, argv, measure=_measure, measure_in_child=measure_in_child, figures=figures)


if __name__ == "__main__":
    sys.exit(main())
