"""The jobs' words for the pages: how a job the user retried ended (the live pages' toast)."""

from __future__ import annotations

from jobs.models import Job, JobStatus


def first_line(text: str) -> str:
    """A traceback's last line is its cause ("ValueError: ..."); any other text's first line."""
    lines = [line.strip() for line in (text or "").strip().splitlines() if line.strip()]
    if not lines:
        return ""
    return lines[-1] if lines[0].startswith("Traceback") else lines[0]


def job_finished(job: Job) -> str:
    """"Job #5 (Quick sync) completed.", or failed with its cause, or cancelled."""
    what = f"Job #{job.pk} ({job.label})"
    if job.status == JobStatus.COMPLETED:
        return f"{what} completed."
    if job.status == JobStatus.CANCELLED:
        return f"{what} was cancelled."
    cause = first_line(job.error)
    return f"{what} failed" + (f": {cause}" if cause else ".")
