"""`GET /metrics`: the system's state in Prometheus' text format, read from the database at each scrape.

Nothing is counted in the web process's memory: every figure comes from the database (and the worker
clusters' status in the shared cache) when Prometheus asks, so every web process answers the same and
a restart loses nothing. A scrape is a fixed number of queries, whatever the number of rows: GROUP BY
counts (the job counts from the (job_type, status) index alone; the runs of the last 24 hours along
the index on their creation), MIN, and the newest 1,000 rows for the two histograms, read along the
primary key (docs/benchmarks.md, "Metrics scrape").

The counts are gauges, not counters: the daily prune (HISTORY_DAYS) lowers the jobs', and the runs'
are a sliding day. The lateness and duration histograms are gauge histograms over the newest rows,
not running totals.

Access: `Authorization: Bearer <METRICS_TOKEN>` (compared in constant time), or a staff session.
"""

from __future__ import annotations

import hmac
import math
from collections import defaultdict
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import CollectorRegistry, exposition
from prometheus_client.core import GaugeHistogramMetricFamily, GaugeMetricFamily
from prometheus_client.utils import floatToGoString

from backups import selectors as backups
from channels import selectors as channels
from common.chores import chore_last_done
from jobs import queue
from jobs import selectors as jobs
from scheduling import history
from scheduling import selectors as scheduling

PREFIX = "archive"
# The rows each histogram is computed from: the newest ones, read along the primary key.
RECENT_ROWS = 1000
# Runs are counted over this window (an index seek), not over the whole history (a scan of the ledger).
RUNS_WINDOW = timedelta(hours=24)
LATENESS_BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600)
DURATION_BUCKETS = (0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600)
MODES = {"scheduler": "loop", "safety_net": "safety_net", None: "none"}


def _timestamp(instant: datetime) -> float:
    return instant.timestamp()


def _histogram(name: str, documentation: str, labels: list[str], samples: dict[tuple, list[float]],
               buckets: tuple[float, ...]) -> GaugeHistogramMetricFamily:
    family = GaugeHistogramMetricFamily(name, documentation, labels=labels)
    for label_values, values in sorted(samples.items()):
        cumulative = [(floatToGoString(bound), sum(1 for value in values if value <= bound)) for bound in buckets]
        family.add_metric(list(label_values), [*cumulative, ("+Inf", len(values))], sum(values))
    return family


