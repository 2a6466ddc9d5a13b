"""Job handlers for the tests, registered in every process through settings.JOB_HANDLER_MODULES.

Each attempt can append a line to a `marker` file named in the params, so a test (in another
process) can count executions and see when each attempt started.

Faults a test injects into the processes it starts, through their environment (never set in the
test process itself):

- TEST_KILL_AFTER_FINAL_COMMIT=TYPE[,TYPE]: the process SIGKILLs itself right after committing
  the write that makes a job of these types final, before announcing it (an on_commit hook
  registered right after the final UPDATE, in place of the announcement's).
- TEST_FOLLOWERS_RAISE=1: the follow-ups of schedule runs and group syncs raise in this process,
  as a listener with a bug (or a database error) would.
"""

import json
import os
import signal
import time

from django.db import transaction

from jobs import registry, services


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


if kill_types := set(filter(None, os.environ.get("TEST_KILL_AFTER_FINAL_COMMIT", "").split(","))):
    announce = services._announce

    def _die_after_commit(job):
        if job.job_type not in kill_types:
            return announce(job)
        transaction.on_commit(lambda: os.kill(os.getpid(), signal.SIGKILL))

    services._announce = _die_after_commit

if os.environ.get("TEST_FOLLOWERS_RAISE"):
    from channels import sync
    from scheduling import services as scheduling_services

    def _raises(name: str):
        def follow(**kwargs):
            raise RuntimeError(f"{name} raised on purpose (TEST_FOLLOWERS_RAISE)")

        return follow

    scheduling_services.runs_follow_jobs = _raises("runs_follow_jobs")
    sync.group_syncs_follow_jobs = _raises("group_syncs_follow_jobs")
