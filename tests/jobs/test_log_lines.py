"""Log lines from real processes: a scheduler's window decision and a worker's job outcome, with their ids.

`LOG_FORMAT=json` gives one JSON object per line on the processes' stderr; the default gives readable
key=value lines (common/logs.py).
"""

import json
import subprocess
import sys
from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.models import JobStatus
from jobs.services import job_enqueue
from scheduling.models import ScheduleRun
from tests import servers
from tests.jobs.conftest import wait_for_job
from tests.servers import ROOT

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def due_schedule(make_schedule):
    """A five-minute schedule made an hour ago: its newest window is due and within its grace."""
    return make_schedule(now=timezone.now() - timedelta(hours=1), name="Often", schedule_kind="interval",
                         interval_minutes=5)


def one_pass(process_env, **env) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "manage.py", "schedule_tick"], cwd=ROOT, capture_output=True, text=True,
                          env={**process_env, **env}, timeout=60)
    assert done.returncode == 0, done.stderr
    return done


def test_it_logs_a_window_decision_as_a_json_line_with_its_ids(due_schedule, process_env):
    done = one_pass(process_env, LOG_FORMAT="json")

    lines = [json.loads(line) for line in done.stderr.splitlines()]  # every line is one JSON object
    [window] = [line for line in lines if line.get("event") == "window"]
    run = ScheduleRun.objects.get(schedule=due_schedule)
    assert (window["schedule_id"], window["run_id"], window["outcome"]) == (due_schedule.pk, run.pk, "dispatched")
    assert window["due_at"] == run.due_at.isoformat()
    assert window["coalesced"] == run.coalesced_windows > 0
    assert window["level"] == "INFO" and window["logger"] == "scheduling.tick"
    assert window["time"].endswith("Z")


def test_it_logs_readable_key_value_lines_by_default(due_schedule, process_env):
    env = {key: value for key, value in process_env.items() if key != "LOG_FORMAT"}

    done = one_pass(env)

    run = ScheduleRun.objects.get(schedule=due_schedule)
    [window] = [line for line in done.stderr.splitlines() if "event=window" in line]
    assert f" schedule_id={due_schedule.pk} run_id={run.pk} outcome=dispatched " in window
    assert " INFO scheduling.tick: Window " in window


def test_it_logs_a_job_s_start_and_outcome_as_json_lines_from_the_worker(process_env, start_process, marker):
    process_env["LOG_FORMAT"] = "json"  # the processes this test starts get it
    cluster = servers.start_cluster(lambda: start_process("qcluster", "qcluster"))
    ok = job_enqueue(job_type="TEST_OK", params={"marker": str(marker)}, now=timezone.now())
    failing = job_enqueue(job_type="TEST_FAIL", params={"message": "broken on purpose"}, now=timezone.now())
    wait_for_job(ok, lambda job: job.status == JobStatus.COMPLETED)
    wait_for_job(failing, lambda job: job.attempts >= 1 and job.status != JobStatus.RUNNING)
    servers.stop_cluster(cluster)

    lines = [json.loads(line) for line in cluster.log().splitlines()]  # every line is one JSON object
    events = {(line.get("event"), line.get("job_id")): line for line in lines}
    assert events[("job_start", ok.pk)]["attempt"] == 1
    outcome = events[("job_outcome", ok.pk)]
    assert (outcome["status"], outcome["job_type"], outcome["attempt"]) == ("completed", "TEST_OK", 1)
    assert outcome["duration_seconds"] >= 0
    retry = events[("job_retry", failing.pk)]
    assert (retry["status"], retry["attempt"], retry["error"]) == ("retry_wait", 1, "RuntimeError: broken on purpose")
    assert retry["retry_at"]
