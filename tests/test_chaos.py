"""`make chaos` in short, inside `make test`: both setups at once, a few kills, one minute window.

The driver (chaos/driver.py) starts its own PostgreSQL, Redis, schedulers, clusters and gunicorn, kills
them at random, and checks the ledger, the jobs and the work log; see chaos/db.py for the checks.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]


def test_a_short_chaos_run_on_both_setups_doubles_loses_and_strands_nothing(tmp_path):
    reports_file = tmp_path / "chaos.json"
    done = subprocess.run(
        [sys.executable, "-m", "chaos", "--parallel", "--rounds", "4", "--min-windows", "1", "--schedules", "60",
         "--sleep", "1", "3", "--settle-timeout", "45", "--json", str(reports_file)],
        cwd=ROOT, capture_output=True, text=True, timeout=200,
    )

    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-3000:]
    reports = {report["setup"]: report for report in json.loads(reports_file.read_text())}
    assert set(reports) == {"pg-redis", "sqlite-orm"}
    for report in reports.values():
        assert report["violations"] == {}, report
        assert report["duplicates"] == report["lost"] == 0
        # The chaos was real: processes were killed and started again while a window fired and the API
        # took runs, and every job came to an end.
        assert sum(report["kills"].values()) >= 4, report
        assert report["restarts"] >= 4, report
        assert report["runs_by_trigger"].get("scheduled", 0) >= report["schedules"], report
        assert report["api_runs_accepted"] > 0, report
        assert set(report["jobs_by_status"]) <= {"completed", "failed", "cancelled"}, report
    assert reports["pg-redis"]["redis_restarts"] == 1
