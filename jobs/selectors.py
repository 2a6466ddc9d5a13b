"""Reading jobs for the pages."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Min, Q, QuerySet

from jobs import queue, registry
from jobs.models import Job, JobStatus

# ASCII digits only: str.isdigit() also accepts "²" (which int() refuses) and other scripts' digits.
# At most 18 of them, so the id always fits the database's 64-bit integer.
JOB_ID = re.compile(r"#?([0-9]{1,18})")


# A live page (common/live.py) watches a job that runs, and one that waits (queued, or for its retry)
# for this long: one waiting longer waits for a worker that is not coming, and the page stops asking.
LIVE_WAIT = timedelta(minutes=30)


def live_jobs(*, now: datetime) -> Q:
    """The jobs a live page keeps watching: running, or waiting since at most LIVE_WAIT ago."""
    return Q(status=JobStatus.RUNNING) | Q(status__in=(JobStatus.QUEUED, JobStatus.RETRY_WAIT),
                                           available_at__gte=now - LIVE_WAIT)


def is_live(job: Job, *, now: datetime) -> bool:
    """`live_jobs` for a job in hand."""
    if job.status == JobStatus.RUNNING:
        return True
    return job.status in (JobStatus.QUEUED, JobStatus.RETRY_WAIT) and job.available_at >= now - LIVE_WAIT


@dataclass(frozen=True)
class JobPage:
    jobs: list[Job]
    # Cursors for the neighbouring pages, None at either end: `?after=<newer>`, `?before=<older>`.
    newer: int | None
    older: int | None


def job_search(q: str) -> Q:
    """The jobs a search text finds: `#12` is job 12; any other text (a bare number too: "404" is
    as likely an HTTP status in an error as an id) is looked for in the id, the params, the error,
    what caused the job, and what the handlers say it is about (a quick sync's channel and group
    by name)."""
    text = q.strip()
    if not text:
        return Q()
    match = JOB_ID.fullmatch(text)
    if match and text.startswith("#"):
        return Q(pk=int(match.group(1)))
    found = Q(params__icontains=text) | Q(error__icontains=text) | Q(origin_label__icontains=text)
    if match:
        found |= Q(pk=int(match.group(1)))
    for handler in registry.handlers():
        if handler.search is not None and (named := handler.search(text)) is not None:
            found |= Q(job_type=handler.job_type) & named
    return found


def jobs_describe(jobs: Sequence[Job]) -> Sequence[Job]:
    """Give each job its `subjects` (what it works on, named and linked by its handler: a quick
    sync's channel and group): one call per job type shown, so a page costs the same few queries
    whatever its length."""
    by_type: dict[str, list[Job]] = defaultdict(list)
    for job in jobs:
        job.subjects = []
        by_type[job.job_type].append(job)
    for job_type, same in by_type.items():
        handler = registry.get(job_type)
        if handler is not None and handler.describe is not None:
            described = handler.describe(same)
            for job in same:
                job.subjects = described.get(job.pk, [])
    return jobs


def job_list_page(*, job_type: str = "", status: str = "", q: str = "", before: int | None = None,
                  after: int | None = None, page_size: int = 50) -> JobPage:
    """One page of jobs, newest first, by keyset on the id.

    No COUNT(*): with a million rows, counting costs more than the page. Each page reads
    page_size + 1 rows along an index (the extra row says whether there is more), and one
    LIMIT 1 probe looks for a page in the other direction.
    """
    jobs = Job.objects.all()
    if job_type:
        jobs = jobs.filter(job_type=job_type)
    if status:
        jobs = jobs.filter(status=status)
    jobs = jobs.filter(job_search(q))

    if after is not None:
        rows = list(jobs.filter(pk__gt=after).order_by("pk")[: page_size + 1])
        if rows:
            more_newer = len(rows) > page_size
            rows = rows[:page_size][::-1]
            return JobPage(
                jobs=rows,
                newer=rows[0].pk if more_newer else None,
                older=rows[-1].pk if jobs.filter(pk__lt=rows[-1].pk).exists() else None,
            )
        before = None  # nothing newer any more: show the newest page

    window = jobs.filter(pk__lt=before) if before is not None else jobs
    rows = list(window.order_by("-pk")[: page_size + 1])
    more_older = len(rows) > page_size
    rows = rows[:page_size]
    if rows:
        newer = rows[0].pk if before is not None and jobs.filter(pk__gt=rows[0].pk).exists() else None
    else:
        # Past the oldest: offer the way back if anything matches at all.
        newer = before - 1 if before is not None and jobs.filter(pk__gte=before).exists() else None
    return JobPage(jobs=rows, newer=newer, older=rows[-1].pk if more_older else None)


def job_api_list(*, job_type: str | None = None, status: str | None = None, origin: str | None = None,
                 origin_url: str | None = None, q: str | None = None) -> QuerySet[Job]:
    """Jobs as the API lists them (by id, a page at a time), filtered.

    `origin` is text in what caused the job (its origin label: "Daily backup", "Sync now by alice"),
    `origin_url` the exact link to it (a schedule run's "/schedules/runs/12": the jobs of that run),
    `q` the /jobs page's search (an id, or text in the parameters or the error).
    """
    jobs = Job.objects.all()
    if job_type is not None:
        jobs = jobs.filter(job_type=job_type)
    if status is not None:
        jobs = jobs.filter(status=status)
    if origin is not None:
        jobs = jobs.filter(origin_label__icontains=origin)
    if origin_url is not None:
        jobs = jobs.filter(origin_url=origin_url)
    if q is not None:
        jobs = jobs.filter(job_search(q))
    return jobs


def queue_stats(*, now: datetime) -> dict:
    """Jobs waiting for a worker, jobs running, and how long the oldest has waited (two index seeks)."""
    queued = Job.objects.filter(status=JobStatus.QUEUED)
    oldest = queued.aggregate(oldest=Min("available_at"))["oldest"]
    return {
        "depth": queued.count(),
        "running": Job.objects.filter(status=JobStatus.RUNNING).count(),
        "oldest_queued_age_seconds": round(max((now - oldest).total_seconds(), 0.0), 1) if oldest else None,
    }


NO_WORKER_NOTE = "No worker is running, so the jobs wait until one starts (manage.py qcluster)."


def workers_missing() -> bool:
    """No worker cluster runs (django-q2's own status, as /healthz reads it): queued jobs wait. False
    when one runs, or when the clusters' status cannot be read (nothing is claimed then)."""
    return queue.workers_alive() is False


def no_worker_note() -> str:
    """What to add after "jobs queued" when no worker cluster runs: they wait. Empty otherwise
    (a worker runs, or the clusters' status cannot be read)."""
    return NO_WORKER_NOTE if workers_missing() else ""


# --- /metrics: aggregates in a fixed number of queries, whatever the number of rows ------------------


def job_counts() -> list[dict]:
    """Jobs by type and status, [{job_type, status, count}]: read from the (job_type, status) index alone."""
    return list(Job.objects.order_by().values("job_type", "status").annotate(count=Count("pk")))


def recent_job_durations(*, limit: int = 1000) -> list[tuple[str, str, float]]:
    """(job type, status, seconds) of the newest `limit` jobs that finished an attempt for good (completed
    or failed): how long their last attempt ran."""
    rows = (Job.objects.filter(status__in=(JobStatus.COMPLETED, JobStatus.FAILED), started_at__isnull=False,
                               finished_at__isnull=False)
            .order_by("-pk").values_list("job_type", "status", "started_at", "finished_at")[:limit])
    return [(job_type, status, max((finished - started).total_seconds(), 0.0))
            for job_type, status, started, finished in rows]
