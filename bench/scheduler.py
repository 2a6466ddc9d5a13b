"""Scheduler benchmark: our pass and `schedule_tick --loop` beside django-q2's own scheduler.

    .venv/bin/python -m bench.scheduler                 the figures, as JSON
    .venv/bin/python -m bench.scheduler --raw           the raw measurements
    .venv/bin/python -m bench.scheduler --schedules N   a quicker run with N schedules per side

What it measures and why: docs/benchmarks.md, "Scheduler pass". One SQLite file (WAL, the
project's settings) holds 100,000 of our schedules and 100,000 of django-q2's; both sides are
measured in the same run, interleaved, so that the ratios hold on a machine whose speed drifts.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections import Counter
from datetime import datetime, timedelta

from bench import _harness
from tests.servers import Process, group_members, start_cluster, wait_until

SCHEDULES = 100_000
DUE = 1_000
IDLE_REPS, IDLE_REPS_INDEXED, DUE_REPS = 300, 150, 5
LOOP_IDLE_SECONDS = 20
LOOP_INTERVAL_PROBES, LOOP_PROBE_SPACING = 150, 0.3  # windows 0.3 s apart ...
LOOP_CALENDAR_PROBES = 50  # ... and daily, weekly and cron windows at one whole minute
Q2_PROBES, Q2_DEADLINE_SECONDS = 28, 70  # one a second over one period of django-q2's scheduler

TARGETS = {"idle": 0.001, "due": 0.25, "lateness_p99": 0.5, "idle_cpu": 0.01}

PARAMS = {"backup_type": "full", "retention_days": 30, "cleanup_old": False, "force_backup": False}
ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Sydney")
DAY_SETS = (("mon", "wed", "fri"), ("sat",), ("sun",), ("mon", "tue", "wed", "thu", "fri"), ("tue", "thu"))
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
INTERVALS = (60, 120, 180, 240, 360, 720, 1440)
KINDS, KIND_WEIGHTS = ("daily", "weekly", "interval", "cron"), (40, 20, 25, 15)
Q2_TYPES = ("D", "W", "I", "C")  # DAILY, WEEKLY, MINUTES, CRON, in the same proportions
Q2_PROBE_GROUP = "bench-q2-probe"


def q2_probe(*args, **kwargs):
    """What django-q2's probe schedules run: nothing (their Task rows say when they were queued)."""
    return kwargs.get("intended")


def run(*, schedules: int = SCHEDULES) -> dict:
    return figures(measure_in_child(schedules=schedules))


def measure_in_child(*, schedules: int = SCHEDULES) -> dict:
    return _harness.measure_in_child("bench.scheduler", ["--schedules", str(schedules)], timeout=600,
                                     prefix="bench-scheduler-")


# --------------------------------------------------------------------------- the figures


