"""Functions django-q2 runs inside the cluster."""

from django.utils import timezone

from scheduling import loop
from scheduling.models import HeartbeatSource


def safety_net_pass() -> str:
    """The scheduler's step, run every minute by the cluster: a deployment that runs only
    `qcluster` still fires every schedule, just up to a minute or so later. Running alongside
    `schedule_tick --loop` is harmless: the ledger lets each window through once, and every
    maintenance step is a compare-and-set."""
    report = loop.scheduler_step(now=timezone.now(), source=HeartbeatSource.SAFETY_NET, name=loop.SAFETY_NET_NAME)
    return f"{report.windows} window(s)"