class ArchiveCollector:
    """Yields the metric families; `now` is read once per scrape."""

    def __init__(self, *, now: datetime | None = None):
        self.now = now

    def collect(self):
        now = self.now or timezone.now()
        yield from self._scheduling(now)
        yield from self._jobs(now)
        yield from self._backups()
        yield from self._channels(now)
        last_prune = chore_last_done(history.CHORE)
        if last_prune is not None:
            yield GaugeMetricFamily(f"{PREFIX}_history_last_prune_timestamp_seconds",
                                    "When the daily history prune last finished (Unix time).",
                                    value=_timestamp(last_prune))

    def _scheduling(self, now: datetime):
        schedules = GaugeMetricFamily(f"{PREFIX}_schedules", "Schedules by task type, state and last outcome.",
                                      labels=["task_type", "enabled", "last_outcome"])
        for row in scheduling.schedule_counts():
            schedules.add_metric([row["task_type"], str(row["enabled"]).lower(), row["last_outcome"]], row["count"])
        yield schedules

        runs = GaugeMetricFamily(f"{PREFIX}_schedule_runs_last_day", "Schedule runs created in the last 24 hours, "
                                 "by task type (empty once the schedule is deleted) and outcome.",
                                 labels=["task_type", "outcome"])
        for row in scheduling.run_counts(since=now - RUNS_WINDOW):
            runs.add_metric([row["task_type"], row["outcome"]], row["count"])
        yield runs

        yield _histogram(f"{PREFIX}_schedule_dispatch_lateness_seconds",
                         f"How late the newest {RECENT_ROWS} dispatched scheduled windows were written, in seconds.",
                         [], {(): scheduling.recent_dispatch_lateness(limit=RECENT_ROWS)}, LATENESS_BUCKETS)

        status = scheduling.scheduler_status(now=now)
        mode = GaugeMetricFamily(f"{PREFIX}_scheduler_mode", "1 for what turns time into runs now: the loop (or a "
                                 "one-shot schedule_tick), only the worker cluster's safety net, or none.",
                                 labels=["mode"])
        for key, label in MODES.items():
            mode.add_metric([label], 1 if status["mode"] == key else 0)
        yield mode
        if status["age_seconds"] is not None:
            yield GaugeMetricFamily(f"{PREFIX}_scheduler_heartbeat_age_seconds",
                                    "Seconds since the newest scheduler heartbeat.", value=status["age_seconds"])
            yield GaugeMetricFamily(f"{PREFIX}_scheduler_lateness_seconds", "How late the newest heartbeat's pass "
                                    "dispatched its latest window, in seconds.", value=status["lateness_seconds"])

    def _jobs(self, now: datetime):
        counts = GaugeMetricFamily(f"{PREFIX}_jobs", "Jobs in the history by type and status; the daily prune "
                                   "lowers the finished ones.", labels=["job_type", "status"])
        for row in jobs.job_counts():
            counts.add_metric([row["job_type"], row["status"]], row["count"])
        yield counts

        durations = defaultdict(list)
        for job_type, status, seconds in jobs.recent_job_durations(limit=RECENT_ROWS):
            durations[(job_type, status)].append(seconds)
        yield _histogram(f"{PREFIX}_job_duration_seconds", f"How long the last attempt of the newest {RECENT_ROWS} "
                         "completed or failed jobs ran, in seconds.", ["job_type", "status"], durations,
                         DURATION_BUCKETS)

        stats = jobs.queue_stats(now=now)
        yield GaugeMetricFamily(f"{PREFIX}_queue_depth", "Jobs queued for a worker.", value=stats["depth"])
        yield GaugeMetricFamily(f"{PREFIX}_queue_oldest_age_seconds", "How long the oldest queued job has waited, "
                                "in seconds (0 when none waits).", value=stats["oldest_queued_age_seconds"] or 0)

        clusters = queue.alive_clusters()  # reads the clusters' status entries; writes nothing
        unknown = clusters is None
        yield GaugeMetricFamily(f"{PREFIX}_worker_clusters", "Worker clusters alive (NaN: their status cannot be "
                                "read).", value=math.nan if unknown else len(clusters))
        yield GaugeMetricFamily(f"{PREFIX}_workers", "Worker processes of the clusters alive (NaN: unknown).",
                                value=math.nan if unknown else sum(len(cluster.workers) for cluster in clusters))

    def _backups(self):
        counts = GaugeMetricFamily(f"{PREFIX}_backups", "Backups by status.", labels=["status"])
        for status, count in sorted(backups.backup_counts().items()):
            counts.add_metric([status], count)
        yield counts
        newest = backups.newest_good_backup()
        if newest is not None:
            yield GaugeMetricFamily(f"{PREFIX}_backup_last_good_timestamp_seconds", "When the newest good (completed, "
                                    "verified) backup was started (Unix time).", value=_timestamp(newest.started_at))
            yield GaugeMetricFamily(f"{PREFIX}_backup_last_good_size_bytes", "Size of the newest good backup's file.",
                                    value=newest.size_bytes or 0)
        drills = backups.restore_drill_summary()
        if drills["last_passed"] is not None:
            yield GaugeMetricFamily(f"{PREFIX}_restore_drill_last_passed_timestamp_seconds", "When a restore drill "
                                    "last passed (Unix time).", value=_timestamp(drills["last_passed"]))
        passed_at, failed_at = drills["last_passed"], drills["last_failed"]
        if passed_at or failed_at:
            failed = failed_at is not None and (passed_at is None or failed_at > passed_at)
            outcome = GaugeMetricFamily(f"{PREFIX}_restore_drill_last_outcome", "1 for the outcome of the last "
                                        "restore drill (passed or failed).", labels=["outcome"])
            outcome.add_metric(["passed"], 0 if failed else 1)
            outcome.add_metric(["failed"], 1 if failed else 0)
            yield outcome

        offsite_counts = backups.offsite_counts()
        states = GaugeMetricFamily(f"{PREFIX}_backups_offsite", "Completed backups by the state of their off-site "
                                   "copy: copied, waiting (its job still tries), failed (its job ended without a "
                                   "copy), not_asked (no copy job).", labels=["state"])
        for state in ("copied", "waiting", "failed", "not_asked"):
            states.add_metric([state], offsite_counts[state])
        yield states
        if offsite_counts["last_copied_at"] is not None:
            yield GaugeMetricFamily(f"{PREFIX}_backup_offsite_last_copy_timestamp_seconds", "When the newest off-site "
                                    "copy was made and checked (Unix time).",
                                    value=_timestamp(offsite_counts["last_copied_at"]))
        remote = backups.offsite_summary()
        if remote["enabled"]:
            yield GaugeMetricFamily(f"{PREFIX}_backup_remote_ready", "1 when BACKUP_REMOTE is set and rclone is "
                                    "installed; 0 when rclone is missing (absent when no remote is set).",
                                    value=0 if remote["problem"] else 1)

    def _channels(self, now: datetime):
        counts = GaugeMetricFamily(f"{PREFIX}_channels", "Channels by state and the outcome of their last check "
                                   "(empty before the first).", labels=["enabled", "last_outcome"])
        for row in channels.channel_counts():
            counts.add_metric([str(row["enabled"]).lower(), row["last_outcome"]], row["count"])
        yield counts
        groups = channels.group_counts(now=now)
        yield GaugeMetricFamily(f"{PREFIX}_channel_groups", "Channel groups.", value=groups["total"])
        yield GaugeMetricFamily(f"{PREFIX}_channel_groups_feed_outage", "Channel groups whose last finished sync was "
                                "a YouTube feed outage.", value=groups["last_sync_outage"])
        yield GaugeMetricFamily(f"{PREFIX}_channel_groups_cooling_down", "Channel groups whose syncs wait after "
                                "YouTube refused (HTTP 403/429).", value=groups["cooling_down"])