def figures(r: dict) -> dict:
    idle, due, loop, q2 = r["idle"], r["due"], r["loop"], r["q2_cluster"]
    ours_due = due["ours"]["median"]

    def row(measurement: str, unit: str, ours: float | None, theirs: float | None, target: str | None = None,
            met: bool | None = None) -> dict:
        scale = 1000 if unit == "ms" else 100
        ours, theirs = (None if x is None else x * scale for x in (ours, theirs))
        return {"measurement": measurement, "unit": unit, "ours": ours, "django-q2": theirs,
                "django-q2 / ours": theirs / ours if ours and theirs is not None else None, "target": target,
                "met?": met}

    def queries(which: str, side: str, q: dict) -> dict:
        detailed = "verbs" in q  # of the passes with something due; of the idle ones only the count
        return {"pass": which, "side": side, "queries": q["total"],
                **{verb: q["verbs"].get(verb, 0) if detailed else None for verb in ("INSERT", "UPDATE", "SELECT")},
                "transactions": q["transactions"] if detailed else None,
                "SQL time, ms": q["sql_seconds"] * 1000 if detailed else None}

    passes = [
        row("Pass, nothing due: median", "ms", idle["ours"]["median"], idle["q2"]["median"], "≤ 1",
            idle["ours"]["median"] <= TARGETS["idle"]),
        row("Pass, nothing due: p95", "ms", idle["ours"]["p95"], idle["q2"]["p95"]),
        row("Pass, nothing due, ours back to back: median", "ms", idle["ours_alone"]["median"], None),
        row("Pass, nothing due, ours back to back: p95", "ms", idle["ours_alone"]["p95"], None),
        row("Pass, nothing due: median, django-q2 given an index on `next_run` (not stock)", "ms",
            idle["ours_beside_indexed"]["median"], idle["q2_indexed"]["median"]),
        row(f"Pass, {due['due']:,} due: median of {DUE_REPS}", "ms", ours_due, due["q2"]["median"],
            "≤ 250 and < django-q2", ours_due <= TARGETS["due"] and ours_due < due["q2"]["median"]),
        row(f"Pass, {due['due']:,} due: fastest", "ms", due["ours"]["min"], due["q2"]["min"]),
        row(f"Pass, {due['due']:,} due: slowest", "ms", due["ours"]["max"], due["q2"]["max"]),
        row("`--loop` lateness (dispatch − due): median", "ms", loop["lateness"]["median"], q2["lateness"]["median"]),
        row("`--loop` lateness (dispatch − due): p99", "ms", loop["lateness"]["p99"], q2["lateness"]["p99"], "≤ 500",
            loop["lateness"]["p99"] <= TARGETS["lateness_p99"]),
        row("`--loop` lateness (dispatch − due): max", "ms", loop["lateness"]["max"], q2["lateness"]["max"]),
        *(row(f"`--loop` lateness until the queue message was written (django-q2: until the task ran): {key}", "ms",
              loop["message_lateness"][key], q2["executed"][key]) for key in ("p99", "max")),
        row("Scheduler process CPU while idle (django-q2: its sentinel)", "% of a core", loop["idle_cpu"],
            q2["cpu"]["sentinel"], "< 1", loop["idle_cpu"] < TARGETS["idle_cpu"]),
        row("CPU of django-q2's whole cluster", "% of a core", None, q2["cpu"]["cluster"]),
    ]
    bypasses = [
        {"bypass": b["label"], "stock call instead": b["call"], "time in the call: ours, ms": b["ours"] * 1000,
         "stock, ms": b["stock"] * 1000, "saved per pass, ms": (b["stock"] - b["ours"]) * 1000,
         "saved, % of our pass": 100 * (b["stock"] - b["ours"]) / ours_due,
         "whole pass with the stock call, ms": b["pass"] * 1000} for b in due["stock"]]
    return {
        "schedules per side": r["schedules"], "loop: windows": loop["probes"], "loop: over, s": loop["span_seconds"],
        "loop: what became of them": loop["outcomes"], "loop: idle CPU measured over, s": loop["idle_seconds"],
        "loop: runs created while idle": loop["idle_runs"], "django-q2: windows": q2["probes"],
        "django-q2: its scheduler ran at, s": q2["scheduler_calls"],
        f"django-q2: windows not dispatched within {Q2_DEADLINE_SECONDS} s": q2["undispatched"],
        "django-q2: cluster processes": q2["cpu"]["processes"],
        "django-q2: cluster CPU measured over, s": q2["cpu"]["seconds"],
        "tables": {"passes": passes, "bypasses": bypasses, "queries": [
            queries("nothing due", "ours", {"total": idle["ours"]["queries"]}),
            queries("nothing due", "django-q2", {"total": idle["q2"]["queries"]}),
            queries(f"{due['due']:,} due", "ours", due["ours"]["queries"]),
            queries(f"{due['due']:,} due", "django-q2", due["q2"]["queries"])]}}


# --------------------------------------------------------------------------- the measuring child


def measure(*, schedules: int) -> dict:
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    call_command("createcachetable", verbosity=0)
    data = _populate(schedules)
    return {"schedules": schedules, "idle": _measure_idle(), "due": _measure_due(data), "loop": _measure_loop(),
            "q2_cluster": _measure_q2_cluster()}


