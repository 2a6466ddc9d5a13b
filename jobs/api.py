"""The JSON API for jobs, `/api/jobs...` (the NinjaAPI itself lives in core.api).

What the /jobs pages show and do, for scripts: the list (filtered by type, status and origin), one
job with its attempts, result and error, and Retry and Cancel through jobs.services, with the
pages' rules and messages (a job whose state forbids the action is a 409 saying why).

Access follows Django's model permissions on jobs: jobs.view_job to read, jobs.change_job to retry
or cancel (what the pages and the admin's actions ask for).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from django.utils import timezone
from ninja import Field, Path, Query, Router, Schema
from pydantic import ConfigDict

from common.access import for_viewer
from common.api import MAX_ID, ApiError, PageLinks, PageQuery, Text, error_responses, paginate, require_permission
from jobs import selectors, services
from jobs.models import Job, JobStatus

router = Router(tags=["jobs"])

VIEW = "jobs.view_job"
# Retry and cancel: the permission the /jobs pages and the admin's actions check (jobs.views).
OPERATE = "jobs.change_job"

UTC = dt.timezone.utc

JobId = Annotated[int, Path(ge=1, le=MAX_ID)]
StatusName = Literal[tuple(JobStatus.values)]  # documented as an enum, and a clear 400 for any other


# --- schemas ------------------------------------------------------------------------------------

class JobOut(Schema):
    id: int
    job_type: str = Field(examples=["DATABASE_BACKUP"])
    job_type_label: str = Field(description="The type in words, e.g. “Database backup”.")
    status: str = Field(json_schema_extra={"enum": list(JobStatus.values)})
    priority: int = Field(description="0 low, 5 normal, 10 high.")
    params: dict[str, Any]
    attempts: int = Field(description="Attempts started so far (the first one included).")
    retries: int = Field(description="Retries used so far: every attempt after the first.")
    max_retries: int = Field(description="Automatic retries allowed after a failed attempt.")
    failed_permanently: bool = Field(description="Failed without retries: no retry can fix its error.")
    created_at: dt.datetime
    available_at: dt.datetime = Field(description="When a queued or waiting job may next go to a worker "
                                      "(a retry's backoff).")
    started_at: dt.datetime | None = Field(description="When its latest attempt started.")
    finished_at: dt.datetime | None
    duration_seconds: float | None = Field(description="Its latest attempt's, once finished.")
    worker: str = Field(description="host:pid of the latest attempt's worker; empty before one took it.")
    origin_label: str = Field(description="What caused it, in words: “Schedule “Daily backup”, run #12 (Run now by "
                              "alice)”, “Sync now by alice”. Filter with `origin`.")
    origin_url: str = Field(description="A link to what caused it (a schedule run's page), or empty. Filter with "
                            "`origin_url`.")
    error_summary: str = Field(description="The line of the latest error that names it (the full text is in the "
                               "job's detail), or empty.")
    can_retry: bool = Field(description="Failed or cancelled: POST …/retry queues it again.")
    can_cancel: bool = Field(description="Queued or waiting to retry: POST …/cancel stops it before it starts.")


class AttemptOut(Schema):
    attempt: int | None
    outcome: str = Field(description="completed, failed, timed out, handed back, interrupted…")
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    worker: str
    error: str = Field(description="The line that names the attempt's error, or empty.")


class JobDetailOut(JobOut):
    result: Any = Field(description="What the job returned (JSON), or null.")
    error: str = Field(description="The latest failure's traceback, or why the job was stopped; empty if none.")
    attempt_log: list[AttemptOut] = Field(description="One entry per finished attempt, oldest first.")
    time_limit_seconds: int


class JobPage(PageLinks):
    items: list[JobOut]


class JobFilters(PageQuery):
    job_type: Text | None = Field(None, description="Only jobs of this type, e.g. QUICK_SYNC.")
    status: StatusName | None = Field(None, description="Only jobs in this state.")
    origin: Text | None = Field(None, description="Only jobs whose origin label contains this text (any case), "
                                "e.g. a schedule's name or “Sync now by alice”.")
    origin_url: Text | None = Field(None, description="Only jobs caused by this link exactly, e.g. "
                                    "/schedules/runs/12: the jobs of that run.")
    q: Text | None = Field(None, max_length=200, description="As the /jobs page's search: a job id (“42”, "
                           "“#42”), or text in the parameters or the error.")


class JobActionIn(Schema):
    """Retry and cancel take no fields: send no body (`curl -X POST`), or `{}`."""

    model_config = ConfigDict(extra="forbid")


class JobActionOut(Schema):
    message: str = Field(description="What happened, in words.")
    job: JobDetailOut


# --- output ---------------------------------------------------------------------------------------

def _utc(value: dt.datetime | None) -> dt.datetime | None:
    return value.astimezone(UTC) if value is not None else None


def _instant(text: Any) -> dt.datetime | None:
    """An attempt log's ISO-8601 text as an instant; None for what is not one (an old or edited entry)."""
    if not isinstance(text, str):
        return None
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return _utc(value) if value.tzinfo else value.replace(tzinfo=UTC)