def scrape(*, now: datetime | None = None) -> bytes:
    """The metrics in Prometheus' text format 0.0.4 (every name is a legacy one, so every Prometheus reads it)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ArchiveCollector(now=now))
    return exposition.generate_latest(registry)


def _refusal(request) -> HttpResponse | None:
    """None if the request may read the metrics; else the 401 or 403 to answer."""
    token = settings.METRICS_TOKEN
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    bearer = scheme.lower() == "bearer"
    if bearer and token and hmac.compare_digest(given.strip().encode(), token.encode()):
        return None
    if request.user.is_authenticated:
        return None if request.user.is_staff else _plain(403, "Only staff may read the metrics.\n")
    if bearer:
        return _plain(401, "Invalid token.\n" if token else "No METRICS_TOKEN is set: log in as staff.\n")
    return _plain(401, "Authentication required: Authorization: Bearer <METRICS_TOKEN>, or a staff session.\n")


def _plain(status: int, text: str) -> HttpResponse:
    response = HttpResponse(text, status=status, content_type="text/plain; charset=utf-8")
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return response


@login_not_required
@require_safe
@never_cache
def metrics(request):
    """For Prometheus: no login redirect; a token or a staff session."""
    if (refusal := _refusal(request)) is not None:
        return refusal
    return HttpResponse(scrape(), content_type=exposition.CONTENT_TYPE_PLAIN_0_0_4)
