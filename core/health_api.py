"""`GET /api/health`: the health report of `/healthz`, in the API, with more detail for staff.

No login needed, as for /healthz: a monitor or a load balancer asks without credentials and gets the
public report (503 when down). Credentials that are sent are checked all the same, so a script with a
mistyped or revoked token is told so (401) rather than silently shown less. A staff user (token or
session) gets the full report, as /healthz gives staff (the scheduler's host:pid), and `details`:
the worker clusters by name, the newest good backup's age, the software.

core.api mounts the router with the API's authenticators followed by `anonymous_unless_credentials`.
"""

from __future__ import annotations

from typing import Literal

from django.contrib.auth.models import AnonymousUser
from django.utils import timezone
from ninja import Field, Router, Schema, Status

from common.api import ErrorsOut
from core import health

router = Router(tags=["health"])


def anonymous_unless_credentials(request):
    """Let a request without credentials in, as nobody; one with an Authorization header the API's
    authenticators refused gets their 401 (it is tried after them)."""
    if "HTTP_AUTHORIZATION" in request.META:
        return None
    return AnonymousUser()


# The report's shape, as core.health writes it: keys only some reports have default to absent (the
# answer leaves out what the report does not say), so /api/health answers what /healthz does.

class DatabaseOut(Schema):
    ok: bool
    error: str = Field(None, description="The exception's class, when the database cannot be reached.")


class SchedulerOut(Schema):
    ok: bool = Field(description="`schedule_tick` (the loop, or a one-shot from cron) is passing.")
    mode: Literal["scheduler", "safety_net"] | None = Field(
        description="What turns time into runs: the scheduler, only the workers' once-a-minute safety net "
                    "(degraded), or nothing (null: down).")
    last_pass_at: str | None = Field(None, description="ISO-8601: the latest pass of any of them.")
    age_seconds: float | None = None
    lateness_seconds: float | None = Field(None, description="How late its latest dispatched window was.")
    name: str | None = Field(None, description="host:pid of the latest scheduler (staff only).")


class WorkersOut(Schema):
    ok: bool
    clusters: int = None
    workers: int = None
    error: str = None


class QueueOut(Schema):
    depth: int = Field(None, description="Jobs waiting for a worker.")
    running: int = None
    oldest_queued_age_seconds: float | None = None


class ProblemOut(Schema):
    what: str
    effect: str
    start: str = Field(description="The command that starts what is missing, or empty.")
    severity: Literal["degraded", "down"] = None


class ClusterOut(Schema):
    id: str
    host: str
    pid: int | None
    status: str
    workers: int


class BackupsHealthOut(Schema):
    newest_good_id: int | None
    newest_good_at: str | None
    age_seconds: float | None
    stale_after_seconds: float | None = Field(description="Two of the backup schedule's intervals; null without "
                                              "a schedule whose timing computes.")
    stale: bool
    offsite: dict


class DetailsOut(Schema):
    clusters: list[ClusterOut] | None = Field(description="The worker clusters running; null if their status "
                                              "cannot be read (or the database is down).")
    backups: BackupsHealthOut | None
    software: dict[str, str]


class HealthOut(Schema):
    status: Literal["ok", "degraded", "down"]
    checked_at: str = Field(description="ISO-8601.")
    database: DatabaseOut
    scheduler: SchedulerOut
    workers: WorkersOut
    queue: QueueOut
    problems: list[ProblemOut] = Field(description="What is wrong, what stops because of it, what to start.")
    details: DetailsOut = Field(None, description="Staff only.")


@router.get("", response={200: HealthOut, 503: HealthOut, 401: ErrorsOut, 429: ErrorsOut}, exclude_unset=True,
            openapi_extra={"security": [{}]})
def health_report(request):
    """Is the system working: `ok`, `degraded` (it works, but something needs a look; 200) or `down`
    (503: no worker runs jobs, nothing runs the schedules, or no database). The same report as
    /healthz, no login needed; staff also get `details`."""
    now = timezone.now()
    report = health.health_status(now=now)
    staff = getattr(request.auth, "is_staff", False)
    body = {**report, "details": health.staff_details(report, now=now)} if staff else health.public_report(report)
    return Status(health.http_status(report), body)