def _attempt(entry: Any) -> dict:
    entry = entry if isinstance(entry, dict) else {}
    number = entry.get("attempt")
    return {"attempt": number if isinstance(number, int) else None, "outcome": str(entry.get("outcome") or ""),
            "started_at": _instant(entry.get("started_at")), "finished_at": _instant(entry.get("finished_at")),
            "worker": str(entry.get("worker") or ""), "error": str(entry.get("error") or "")}


def job_out(job: Job) -> dict:
    duration = job.duration
    return {
        "id": job.pk,
        "job_type": job.job_type,
        "job_type_label": job.label,
        "status": job.status,
        "priority": job.priority,
        "params": job.params if isinstance(job.params, dict) else {},
        "attempts": job.attempts,
        "retries": job.retries,
        "max_retries": job.max_retries,
        "failed_permanently": job.failed_permanently,
        "created_at": _utc(job.created_at),
        "available_at": _utc(job.available_at),
        "started_at": _utc(job.started_at),
        "finished_at": _utc(job.finished_at),
        "duration_seconds": round(duration.total_seconds(), 3) if duration is not None else None,
        "worker": job.worker,
        "origin_label": job.origin_label,
        "origin_url": job.origin_url,
        "error_summary": services.summarise_error(job.error),
        "can_retry": job.can_retry,
        "can_cancel": job.can_cancel,
    }


def job_detail_out(job: Job) -> dict:
    log = job.attempt_log if isinstance(job.attempt_log, list) else []
    return {**job_out(job), "result": job.result, "error": job.error,
            "attempt_log": [_attempt(entry) for entry in log], "time_limit_seconds": job.time_limit_seconds}


def get_job(job_id: int) -> Job:
    try:
        return Job.objects.get(pk=job_id)
    except Job.DoesNotExist:
        raise ApiError(404, {"id": [f"No job with id {job_id}."]}) from None


# --- endpoints ------------------------------------------------------------------------------------

@router.get("", response={200: JobPage, **error_responses()})
def job_list(request, filters: Query[JobFilters]):
    """Jobs by id, oldest first, a page at a time (keyset: no count, no offset; follow `next`)."""
    require_permission(request, VIEW)
    jobs = selectors.job_api_list(job_type=filters.job_type, status=filters.status, origin=filters.origin,
                                  origin_url=filters.origin_url, q=filters.q)
    page = paginate(request, jobs, filters)
    return for_viewer({**page, "items": [job_out(job) for job in page["items"]]}, request.auth)


@router.get("/{job_id}", response={200: JobDetailOut, **error_responses(404)})
def job_detail(request, job_id: JobId):
    """One job, with its parameters, result, latest error and every finished attempt."""
    require_permission(request, VIEW)
    return for_viewer(job_detail_out(get_job(job_id)), request.auth)  # BACKUP_DIR's path: for staff only


@router.post("/{job_id}/retry", response={200: JobActionOut, **error_responses(404, 409, 415)})
def job_retry(request, job_id: JobId, payload: JobActionIn | None = None):
    """Queue a failed or cancelled job again, now, as one more attempt (as Retry on its page); 409 for a job
    in another state."""
    require_permission(request, OPERATE)
    job = get_job(job_id)
    try:
        job = services.job_retry(job=job, now=timezone.now())
    except services.JobStateError as exc:
        raise ApiError(409, {"__all__": [str(exc)]}) from exc
    return {"message": f"Job #{job.pk} queued again.", "job": job_detail_out(job)}


@router.post("/{job_id}/cancel", response={200: JobActionOut, **error_responses(404, 409, 415)})
def job_cancel(request, job_id: JobId, payload: JobActionIn | None = None):
    """Cancel a job that has not started: queued, or waiting to retry (as Cancel on its page); 409 for a job
    running or finished (a running job's worker is not interrupted)."""
    require_permission(request, OPERATE)
    job = get_job(job_id)
    try:
        job = services.job_cancel(job=job, now=timezone.now(), by=request.auth.get_username())
    except services.JobStateError as exc:
        raise ApiError(409, {"__all__": [str(exc)]}) from exc
    return {"message": f"Job #{job.pk} cancelled.", "job": job_detail_out(job)}
