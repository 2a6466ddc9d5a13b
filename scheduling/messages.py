"""The scheduler's words. Services and the pass deal in facts (counts, instants, outcomes); these put
them in words once, for every entrance (pages, admin, API, command line) and for the runs' record."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils.translation import ngettext

from common.formatting import format_instant
from jobs.models import JobStatus
from jobs.selectors import no_worker_note
from scheduling import recurrence
from scheduling.models import RunOutcome, ScheduledTask, ScheduleRun

RUN_SKIPPED = "Skipped: the previous run is still active."


def jobs_created(count: int) -> str:
    return ngettext("%d job created.", "%d jobs created.", count) % count


def windows_coalesced(count: int, *, since: datetime, at_least: bool = False) -> str:
    """Windows that passed while no scheduler ran, folded into the one that runs."""
    windows = ngettext("%(n)s earlier window since %(since)s passed while no scheduler ran; it is folded into "
                       "this one.",
                       "%(n)s earlier windows since %(since)s passed while no scheduler ran; they are folded "
                       "into this one.", count)
    return windows % {"n": f"At least {count}" if at_least else count, "since": format_instant(since)}


def paused_until(schedule: ScheduledTask) -> str:
    """“Paused until Mon 4 May, 08:00 CEST — server maintenance”, on the schedule's wall clock; "" if not paused."""
    return f"Paused {_pause_words(schedule)}" if schedule.paused_until is not None else ""


def window_paused(schedule: ScheduledTask) -> str:
    """A paused run's message: why its windows did not run."""
    return _sentence(f"Not run: paused {_pause_words(schedule)}")


def pause_done(schedule: ScheduledTask) -> str:
    """What pausing did, for every entrance."""
    return _sentence(f"“{schedule.name}” paused {_pause_words(schedule)}") + " It resumes by itself then."


def _sentence(text: str) -> str:
    return text if text.endswith((".", "!", "?")) else text + "."


def _pause_words(schedule: ScheduledTask) -> str:
    try:
        when = recurrence.local_label(schedule.paused_until, schedule.timezone)
    except recurrence.RecurrenceError:  # a zone gone from tzdata: still say when, in UTC
        when = recurrence.local_label(schedule.paused_until, "UTC")
    return f"until {when}" + (f" — {schedule.pause_reason}" if schedule.pause_reason else "")


def window_missed(*, late: timedelta, grace_minutes: int) -> str:
    return f"Missed: {_minutes(late)} late, past the grace period of {grace_minutes} min."


def timing_invalid(error: Exception) -> str:
    return f"The schedule's timing is invalid ({error}); it is paused until edited."


def run_active(*, schedule_name: str, job_counts: dict[str, int]) -> str:
    """Why Run now refused: the earlier run's jobs, by status."""
    parts = [ngettext("%(n)d job %(status)s", "%(n)d jobs %(status)s", count)
             % {"n": count, "status": JobStatus(status).label.lower()}
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


def run_finished(run: ScheduleRun, *, jobs_total: int, jobs_failed: int) -> str:
    """How a run someone started ended, for the live pages' toast: "“Nightly” done: its job succeeded."."""
    if run.outcome == RunOutcome.SUCCEEDED:
        jobs = "its job" if jobs_total == 1 else f"all {jobs_total} jobs"
        return f"“{run.schedule_name}” done: {jobs} succeeded."
    if run.outcome == RunOutcome.PARTLY_FAILED:
        return f"“{run.schedule_name}” partly failed: {jobs_failed} of {jobs_total} jobs failed."
    jobs = "its job" if jobs_total == 1 else f"{jobs_failed} of {jobs_total} jobs"
    return f"“{run.schedule_name}” failed: {jobs} failed."
