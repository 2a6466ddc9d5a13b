"""What the chaos run adds to every process it starts (installed by chaos/settings.py).

- A task type and job handler, CHAOS_WORK: each attempt appends a `start` line before its work and
  a `done` line after it to an append-only file (CHAOS_WORK_LOG), outside any transaction, so work
  that ran twice shows there even when the database says otherwise.
- A quick sync's time limit of a few seconds instead of 120: a sync whose worker was killed is
  reaped (time limit plus JOBS_REAP_MARGIN_SECONDS) within the run's bounded wait.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time

from django import forms
from django.apps import AppConfig

WORK = "CHAOS_WORK"
QUICK_SYNC_TIME_LIMIT_SECONDS = 6


def mark(job, phase: str) -> None:
    """One line per event, in a single write to a file opened for appending: lines from processes
    writing at the same time do not interleave, and a process killed mid-way leaves whole lines."""
    line = json.dumps({"job": job.pk, "attempt": job.attempts, "pid": os.getpid(), "phase": phase,
                       "at": time.time()}) + "\n"
    fd = os.open(os.environ["CHAOS_WORK_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def run_work(job):
    mark(job, "start")
    time.sleep(float(job.params.get("seconds", 0)))
    mark(job, "done")
    return {"attempt": job.attempts}


class ChaosWorkParams(forms.Form):
    seconds = forms.FloatField(min_value=0, max_value=5, initial=0.5, label="Seconds of work")


class ChaosConfig(AppConfig):
    name = "chaos"
    label = "chaos"
    verbose_name = "Chaos run harness"

    def ready(self) -> None:
        from jobs import registry as jobs_registry
        from jobs.services import JobRequest
        from scheduling import registry

        class Params(registry.ParamsForm, ChaosWorkParams):
            pass

        def job_requests(run, *, now):
            return [JobRequest(WORK, dict(run.schedule.params), origin_label=run.origin_label)]

        jobs_registry.register(jobs_registry.JobHandler(WORK, "Chaos: work logged outside the database", run_work,
                                                        time_limit_seconds=5, max_retries=3))
        registry.register(registry.TaskType(WORK, "Chaos work", Params, job_requests))
        # Registered by channels' ready() with 120 s; the registry has no public way to change it.
        quick_sync = jobs_registry.get("QUICK_SYNC")
        jobs_registry._handlers["QUICK_SYNC"] = dataclasses.replace(
            quick_sync, time_limit_seconds=QUICK_SYNC_TIME_LIMIT_SECONDS)