def _checkpoint() -> None:
    """Start every timed pass from the same WAL state (the resets write a lot)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def _captured(fn) -> dict:
    """The queries `fn` runs, by verb, and the transactions (an executemany counts once)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        fn()
    verbs: dict[str, int] = {}
    transactions = 0
    for query in captured.captured_queries:
        sql = query["sql"]
        if " times: " in sql and sql.split(None, 1)[0].isdigit():  # Django's "<n> times: <sql>"
            sql = sql.split(": ", 1)[1]
        verb = sql.split(None, 1)[0].upper()
        if verb in ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"):
            transactions += verb == "BEGIN"
        else:
            verbs[verb] = verbs.get(verb, 0) + 1
    return {"total": sum(verbs.values()), "verbs": verbs, "transactions": transactions,
            "sql_seconds": sum(float(q["time"]) for q in captured.captured_queries)}


# ----------------------------------------------------------------- data


def _populate(schedules: int) -> dict:
    """`schedules` per side, each with the real next window of its recurrence after now.

    DUE of ours get windows 20 s to 10 min before a simulated pass instant ~30 min ahead
    (`run_pass(now=...)`), so that neither the loop nor anything else meets them for real; no other
    schedule has a window before `horizon`.
    """
    from django.db import transaction
    from django.utils import timezone
    from django_q.models import Schedule

    from scheduling.models import ScheduledTask

    rng = random.Random(20240601)
    now = timezone.now()
    base = (now + timedelta(minutes=30)).replace(second=0, microsecond=0)
    pass_at, horizon = base + timedelta(seconds=20), base + timedelta(minutes=5)
    due = min(DUE, max(schedules // 10, 1))
    step = schedules // due

    _harness.progress("scheduler", f"creating {schedules:,} schedules of ours")
    cache: dict = {}
    rows, due_rows = [], []
    for n in range(schedules):
        schedule = _background_schedule(rng, n, now=now, horizon=horizon, cache=cache)
        if n % step == 0 and len(due_rows) < due:
            window = (base - timedelta(minutes=len(due_rows) % 10) if schedule.schedule_kind != "interval"
                      else base - timedelta(seconds=rng.randrange(20, 600)))
            _make_due(schedule, rng, window=window, now=now)
            due_rows.append(schedule)
        rows.append(schedule)
    for schedule in rows[:: max(len(rows) // 200, 1)] + due_rows[:50]:  # the model's own rules, on a sample
        schedule.full_clean()
    with transaction.atomic():
        ScheduledTask.objects.bulk_create(rows, batch_size=2000)
    assert ScheduledTask.objects.filter(enabled=True, next_run_at__lte=pass_at).count() == len(due_rows)

    _harness.progress("scheduler", f"creating {schedules:,} django-q2 schedules")
    q2_rows = []
    for n in range(schedules):
        kind = rng.choices(Q2_TYPES, KIND_WEIGHTS)[0]
        minute, hour = rng.randrange(0, 60, 5), rng.randrange(24)
        q2_rows.append(Schedule(
            name=f"q2 {n:06d}", func="math.floor", args="1", schedule_type=kind, repeats=-1,
            minutes=rng.choice(INTERVALS) if kind == Schedule.MINUTES else None,
            cron=f"{minute} {hour} * * *" if kind == Schedule.CRON else None,
            next_run=now + timedelta(seconds=rng.randrange(3600, 7 * 86400)),
        ))
    with transaction.atomic():
        Schedule.objects.bulk_create(q2_rows, batch_size=2000)
        # The project registers its own pass with django-q2 (the safety net); not part of this.
        Schedule.objects.filter(func="scheduling.tasks.safety_net_pass").delete()
    _checkpoint()
    return {"pass_at": pass_at, "due": [(s.pk, s.next_run_at) for s in due_rows],
            "q2_due": [(s.pk, rng.randrange(20, 600)) for s in q2_rows[::step][:due]]}


def _background_schedule(rng, n, *, now, horizon, cache):
    from scheduling.models import ScheduledTask

    kind = rng.choices(KINDS, KIND_WEIGHTS)[0]
    zone = rng.choice(ZONES) if kind != "interval" else "UTC"
    while True:  # until the next window lies past the horizon
        s = ScheduledTask(name=f"Backup {n:06d}", key=f"backup-{n:06d}", task_type="DATABASE_BACKUP", schedule_kind=kind, timezone=zone,
                          params=dict(PARAMS), created_at=now - timedelta(days=30), enabled=True)
        if kind == "interval":
            s.interval_minutes = rng.choice(INTERVALS)
            s.anchor_at = s.created_at + timedelta(seconds=rng.randrange(86400))
            next_run_at = s.next_after(now)
        else:
            minute, hour = rng.randrange(0, 60, 5), rng.randrange(24)
            if kind in ("daily", "weekly"):
                s.schedule_time = f"{hour:02d}:{minute:02d}"
            if kind == "weekly":
                s.schedule_days = list(rng.choice(DAY_SETS))
            if kind == "cron":
                s.cron_expr = rng.choice((f"{minute} {hour} * * *", f"{minute} {hour} * * 1-5",
                                          f"{minute} {hour} 1,15 * *", f"{minute} {hour} * * 0,6",
                                          f"{minute} {hour % 12},{hour % 12 + 12} * * *"))
            key = (kind, zone, s.schedule_time, tuple(s.schedule_days), s.cron_expr)
            next_run_at = cache[key] if key in cache else cache.setdefault(key, s.next_after(now))
        if next_run_at > horizon:
            s.next_run_at = next_run_at
            return s


def _make_due(schedule, rng, *, window: datetime, now: datetime) -> None:
    """Rewrite a schedule's timing so that `window` is its next real window after `now`."""
    from zoneinfo import ZoneInfo

    for zone in (schedule.timezone, "UTC"):  # UTC if a DST change happens to fall right there
        schedule.timezone = zone
        local = window.astimezone(ZoneInfo(zone))
        if schedule.schedule_kind == "interval":
            schedule.anchor_at = window - timedelta(minutes=schedule.interval_minutes) * max(
                1, 7 * 1440 // schedule.interval_minutes)
        elif schedule.schedule_kind in ("daily", "weekly"):
            schedule.schedule_time = f"{local:%H:%M}"
            if schedule.schedule_kind == "weekly":
                wanted = set(schedule.schedule_days) | {WEEKDAYS[local.weekday()]}
                schedule.schedule_days = [d for d in WEEKDAYS if d in wanted]
        else:
            schedule.cron_expr = rng.choice((f"{local.minute} {local.hour} * * *",
                                             f"{local.minute} {local.hour} * * {local.isoweekday() % 7}",
                                             f"{local.minute} {local.hour} {local.day} * *"))
        if schedule.next_after(now) == window and schedule.next_after(window - timedelta(microseconds=1)) == window:
            schedule.next_run_at = window
            return
    raise AssertionError(f"could not place a window at {window} for {schedule.schedule_kind}")


# ----------------------------------------------------------------- passes


def _timing(fn, spent: dict, key: str):
    def timed(*args, **kwargs):
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            spent[key] += time.perf_counter() - started
    return timed


def _interleaved(sides: dict, reps: int, *, reset=None) -> dict:
    """Time each side's function `reps` times, alternating the order; a summary per side."""
    times: dict[str, list[float]] = {name: [] for name in sides}
    for rep in range(reps):
        for name in sides if rep % 2 == 0 else reversed(sides):
            if reset:
                reset(name)
            times[name].append(_timed(sides[name]))
    return {name: _harness.summary(values) for name, values in times.items()}


def _measure_idle() -> dict:
    from django.db import connection
    from django.utils import timezone
    from django_q.brokers import get_broker
    from django_q.models import OrmQ
    from django_q.scheduler import scheduler

    from scheduling import tick

    _harness.progress("scheduler", "timing passes with nothing due")
    broker = get_broker()

    def ours():
        assert tick.run_pass(now=timezone.now()).windows == 0

    sides = {"ours": ours, "q2": lambda: scheduler(broker=broker)}
    _interleaved(sides, 20)  # warm-up
    result = _interleaved(sides, IDLE_REPS)
    assert not OrmQ.objects.exists(), "django-q2 found something due in the idle pass"
    for name, fn in sides.items():
        result[name]["queries"] = _captured(fn)["total"]
    # Back to back, with the CPU caches warm: interleaved, each of ours follows django-q2's scan of
    # its whole table, which flushes them.
    result["ours_alone"] = _harness.summary([_timed(ours) for _ in range(IDLE_REPS)])
    # django-q2 with an index on next_run, dropped again so that the rest measures it stock.
    with connection.cursor() as cursor:
        cursor.execute("CREATE INDEX bench_q2_next_run ON django_q_schedule (next_run)")
    try:
        _interleaved(sides, 10)
        indexed = _interleaved(sides, IDLE_REPS_INDEXED)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP INDEX bench_q2_next_run")
    result["ours_beside_indexed"], result["q2_indexed"] = indexed["ours"], indexed["q2"]
    return result


def _measure_due(data: dict) -> dict:
    from django.utils import timezone
    from django_q.brokers import get_broker
    from django_q.models import OrmQ, Schedule
    from django_q.scheduler import scheduler
    from django_q.tasks import async_task

    from jobs import queue
    from jobs.models import Job
    from scheduling import tick
    from scheduling.models import ScheduledTask, ScheduleRun

    due = len(data["due"])
    _harness.progress("scheduler", f"timing passes with {due:,} due")
    broker = get_broker()
    Link = ScheduleRun.jobs.through

    def reset(name: str) -> None:
        if name == "q2":
            OrmQ.objects.all().delete()
            Schedule.objects.bulk_update([Schedule(pk=pk, next_run=timezone.now() - timedelta(seconds=offset),
                                                   task=None) for pk, offset in data["q2_due"]],
                                         ["next_run", "task"], batch_size=250)
        else:
            for model in (Link, ScheduleRun, Job, OrmQ):
                model.objects.all().delete()
            ScheduledTask.objects.bulk_update(
                [ScheduledTask(pk=pk, next_run_at=at, last_run_at=None, last_outcome="") for pk, at in data["due"]],
                ["next_run_at", "last_run_at", "last_outcome"], batch_size=250)
        _checkpoint()

    def ours():
        report = tick.run_pass(now=data["pass_at"])
        assert report.outcomes == {"dispatched": due}, report.outcomes
        assert Job.objects.count() == Link.objects.count() == OrmQ.objects.count() == due

    def theirs():
        scheduler(broker=broker)
        assert OrmQ.objects.count() == due

    # The Django and django-q2 calls our pass bypasses, for "what the bypasses buy".
    stock = {
        "messages": ("one INSERT of all the queue messages (`jobs.queue._write_orm_messages`)",
                     "django-q2 `async_task` per job", queue, "_write_orm_messages",
                     lambda jobs, *, broker: [async_task(queue.EXECUTE, job.pk, task_name=f"job-{job.pk}", broker=broker,
                                                         timeout=queue.message_timeout(job), save=False)
                                              for job in jobs]),
        "state": ("executemany UPDATE of the schedules (`scheduling.tick._save_schedule_state`)",
                  "Django `bulk_update`", tick, "_save_schedule_state",
                  lambda schedules, *, now: ScheduledTask.objects.bulk_update(
                      schedules, ["next_run_at", "last_run_at", "last_outcome", "updated_at"])),
    }

    calls: dict[tuple[str, str], list[float]] = {}  # (side, bypass) -> seconds inside that call, per pass

    def patched(side: str):
        """Our pass with the stock call for `side`'s bypass (none for "ours"), timing each of the three."""
        def pass_():
            shipped = {key: getattr(module, name) for key, (_, _, module, name, _) in stock.items()}
            spent = dict.fromkeys(stock, 0.0)
            for key, (_, _, module, name, replacement) in stock.items():
                setattr(module, name, _timing(replacement if key == side else shipped[key], spent, key))
            try:
                ours()
            finally:
                for key, (_, _, module, name, _) in stock.items():
                    setattr(module, name, shipped[key])
            for key, seconds in spent.items():
                calls.setdefault((side, key), []).append(seconds)
        return pass_

    sides = {"ours": patched("ours"), "q2": theirs, **{key: patched(key) for key in stock}}
    queries = {}
    for name in ("ours", "q2"):  # untimed warm-up, with the queries captured
        reset(name)
        queries[name] = _captured(sides[name])
    for key in stock:
        reset(key)
        sides[key]()
    calls.clear()
    result = _interleaved(sides, DUE_REPS, reset=reset)
    for name in ("ours", "q2"):
        result[name]["queries"] = queries[name]
    result["stock"] = [
        {"label": label, "call": call, "pass": result.pop(key)["median"],
         "ours": statistics.median(calls[("ours", key)]), "stock": statistics.median(calls[(key, key)])}
        for key, (label, call, *_) in stock.items()]
    # Leave both sides idle in real time for the loop and the cluster.
    reset("ours")
    Schedule.objects.filter(pk__in=[pk for pk, _ in data["q2_due"]]).update(
        next_run=timezone.now() + timedelta(days=1), task=None)
    return {"due": due, **result}


# ----------------------------------------------------------------- processes


def _start(name: str, args: list[str], **env: str) -> Process:
    return Process(name, args, env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
                   log_path=_harness.workdir() / f"{name}.log")


def _measure_loop() -> dict:
    from zoneinfo import ZoneInfo

    from django.utils import timezone
    from django_q.models import OrmQ
    from django_q.signing import SignedPackage

    from scheduling.models import ScheduledTask, ScheduleRun

    _harness.progress("scheduler", f"running schedule_tick --loop: {LOOP_IDLE_SECONDS} s idle, then lateness")
    loop = _start("loop", ["schedule_tick", "--loop"])
    try:
        loop.wait_for_output("Scheduler running", timeout=60)
        time.sleep(2)  # its first passes and heartbeat
        runs_before, wall_before = ScheduleRun.objects.count(), time.monotonic()
        cpu_before = _harness.cpu_seconds([loop.pid])
        time.sleep(LOOP_IDLE_SECONDS)
        idle_cpu = (_harness.cpu_seconds([loop.pid]) - cpu_before) / (time.monotonic() - wall_before)
        idle_seconds, idle_runs = time.monotonic() - wall_before, ScheduleRun.objects.count() - runs_before

        now = timezone.now()
        first = now + timedelta(seconds=3)
        minute = (first + timedelta(seconds=65)).replace(second=0, microsecond=0)
        probes = [ScheduledTask(name=f"Lateness probe {i:03d}", task_type="DATABASE_BACKUP", schedule_kind="interval",
                                interval_minutes=60, anchor_at=first + timedelta(seconds=i * LOOP_PROBE_SPACING),
                                params=dict(PARAMS), created_at=now)
                  for i in range(LOOP_INTERVAL_PROBES)]
        for j in range(LOOP_CALENDAR_PROBES):
            kind, zone = ("daily", "weekly", "cron")[j % 3], ZONES[j % len(ZONES)]
            local = minute.astimezone(ZoneInfo(zone))
            probes.append(ScheduledTask(
                name=f"Lateness probe {kind} {j:03d}", task_type="DATABASE_BACKUP", schedule_kind=kind, timezone=zone,
                params=dict(PARAMS), created_at=now, schedule_time=f"{local:%H:%M}" if kind != "cron" else "",
                schedule_days=[WEEKDAYS[local.weekday()]] if kind == "weekly" else [],
                cron_expr=f"{local.minute} {local.hour} * * *" if kind == "cron" else ""))
        for probe in probes:
            probe.full_clean()
            probe.next_run_at = probe.next_after(now)
        due_of = {p.pk: p.next_run_at for p in ScheduledTask.objects.bulk_create(probes)}
        deadline = max(due_of.values()) + timedelta(seconds=15)
        wait_until(lambda: ScheduleRun.objects.filter(schedule_id__in=due_of).count() >= len(due_of)
                   or timezone.now() > deadline or not loop.running(), timeout=120, interval=0.25, message="")
        assert loop.running(), loop.log()[-3000:]
    finally:
        loop.stop()

    runs = list(ScheduleRun.objects.filter(schedule_id__in=due_of).values_list("schedule_id", "due_at", "created_at",
                                                                                "outcome"))
    assert all(due_at == due_of[pk] for pk, due_at, _, _ in runs)
    # A window never dispatched counts at the deadline, rather than vanishing.
    lateness = [(created - due_at).total_seconds() for _, due_at, created, _ in runs] + [
        (deadline - due_of[pk]).total_seconds() for pk in set(due_of) - {r[0] for r in runs}]
    outcomes = Counter(outcome for *_, outcome in runs)
    job_due = dict(ScheduleRun.jobs.through.objects.filter(schedulerun__schedule_id__in=due_of)
                   .values_list("job_id", "schedulerun__due_at"))
    tasks = [SignedPackage.loads(payload) for payload in OrmQ.objects.values_list("payload", flat=True)]
    return {
        "idle_cpu": idle_cpu, "idle_seconds": idle_seconds, "idle_runs": idle_runs, "probes": len(due_of),
        "span_seconds": (max(due_of.values()) - first).total_seconds(), "lateness": _harness.summary(lateness),
        "outcomes": ", ".join(f"{n} {o}" for o, n in outcomes.items()) + f" of {len(due_of)}",
        "message_lateness": _harness.summary([(t["started"] - job_due[t["args"][0]]).total_seconds()
                                              for t in tasks if t["args"][0] in job_due]),
    }


def _measure_q2_cluster() -> dict:
    from django.utils import timezone
    from django_q.models import OrmQ, Schedule, Task

    from jobs.models import Job

    # Our loop's jobs must not run in the cluster (they would back up the benchmark database).
    OrmQ.objects.all().delete()
    Job.objects.all().delete()
    _harness.progress("scheduler", f"running django-q2's qcluster for up to {Q2_DEADLINE_SECONDS} s")
    cluster = start_cluster(lambda: _start("qcluster", ["qcluster"]), timeout=90)
    try:
        ready, wall_start = timezone.now(), time.monotonic()
        family = group_members(cluster.pid)
        before = {pid: _harness.proc_stat(pid) for pid in family}
        sentinel = next(pid for pid, stat in before.items()
                        if pid != cluster.pid and stat and stat.parent == cluster.pid)
        probes = Schedule.objects.bulk_create([
            Schedule(name=f"{Q2_PROBE_GROUP}-{i:02d}", func="bench.scheduler.q2_probe", schedule_type=Schedule.MINUTES,
                     minutes=60, repeats=-1, intended_date_kwarg="intended",
                     next_run=ready + timedelta(seconds=1 + i * 28 / Q2_PROBES))
            for i in range(Q2_PROBES)])
        deadline = ready + timedelta(seconds=Q2_DEADLINE_SECONDS)
        tasks = Task.objects.filter(group__startswith=Q2_PROBE_GROUP)
        wait_until(lambda: tasks.count() >= len(probes) or timezone.now() > deadline or not cluster.running(),
                   timeout=Q2_DEADLINE_SECONDS + 30, interval=0.25, message="")
        assert cluster.running(), cluster.log()[-3000:]
        wall = time.monotonic() - wall_start
        after = {pid: _harness.proc_stat(pid) for pid in before}
        used = {pid: after[pid].cpu_seconds - stat.cpu_seconds for pid, stat in before.items() if stat and after[pid]}
    finally:
        cluster.stop(timeout=30)

    tasks = list(tasks)
    intended = {t.group: datetime.fromisoformat(t.kwargs["intended"]) for t in tasks}
    undispatched = [p for p in probes if p.name not in intended]
    calls: list[float] = []  # one scheduler call queues all of its tasks within a fraction of a second
    for at in sorted((t.started - ready).total_seconds() for t in tasks):
        if not calls or at - calls[-1] > 2:
            calls.append(at)
    return {
        "probes": len(probes), "undispatched": len(undispatched), "scheduler_calls": calls,
        "lateness": _harness.summary([(t.started - intended[t.group]).total_seconds() for t in tasks]
                                     + [(deadline - p.next_run).total_seconds() for p in undispatched]),
        "executed": _harness.summary([(t.stopped - intended[t.group]).total_seconds() for t in tasks]),
        "cpu": {"sentinel": used.get(sentinel, 0) / wall, "cluster": sum(used.values()) / wall,
                "processes": len(before), "seconds": wall},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scheduler", description=__doc__.split("\n")[0])
    parser.add_argument("--schedules", type=int, default=SCHEDULES, help="schedules per side (default 100,000)")
    return _harness.main_for(parser, argv, measure=measure, measure_in_child=measure_in_child, figures=figures)


if __name__ == "__main__":
    sys.exit(main())
