"""Job handlers for the tests, registered in every process through settings.JOB_HANDLER_MODULES.

Each attempt can append a line to a `marker` file named in the params, so a test (in another
process) can count executions and see when each attempt started.
"""

import json
import os
import time

from jobs import registry


def _mark(job) -> None:
    if marker := job.params.get("marker"):
        with open(marker, "a") as fh:
            fh.write(json.dumps({"job": job.pk, "attempt": job.attempts, "pid": os.getpid(), "at": time.time()}) + "\n")


def run_ok(job):
    _mark(job)
    return {"echo": job.params.get("echo"), "attempt": job.attempts}


def run_fail(job):
    """Fails, except on the attempt named by `succeed_on_attempt`."""
    _mark(job)
    if job.attempts == job.params.get("succeed_on_attempt"):
        return {"succeeded_on": job.attempts}
    raise RuntimeError(job.params.get("message", "the test handler failed on purpose"))


def run_sleep(job):
    """Sleeps `seconds` on the attempts in `sleep_on_attempts` (all if absent), then succeeds."""
    _mark(job)
    attempts = job.params.get("sleep_on_attempts")
    if attempts is None or job.attempts in attempts:
        time.sleep(job.params.get("seconds", 30))
    return {"slept_on": job.attempts}


registry.register(registry.JobHandler("TEST_OK", "Test: succeeds", run_ok, time_limit_seconds=30, max_retries=3))
registry.register(registry.JobHandler("TEST_FAIL", "Test: fails", run_fail, time_limit_seconds=30, max_retries=2))
registry.register(registry.JobHandler("TEST_SLEEP", "Test: sleeps", run_sleep, time_limit_seconds=3, max_retries=1))
