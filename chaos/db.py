"""The chaos run's database side, run by the driver in a process of its own (Django set up there).

    python -m chaos.db setup SCHEDULES SYNC_SHARE CHANNELS_PER_GROUP SEED
    python -m chaos.db pending
    python -m chaos.db deliver-again COUNT SEED
    python -m chaos.db stop-schedules
    python -m chaos.db check FILE        (FILE: JSON with the driver's record: accepted runs, killed pids)

Each prints one JSON line. Environment: DJANGO_SETTINGS_MODULE=chaos.settings, DATABASE_URL, REDIS_URL,
CHAOS_WORK_LOG.
"""

from __future__ import annotations

import json
import os
import random
import sys
from collections import Counter, defaultdict
from pathlib import Path

import django

EVERY_MINUTE = "* * * * *"


def setup(schedules: int, sync_share: float, channels_per_group: int, seed: int) -> dict:
    """Schedules firing every minute: a share of them quick syncs of their own group, the rest CHAOS_WORK.

    Half of them run their windows even while the previous run is active, half skip them (both
    policies are in the ledger's checks). The migrations' default backup schedule is removed.
    """
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from channels.models import Channel, ChannelGroup
    from chaos import feeds
    from scheduling.models import OverlapPolicy, ScheduledTask

    rng = random.Random(seed)
    now = timezone.now()
    ScheduledTask.objects.all().delete()
    get_user_model().objects.create_superuser("chaos", "chaos@example.invalid", None)
    syncs = round(schedules * sync_share)
    groups = ChannelGroup.objects.bulk_create([ChannelGroup(name=f"Chaos {n}") for n in range(syncs)])
    channels = Channel.objects.bulk_create([
        Channel(youtube_id=feeds.channel_youtube_id(n), title=f"Chaos channel {n}")
        for n in range(syncs * channels_per_group)
    ])
    Membership = Channel.groups.through
    Membership.objects.bulk_create([
        Membership(channel_id=channel.pk, channelgroup_id=groups[n // channels_per_group].pk)
        for n, channel in enumerate(channels)
    ])
    rows = []
    for n in range(schedules):
        if n < syncs:
            task_type, params = "QUICK_SYNC_GROUP", {"group_id": groups[n].pk}
        else:
            task_type, params = "CHAOS_WORK", {"seconds": round(rng.uniform(0.05, 0.4), 2)}
        schedule = ScheduledTask(
            name=f"Chaos {n}", key=f"chaos-{n}", task_type=task_type, params=params, schedule_kind="cron",
            cron_expr=EVERY_MINUTE, created_at=now,
            overlap_policy=OverlapPolicy.ALLOW if n % 2 else OverlapPolicy.SKIP,
        )
        if n in (0, schedules - 1):
            schedule.full_clean()  # one of each task type: the rows below are these, but for their params
        schedule.next_run_at = schedule.next_after(now)
        rows.append(schedule)
    created = ScheduledTask.objects.bulk_create(rows, batch_size=500)
    return {"schedules": schedules, "groups": len(groups), "channels": len(channels),
            "schedule_ids": [schedule.pk for schedule in created]}


def pending() -> dict:
    """What has not settled yet: active jobs, runs waiting on their jobs, group syncs not finished."""
    from channels.models import GroupSync
    from jobs.models import ACTIVE_STATUSES, Job
    from scheduling.models import RunOutcome, ScheduleRun

    return {
        "active_jobs": Job.objects.filter(status__in=ACTIVE_STATUSES).count(),
        "dispatched_runs": ScheduleRun.objects.filter(outcome=RunOutcome.DISPATCHED).count(),
        "open_group_syncs": GroupSync.objects.filter(finished_at__isnull=True).count(),
    }


def stop_schedules() -> dict:
    """Disable every schedule: no new window after this, so the run can settle."""
    from scheduling.models import ScheduledTask

    return {"disabled": ScheduledTask.objects.filter(enabled=True).update(enabled=False)}


def deliver_again(count: int, seed: int) -> dict:
    """Send the message of `count` recent jobs again, whatever their status: a broker delivering twice
    (at-least-once), or an outbox misjudging. The runner's claim must make each a no-op."""
    from django.utils import timezone

    from jobs import queue
    from jobs.models import Job

    recent = list(Job.objects.order_by("-pk")[:200])
    jobs = random.Random(seed).sample(recent, min(count, len(recent)))
    queue.send_with_commit(jobs, now=timezone.now(), mark_enqueued=False)
    return {"delivered_again": len(jobs)}


def check(record: dict) -> dict:
    """The run's counts, and its violations: each a name and a few examples."""
    from channels.models import Channel, GroupSync, Video
    from chaos import feeds
    from jobs.models import ACTIVE_STATUSES, Job, JobStatus
    from scheduling.models import RunOutcome, RunTrigger, ScheduledTask, ScheduleRun

    violations: dict[str, list] = defaultdict(list)

    # The ledger: each scheduled window once, and no window between a schedule's first and last missing.
    windows = 0
    runs_by_schedule = defaultdict(list)
    for run in ScheduleRun.objects.filter(trigger=RunTrigger.SCHEDULED).order_by("due_at"):
        runs_by_schedule[run.schedule_id].append(run)
    schedules = {s.pk: s for s in ScheduledTask.objects.all()}
    for schedule_id, runs in runs_by_schedule.items():
        due = Counter(run.due_at for run in runs)
        violations["window with two runs (duplicate)"] += [[schedule_id, str(at)] for at, n in due.items() if n > 1]
        schedule, first, last = schedules[schedule_id], runs[0].due_at, runs[-1].due_at
        expected, at = 1, first
        while (at := schedule.next_after(at)) <= last:
            expected += 1
        windows += expected
        recorded = sum(1 + run.coalesced_windows for run in runs)
        if recorded < expected:
            violations["window without a run (lost)"].append([schedule_id, f"{expected - recorded} of {expected}"])
        elif recorded > expected:
            violations["more runs than windows (duplicate)"].append([schedule_id, f"{recorded} for {expected}"])

    # Every job final; every run and group sync settled.
    violations["job not final"] = list(Job.objects.filter(status__in=ACTIVE_STATUSES).values_list("pk", "status")[:20])
    violations["run not settled"] = list(
        ScheduleRun.objects.filter(outcome=RunOutcome.DISPATCHED).values_list("pk", flat=True)[:20])
    violations["group sync not settled"] = list(
        GroupSync.objects.filter(finished_at__isnull=True).values_list("pk", flat=True)[:20])

    # Nothing the API accepted was lost.
    accepted = set(record["accepted_runs"])
    found = set(ScheduleRun.objects.filter(pk__in=accepted, trigger=RunTrigger.MANUAL).values_list("pk", flat=True))
    violations["run_now accepted but no run (lost)"] = sorted(accepted - found)[:20]

    # Every completed quick sync stored what it fetched: its channel's 15 videos.
    synced_channels = {job.params["channel_id"] for job in Job.objects.filter(job_type="QUICK_SYNC",
                                                                              status=JobStatus.COMPLETED)}
    stored = defaultdict(set)
    for channel_id, youtube_id, video_id in Video.objects.filter(channel_id__in=synced_channels).values_list(
            "channel_id", "channel__youtube_id", "youtube_id"):
        stored[(channel_id, youtube_id)].add(video_id)
    for channel in Channel.objects.filter(pk__in=synced_channels):
        expected_ids = set(feeds.video_ids(feeds.channel_number(channel.youtube_id)))
        if stored[(channel.pk, channel.youtube_id)] != expected_ids:
            violations["completed sync without its videos"].append(channel.pk)

    # No work ran twice (the append-only log, written outside the database).
    killed = set(record["killed_pids"])
    starts, dones = Counter(), defaultdict(list)
    log = Path(os.environ["CHAOS_WORK_LOG"])
    for line in (log.read_text().splitlines() if log.exists() else []):
        event = json.loads(line)
        if event["phase"] == "start":
            starts[(event["job"], event["attempt"])] += 1
        else:
            dones[event["job"]].append(event)
    violations["attempt started twice (duplicate)"] = [list(key) for key, n in starts.items() if n > 1][:20]
    for job_id, events in dones.items():
        # Work done again is only fine after the process that did it first was killed before recording it.
        if any(event["pid"] not in killed for event in events[:-1]):
            violations["work done twice (duplicate)"].append(job_id)
    work = Job.objects.filter(job_type="CHAOS_WORK")
    for job in work.filter(status=JobStatus.COMPLETED).only("pk", "attempts"):
        if not any(event["attempt"] == job.attempts for event in dones.get(job.pk, [])):
            violations["completed without its work"].append(job.pk)

    violations = {name: examples for name, examples in violations.items() if examples}
    duplicates = sum(len(v) for name, v in violations.items() if "duplicate" in name)
    lost = sum(len(v) for name, v in violations.items() if "lost" in name)
    runs = ScheduleRun.objects.all()
    return {
        "schedules": len(schedules),
        "windows": windows,
        "runs_by_trigger": dict(Counter(runs.values_list("trigger", flat=True))),
        "runs_by_outcome": dict(Counter(runs.values_list("outcome", flat=True))),
        "coalesced_windows": sum(runs.values_list("coalesced_windows", flat=True)),
        "jobs_by_status": dict(Counter(Job.objects.values_list("status", flat=True))),
        "jobs_retried": Job.objects.filter(attempts__gt=1).count(),
        "work_started": sum(starts.values()),
        "work_done": sum(len(v) for v in dones.values()),
        "api_runs_accepted": len(accepted),
        "duplicates": duplicates,
        "lost": lost,
        "violations": violations,
    }


def main(argv: list[str]) -> dict:
    command, args = argv[0], argv[1:]
    if command == "setup":
        return setup(int(args[0]), float(args[1]), int(args[2]), int(args[3]))
    if command == "pending":
        return pending()
    if command == "deliver-again":
        return deliver_again(int(args[0]), int(args[1]))
    if command == "stop-schedules":
        return stop_schedules()
    if command == "check":
        return check(json.loads(Path(args[0]).read_text()))
    raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    django.setup()
    print(json.dumps(main(sys.argv[1:]), default=str))
