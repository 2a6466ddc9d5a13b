"""Driven by the race and crash tests in their own processes, against a database they name.

    python tests/scheduling/race_tool.py setup COUNT CREATED_AT
    python tests/scheduling/race_tool.py race START_EPOCH INSTANT [INSTANT ...]
    python tests/scheduling/race_tool.py state

Each prints one JSON line. Environment: DJANGO_SETTINGS_MODULE, DATABASE_URL.
"""

import datetime as dt
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import django  # noqa: E402

django.setup()

from django.db.models import Count  # noqa: E402

from jobs.models import Job  # noqa: E402
from scheduling import tick  # noqa: E402
from scheduling.models import ScheduledTask, ScheduleRun  # noqa: E402


def setup(count: int, created_at: str) -> dict:
    """Five-minute schedules that may overlap, so every window dispatches a job."""
    now = dt.datetime.fromisoformat(created_at)
    ScheduledTask.objects.all().delete()  # the migrations' default backup schedule is not in the race
    template = ScheduledTask(name="race", task_type="DATABASE_BACKUP", schedule_kind="interval",
                             interval_minutes=5, overlap_policy="allow", params={}, created_at=now, anchor_at=now)
    template.full_clean()
    next_run_at = template.next_after(now)
    ScheduledTask.objects.bulk_create(
        [
            ScheduledTask(name=f"race {n}", key=f"race-{n}", task_type=template.task_type, schedule_kind="interval",
                          interval_minutes=5, overlap_policy="allow", params=template.params,
                          created_at=now, anchor_at=now, next_run_at=next_run_at)
            for n in range(count)
        ],
        batch_size=500,
    )
    return {"schedules": count}


def race(start_epoch: float, instants: list[str]) -> dict:
    # Everyone starts at the same moment, so the passes really overlap.
    time.sleep(max(start_epoch - time.time(), 0))
    started = time.time()
    outcomes, lost = {}, 0
    for text in instants:
        report = tick.run_pass(now=dt.datetime.fromisoformat(text))
        lost += report.lost_races
        for outcome, n in report.outcomes.items():
            outcomes[outcome] = outcomes.get(outcome, 0) + n
    return {"outcomes": outcomes, "lost_races": lost, "started": started, "finished": time.time()}


def queue_messages() -> int:
    """The messages waiting in the broker: OrmQ rows, or the Redis list when REDIS_URL is set."""
    from django.conf import settings
    from django_q.brokers import get_broker
    from django_q.models import OrmQ

    return get_broker().queue_size() if settings.REDIS_URL else OrmQ.objects.count()


def state() -> dict:
    runs_per_window = ScheduleRun.objects.values("schedule", "due_at").annotate(n=Count("id"))
    return {
        "schedules": ScheduledTask.objects.count(),
        "runs": ScheduleRun.objects.count(),
        "duplicate_windows": sum(1 for row in runs_per_window if row["n"] > 1),
        "runs_per_schedule": sorted(set(
            ScheduledTask.objects.annotate(n=Count("runs")).values_list("n", flat=True)
        )),
        "jobs": Job.objects.count(),
        # Marked sent: with the ORM broker on insert, with Redis once its message went out after the commit.
        "jobs_marked_sent": Job.objects.filter(enqueued_at__isnull=False).count(),
        "jobs_per_run": sorted(set(ScheduleRun.objects.annotate(n=Count("jobs")).values_list("n", flat=True))),
        "queue_messages": queue_messages(),
        # A schedule whose newest window has a run must have moved past it, and vice versa.
        "inconsistent": sum(
            1
            for s in ScheduledTask.objects.all()
            if (s.runs.order_by("-due_at").values_list("due_at", flat=True).first() or s.anchor_at) >= s.next_run_at
        ),
        "next_run_at": sorted({s.isoformat() for s in ScheduledTask.objects.values_list("next_run_at", flat=True)}),
    }


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "setup":
        result = setup(int(args[0]), args[1])
    elif command == "race":
        result = race(float(args[0]), args[1:])
    else:
        result = state()
    print(json.dumps(result))
