"""The scheduler's words. Services and the pass deal in facts (counts, instants, outcomes); these put
them in words once, for every entrance (pages, admin, API, command line) and for the runs' record."""

from __future__ import annotations

from datetime import datetime, timedelta

from jobs.models import JobStatus
from jobs.selectors import no_worker_note
from scheduling.models import RunOutcome, ScheduleRun

RUN_SKIPPED = "Skipped: the previous run is still active."


def jobs_created(count: int) -> str:
    return f"{count} job{'s' if count != 1 else ''} created."


def windows_coalesced(count: int, *, since: datetime, at_least: bool = False) -> str:
    """Windows that passed while no scheduler ran, folded into the one that runs."""
    counted = f"At least {count}" if at_least else f"{count}"
    return (f"{counted} earlier window{'s' if count != 1 else ''} since {since.isoformat()} passed while no "
            f"scheduler ran; {'it is' if count == 1 else 'they are'} folded into this one.")


def window_missed(*, late: timedelta, grace_minutes: int) -> str:
    return f"Missed: {_minutes(late)} late, past the grace period of {grace_minutes} min."


def timing_invalid(error: Exception) -> str:
    return f"The schedule's timing is invalid ({error}); it is paused until edited."


def run_active(*, schedule_name: str, job_counts: dict[str, int]) -> str:
    """Why Run now refused: the earlier run's jobs, by status."""
    parts = [f"{count} job{'s' if count != 1 else ''} {JobStatus(status).label.lower()}"
             for status, count in sorted(job_counts.items())]
    waiting = " (waiting for a worker)" if set(job_counts) == {JobStatus.QUEUED} else ""
    return f"“{schedule_name}” is still busy with an earlier run: {', '.join(parts)}{waiting}."


def run_now_message(run: ScheduleRun) -> str:
    """What Run now did, in words, for every entrance: the jobs, and whether a worker will pick them up."""
    if run.outcome == RunOutcome.DISPATCH_FAILED:
        return f"“{run.schedule_name}” could not run: {run.message}"
    text = f"“{run.schedule_name}” started: {run.message}"
    if run.outcome == RunOutcome.DISPATCHED and (note := no_worker_note()):
        text += f" {note}"
    return text


def _minutes(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"
