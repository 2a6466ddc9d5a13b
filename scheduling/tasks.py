"""Functions django-q2 runs inside the cluster."""

from django.utils import timezone

from jobs.maintenance import run_maintenance
from scheduling import loop, tick


def safety_net_pass() -> str:
    """The scheduler's pass, run every minute by the cluster: a deployment that runs only
    `qcluster` still fires every schedule, just up to a minute or so later. Running alongside
    `schedule_tick --loop` is harmless: the ledger lets each window through once. The jobs'
    maintenance (due retries, lost jobs, lost messages) rides along, for the same reason."""
    now = timezone.now()
    report = tick.run_pass(now=now)
    run_maintenance(now=now)
    loop.write_heartbeat(now=now, report=report, name="qcluster safety net")
    return f"{report.windows} window(s)"
