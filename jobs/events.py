"""The jobs' log lines with their fields (common/logs.py formats them): an attempt's end, a cancel.

`event` names the kind of line: `job_start` (jobs.runner), `job_retry` (an attempt failed and the job
waits to retry), `job_outcome` (completed, failed for good, cancelled). Each carries `job_id`,
`job_type`, `status` and `attempt`; an attempt's end its `duration_seconds`; a failure its `error`
(the line naming the exception) and, while retries remain, `retry_at`.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction

from jobs.models import Job, JobStatus

logger = logging.getLogger("jobs.services")


def log_outcome(job: Job, status: str, *, now: datetime, **fields) -> None:
    """One line once the change is committed (a rolled-back change is no outcome); empty fields left out."""
    line = {"event": "job_retry" if status == JobStatus.RETRY_WAIT else "job_outcome", "job_id": job.pk,
            "job_type": job.job_type, "status": status, "attempt": job.attempts}
    if job.started_at and status != JobStatus.CANCELLED:
        line["duration_seconds"] = round((now - job.started_at).total_seconds(), 3)
    line.update({key: value for key, value in fields.items() if value})
    level = logging.WARNING if status == JobStatus.FAILED else logging.INFO
    transaction.on_commit(lambda: logger.log(level, "Job %s %s", job.pk, JobStatus(status).label.lower(), extra=line))
