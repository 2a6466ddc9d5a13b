"""Scheduler benchmark: our pass and `schedule_tick --loop` beside django-q2's own scheduler.

One fresh SQLite file in WAL mode with the project's real settings holds 100,000 enabled
`ScheduledTask` rows *and* 100,000 django-q2 `Schedule` rows, and both schedulers are measured in
the same run, interleaved, so that the ratios hold on a shared machine whose absolute speed drifts.

    .venv/bin/python -m bench.scheduler                 print the markdown section
    .venv/bin/python -m bench.scheduler --json          print the raw measurements
    .venv/bin/python -m bench.scheduler --schedules N   a quicker run with N schedules per side
    .venv/bin/python -m bench.scheduler --profile       add a profile of one 1,000-due pass

`run()` (what `python -m bench` calls) always measures in a child process (`--measure`) to which it
gives a temporary database through `DATABASE_URL`, so it works whether or not the caller has set up
Django, and it removes the child's processes and files afterwards, also on failure or timeout
(`bench/_harness.py`).

What is measured:

- a pass with nothing due (`tick.run_pass` vs `django_q.scheduler.scheduler`), many times;
- a pass with 1,000 windows due, writing runs, jobs, their links and the ORM broker's queue
  messages (ours) vs 1,000 due django-q2 schedules (its queue messages and schedule updates);
- `manage.py schedule_tick --loop` as a real process: its CPU use while idle, then how late it
  dispatches 200 windows falling at distinct moments over about a minute; and the same lateness for
  a real `manage.py qcluster`, whose guard loop calls its scheduler about every 30 s.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import signal
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

from bench import _harness

ROOT = Path(__file__).resolve().parent.parent

SCHEDULES = 100_000
DUE = 1_000
IDLE_REPS = 300  # interleaved ours / django-q2 passes with nothing due
IDLE_REPS_INDEXED = 150
DUE_REPS = 5
LOOP_IDLE_SECONDS = 20
LOOP_INTERVAL_PROBES = 150  # windows 0.3 s apart ...
LOOP_PROBE_SPACING = 0.3
LOOP_CALENDAR_PROBES = 50  # ... plus daily, weekly and cron schedules sharing one whole minute
Q2_PROBES = 28  # one a second over one period of django-q2's scheduler
Q2_DEADLINE_SECONDS = 70
MEASURE_TIMEOUT_SECONDS = 540

TARGET_IDLE_SECONDS = 0.001
TARGET_DUE_SECONDS = 0.25
TARGET_LATENESS_P99_SECONDS = 0.5
TARGET_IDLE_CPU = 0.01

PARAMS = {"backup_type": "full", "retention_days": 30, "cleanup_old": False, "force_backup": False}
ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Sydney")
DAY_SETS = (("mon", "wed", "fri"), ("sat",), ("sun",), ("mon", "tue", "wed", "thu", "fri"), ("tue", "thu"))
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
INTERVALS = (60, 120, 180, 240, 360, 720, 1440)
KINDS = ("daily", "weekly", "interval", "cron")
KIND_WEIGHTS = (40, 20, 25, 15)
Q2_TYPES = ("D", "W", "I", "C")  # DAILY, WEEKLY, MINUTES, CRON, in the same proportions

Q2_PROBE_GROUP = "bench-q2-probe"


def q2_probe(*args, **kwargs):
    """What the django-q2 probe schedules run in the cluster's workers: nothing. Lateness is read
    from django-q2's Task rows (`started` is set when the scheduler queues the task)."""
    return kwargs.get("intended")


# --------------------------------------------------------------------------- the parent side


def run(*, schedules: int = SCHEDULES, profile: bool = False) -> str:
    """Measure in a child process with its own temporary database; the markdown section."""
    return render(measure_in_subprocess(schedules=schedules, profile=profile))


def measure_in_subprocess(*, schedules: int = SCHEDULES, profile: bool = False) -> dict:
    args = ["--schedules", str(schedules)] + (["--profile"] if profile else [])
    with _harness.temp_workdir("bench-scheduler-") as workdir:
        # LOG_LEVEL=WARNING (see child_env): both schedulers log every task at INFO.
        env = _harness.child_env(workdir)
        return _harness.measure_in_child("bench.scheduler", args, env=env, timeout=MEASURE_TIMEOUT_SECONDS)


# --------------------------------------------------------------------------- rendering


def render(r: dict) -> str:
    n = r["schedules"]
    idle, due, loop, q2 = r["idle"], r["due"], r["loop"], r["q2_cluster"]
    rows = []

    def row(label, ours, theirs, ratio, target, met):
        rows.append(f"| {label} | {ours} | {theirs} | {ratio} | {target} | {met} |")

    row("Pass, nothing due: median", _ms(idle["ours"]["median"]), _ms(idle["q2"]["median"]),
        _ratio(idle["q2"]["median"], idle["ours"]["median"]), "≤ 1 ms",
        _met(idle["ours"]["median"] <= TARGET_IDLE_SECONDS))
    row("Pass, nothing due: p95", _ms(idle["ours"]["p95"]), _ms(idle["q2"]["p95"]),
        _ratio(idle["q2"]["p95"], idle["ours"]["p95"]), "", "")
    if idle.get("q2_indexed"):
        row("Pass, nothing due: median, django-q2 given an index on `next_run` (not stock)",
            _ms(idle["ours_beside_indexed"]["median"]), _ms(idle["q2_indexed"]["median"]),
            _ratio(idle["q2_indexed"]["median"], idle["ours_beside_indexed"]["median"]), "", "")
    row(f"Pass, {due['due']:,} due: median of {len(due['ours']['times'])}", _s(due["ours"]["median"]),
        _s(due["q2"]["median"]), _ratio(due["q2"]["median"], due["ours"]["median"]),
        "≤ 0.25 s and < django-q2",
        _met(due["ours"]["median"] <= TARGET_DUE_SECONDS and due["ours"]["median"] < due["q2"]["median"]))
    q2_late = q2["lateness"]
    for key, label, target, limit in (("p50", "p50", "", None), ("p99", "p99", "≤ 0.5 s", TARGET_LATENESS_P99_SECONDS),
                                      ("max", "max", "", None)):
        ours_v, theirs_v = loop["lateness"][key], q2_late[key]
        row(f"`--loop` lateness (dispatch − due): {label}", _dur(ours_v),
            ("≥ " if q2_late["censored"] else "") + _dur(theirs_v), _ratio(theirs_v, ours_v), target,
            _met(ours_v <= limit) if limit is not None else "")
    row("Scheduler process CPU while idle",
        _pct_text(loop["idle_cpu"]), _pct_text(q2["cpu"]["sentinel"]) + " (sentinel)",
        _ratio(q2["cpu"]["sentinel"], loop["idle_cpu"]), "< 1 % of a core",
        _met(loop["idle_cpu"] is not None and loop["idle_cpu"] < TARGET_IDLE_CPU))

    oq, qq = due["ours"]["queries"], due["q2"]["queries"]
    notes = [
        f"- Ratio = django-q2 / ours (above 1: ours is faster, or uses less). Both sides share one "
        f"database and are measured interleaved in the same process; idle passes: {idle['reps']} "
        f"each; {due['due']:,}-due passes: {len(due['ours']['times'])} each after an untimed warm-up "
        f"(ours {_s(due['ours']['min'])}–{_s(due['ours']['max'])}, django-q2 "
        f"{_s(due['q2']['min'])}–{_s(due['q2']['max'])}). Load average at start / end: "
        f"{r['loadavg_start']} / {r['loadavg_end']}.",
        f"- Data: {n:,} enabled `DATABASE_BACKUP` schedules ({r['mix']}), time zones "
        f"{', '.join(ZONES)}, next windows spread over the next days; {n:,} django-q2 schedules "
        f"(`math.floor`, args `1`; daily / weekly / every N minutes / cron in the same proportions). "
        f"The {due['due']:,} due windows lie 20 s to 10 min in the past, within the grace period, and "
        f"are real windows of their recurrences.",
        f"- Nothing due: the table's figures are interleaved, so each of our passes follows django-q2's "
        f"scan of its whole table, which flushes the CPU caches; back to back ours takes "
        f"{_ms(idle['ours_alone']['median'])} (median; p95 {_ms(idle['ours_alone']['p95'])}). In the real "
        f"loop a pass runs a second after the previous one, nearer the cold case.",
        f"- Queries, nothing due: ours {idle['ours']['queries']} (the partial index on `next_run_at`), "
        f"django-q2 {idle['q2']['queries']} (a scan of its table, which has no index on `next_run`; "
        f"it also takes SQLite's write lock, `select_for_update` in a transaction).",
        f"- Queries, {due['due']:,} due: ours {oq['total']} per pass ({_verbs(oq)}; "
        f"{oq['ormq_inserts']} of the INSERTs write the ORM-broker queue messages, a batch each; SQL execution "
        f"{_s(oq['sql_seconds'])} of a {_s(oq['wall_seconds'])} pass with capture on), in "
        f"{oq['transactions']} transactions (batches of up to {r['settings']['SCHEDULER_BATCH_SIZE']} "
        f"windows). Written per pass: {due['written']}. django-q2: {qq['total']} queries "
        f"({_verbs(qq)}) in {qq['transactions']} transaction, SQL execution {_s(qq['sql_seconds'])} "
        f"of {_s(qq['wall_seconds'])}; written: {due['q2_written']}.",
        f"- Where our {due['due']:,}-due pass spends its time (wall time inside these calls, outermost "
        f"only, mean of 3 passes of {_s(due['breakdown']['total'])}): "
        + "; ".join(f"{label} {_ms(seconds)} ({seconds * 100 / due['breakdown']['total']:.0f} %)"
                    for label, seconds in due["breakdown"]["parts"] if seconds >= 0.0005) + ".",
        f"- Lateness, ours: `manage.py schedule_tick --loop` on the same {n:,}-schedule database; "
        f"{loop['probes']} windows at distinct moments over {loop['span_seconds']:.0f} s "
        f"({LOOP_INTERVAL_PROBES} interval schedules {LOOP_PROBE_SPACING} s apart, "
        f"{LOOP_CALENDAR_PROBES} daily / weekly / cron schedules at one whole minute in several zones); "
        f"lateness = `ScheduleRun.created_at − due_at` ({loop['outcomes']}). Until the queue message "
        f"was written (`task.started` − due): p99 {_dur(loop['message_lateness']['p99'])}, "
        f"max {_dur(loop['message_lateness']['max'])}.",
        f"- Lateness, django-q2: a real `manage.py qcluster` ({r['settings']['Q_WORKERS']} workers, ORM "
        f"broker) with {q2['probes']} schedules due one a second over one scheduler period; lateness = "
        f"`Task.started` (set when its scheduler queues the task) − the intended time. Its scheduler "
        f"ran at {', '.join(f'+{x:.1f} s' for x in q2['scheduler_calls'])} after the cluster reported "
        f"running: the guard loop calls it every 60th cycle of `guard_cycle` 0.5 s (`cluster.py`), "
        f"so a window waits up to ~30 s"
        + (f"; {q2['undispatched']} probe(s) were still undispatched after {Q2_DEADLINE_SECONDS} s and "
           f"count with that bound" if q2["censored"] else "")
        + f". Until the task ran: p99 {_s(q2['executed']['p99'])}.",
        f"- Idle CPU, ours: utime + stime of the `schedule_tick --loop` process from `/proc` over "
        f"{loop['idle_seconds']:.0f} s with nothing due ({loop['idle_runs']} runs created meanwhile). "
        f"django-q2: its sentinel process (the guard loop that calls the scheduler) over the "
        f"{q2['cpu']['seconds']:.0f} s run above (one scheduler call over {n:,} rows, "
        f"{q2['probes']} trivial tasks); the whole cluster ({q2['cpu']['processes']} processes) used "
        f"{_pct_text(q2['cpu']['cluster'])} of a core.",
        f"- {r['versions']}; settings as shipped (`CONN_MAX_AGE` {r['settings']['CONN_MAX_AGE']}, "
        f"WAL, IMMEDIATE transactions, `SCHEDULER_BATCH_SIZE` {r['settings']['SCHEDULER_BATCH_SIZE']}), "
        f"`LOG_LEVEL=WARNING` for both (django-q2 logs each queued task at INFO). django-q2's "
        f"\"Scheduler safety net\" schedule is removed from the benchmark database so the cluster "
        f"does not run our pass. Reproduce: `.venv/bin/python -m bench.scheduler`.",
    ]
    missed = [text for text, ok in (
        ("idle pass", idle["ours"]["median"] <= TARGET_IDLE_SECONDS),
        (f"{due['due']:,}-due pass", due["ours"]["median"] <= TARGET_DUE_SECONDS
         and due["ours"]["median"] < due["q2"]["median"]),
        ("lateness p99", loop["lateness"]["p99"] <= TARGET_LATENESS_P99_SECONDS),
        ("idle CPU", loop["idle_cpu"] is not None and loop["idle_cpu"] < TARGET_IDLE_CPU),
    ) if not ok]
    summary = ("All four targets met." if not missed else f"Missed: {', '.join(missed)}.")
    parts = [
        f"## Scheduler pass ({n:,} schedules, SQLite WAL)",
        "",
        f"Our scheduler (`scheduling.tick.run_pass`, `manage.py schedule_tick --loop`) against django-q2's "
        f"own (`django_q.scheduler.scheduler`, `manage.py qcluster`), {n:,} enabled schedules each, in "
        f"one SQLite file with the project's settings. {summary}",
        "",
        "| measurement | ours | django-q2 | ratio | target | met? |",
        "| --- | ---: | ---: | ---: | --- | --- |",
        *rows,
        "",
        *notes,
    ]
    if due.get("profile"):
        parts += ["", "<details><summary>Profile of one "
                  f"{due['due']:,}-due pass (ours, cProfile, cumulative; cProfile inflates the ORM share)</summary>", "", "```",
                  due["profile"].rstrip(), "```", "", "</details>"]
    return "\n".join(parts) + "\n"


def _ms(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    ms = seconds * 1000
    return f"{ms:.3f} ms" if ms < 1 else f"{ms:.2f} ms" if ms < 10 else f"{ms:.1f} ms"


def _dur(seconds: float | None) -> str:
    """Milliseconds below a second, seconds above."""
    if seconds is None:
        return "n/a"
    return _ms(seconds) if abs(seconds) < 1 else _s(seconds)


def _s(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    return f"{seconds:.3f} s" if abs(seconds) < 10 else f"{seconds:.1f} s"


def _pct_text(fraction: float | None) -> str:
    return "n/a" if fraction is None else f"{fraction * 100:.2f} %"


def _ratio(theirs: float | None, ours: float | None) -> str:
    if theirs is None or ours is None:
        return "n/a"
    if ours <= 0:
        return "∞" if theirs > 0 else "n/a"
    ratio = theirs / ours
    return f"{ratio:,.0f}×" if ratio >= 10 else f"{ratio:.1f}×" if ratio >= 1 else f"{ratio:.2f}×"


def _met(ok: bool) -> str:
    return "yes" if ok else "**no**"


def _verbs(q: dict) -> str:
    return ", ".join(f"{count} {verb}" for verb, count in sorted(q["verbs"].items(), key=lambda kv: -kv[1]))


# --------------------------------------------------------------------------- the measuring child


def _measure(*, schedules: int, profile: bool) -> dict:
    workdir = _harness.child_workdir()
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    _progress("migrating a fresh database")
    call_command("migrate", verbosity=0, interactive=False)
    call_command("createcachetable", verbosity=0)

    from importlib.metadata import version

    result = {
        "schedules": schedules,
        "loadavg_start": _loadavg(),
        "versions": (f"Python {sys.version.split()[0]}, Django {django.get_version()}, "
                     f"django-q2 {version('django-q2')}, SQLite {_sqlite_version()}"),
        "settings": {
            "SCHEDULER_BATCH_SIZE": settings.SCHEDULER_BATCH_SIZE,
            "CONN_MAX_AGE": settings.DATABASES["default"].get("CONN_MAX_AGE"),
            "Q_WORKERS": settings.Q_CLUSTER["workers"],
        },
    }
    children = _Children(workdir)
    try:
        data = _populate(schedules)
        result["mix"] = data["mix"]
        result["idle"] = _measure_idle()
        result["due"] = _measure_due(data, profile=profile)
        result["loop"] = _measure_loop(children)
        result["q2_cluster"] = _measure_q2_cluster(children)
    finally:
        children.stop_all()
    result["loadavg_end"] = _loadavg()
    return result


def _progress(text: str) -> None:
    print(f"bench.scheduler: {text}", file=sys.stderr, flush=True)


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def _sqlite_version() -> str:
    import sqlite3

    return sqlite3.sqlite_version


def _floor_minute(instant: datetime) -> datetime:
    return instant.replace(second=0, microsecond=0)


def _checkpoint() -> None:
    """Start every timed pass from the same WAL state (the resets write a lot)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")


# ----------------------------------------------------------------- data


def _populate(schedules: int) -> dict:
    """100,000 schedules per side; `due` of ours get windows just before the simulated pass instant.

    Our side: every next_run_at is the recurrence's real next window after the real `now`. The due
    windows are ~20-30 min ahead of the real clock and the pass that dispatches them is simulated
    (`run_pass(now=...)`), so that neither the loop nor anything else meets them for real; no
    other schedule has a window before `horizon`.
    """
    from django.db import transaction
    from django.utils import timezone
    from django_q.models import Schedule

    from scheduling.models import ScheduledTask

    rng = random.Random(20240601)
    now = timezone.now()
    base = _floor_minute(now + timedelta(minutes=30))
    pass_at = base + timedelta(seconds=20)
    horizon = base + timedelta(minutes=5)
    created_at = now - timedelta(days=30)
    due = min(DUE, max(schedules // 10, 1))
    step = schedules // due

    _progress(f"creating {schedules:,} schedules of ours")
    cache: dict = {}
    rows, due_rows, kinds = [], [], {k: 0 for k in KINDS}
    for n in range(schedules):
        schedule = _background_schedule(rng, n, now=now, horizon=horizon, created_at=created_at, cache=cache)
        if n % step == 0 and len(due_rows) < due:
            j = len(due_rows)
            window = (base - timedelta(minutes=j % 10) if schedule.schedule_kind != "interval"
                      else base - timedelta(seconds=rng.randrange(20, 600)))
            _make_due(schedule, rng, window=window, now=now)
            due_rows.append(schedule)
        kinds[schedule.schedule_kind] += 1
        rows.append(schedule)
    # Prove the generated rows valid by the model's own rules (on a sample: full_clean is slow).
    for schedule in rows[:: max(len(rows) // 200, 1)] + due_rows[:50]:
        schedule.full_clean()
    with transaction.atomic():
        ScheduledTask.objects.bulk_create(rows, batch_size=2000)
    assert ScheduledTask.objects.filter(enabled=True, next_run_at__lte=pass_at).count() == len(due_rows)

    _progress(f"creating {schedules:,} django-q2 schedules")
    q2_rows, q2_due = [], []
    for n in range(schedules):
        kind = rng.choices(Q2_TYPES, KIND_WEIGHTS)[0]
        minute, hour = rng.randrange(0, 60, 5), rng.randrange(24)
        row = Schedule(
            name=f"q2 {n:06d}", func="math.floor", args="1", schedule_type=kind, repeats=-1,
            minutes=rng.choice(INTERVALS) if kind == Schedule.MINUTES else None,
            cron=f"{minute} {hour} * * *" if kind == Schedule.CRON else None,
            next_run=now + timedelta(seconds=rng.randrange(3600, 7 * 86400)),
        )
        q2_rows.append(row)
        if n % step == 0 and len(q2_due) < due:
            q2_due.append(row)
    with transaction.atomic():
        Schedule.objects.bulk_create(q2_rows, batch_size=2000)
        # The project registers its own pass with django-q2 (the safety net); not part of this.
        Schedule.objects.filter(func="scheduling.tasks.safety_net_pass").delete()
    _checkpoint()
    mix = ", ".join(f"{kinds[k] * 100 / schedules:.0f} % {k}" for k in KINDS)
    return {
        "now": now, "pass_at": pass_at, "due": [(s.pk, s.next_run_at) for s in due_rows],
        "q2_due": [(s.pk, rng.randrange(20, 600)) for s in q2_due], "mix": mix,
    }


def _background_schedule(rng, n, *, now, horizon, created_at, cache):
    from scheduling.models import ScheduledTask

    kind = rng.choices(KINDS, KIND_WEIGHTS)[0]
    zone = rng.choice(ZONES) if kind != "interval" else "UTC"
    while True:
        schedule = ScheduledTask(
            name=f"Backup {n:06d}", task_type="DATABASE_BACKUP", schedule_kind=kind, timezone=zone,
            params=dict(PARAMS), created_at=created_at, enabled=True,
        )
        if kind == "interval":
            schedule.interval_minutes = rng.choice(INTERVALS)
            schedule.anchor_at = created_at + timedelta(seconds=rng.randrange(86400))
            next_run_at = schedule.next_after(now)
        else:
            minute, hour = rng.randrange(0, 60, 5), rng.randrange(24)
            if kind in ("daily", "weekly"):
                schedule.schedule_time = f"{hour:02d}:{minute:02d}"
            if kind == "weekly":
                schedule.schedule_days = list(rng.choice(DAY_SETS))
            if kind == "cron":
                schedule.cron_expr = rng.choice((
                    f"{minute} {hour} * * *", f"{minute} {hour} * * 1-5", f"{minute} {hour} 1,15 * *",
                    f"{minute} {hour} * * 0,6", f"{minute} {hour % 12},{hour % 12 + 12} * * *",
                ))
            key = (kind, zone, schedule.schedule_time, tuple(schedule.schedule_days), schedule.cron_expr)
            if key not in cache:
                cache[key] = schedule.next_after(now)
            next_run_at = cache[key]
        # No window between now and the horizon: the loop must be idle and only the chosen
        # schedules due at the simulated pass.
        if next_run_at > horizon:
            schedule.next_run_at = next_run_at
            return schedule


def _make_due(schedule, rng, *, window: datetime, now: datetime) -> None:
    """Rewrite a schedule's timing so that `window` is its next real window after `now`."""
    from zoneinfo import ZoneInfo

    for zone in (schedule.timezone, "UTC"):  # UTC if a DST change happens to fall right there
        schedule.timezone = zone
        local = window.astimezone(ZoneInfo(zone))
        kind = schedule.schedule_kind
        if kind == "interval":
            step = timedelta(minutes=schedule.interval_minutes)
            schedule.anchor_at = window - step * max(1, 7 * 1440 // schedule.interval_minutes)
        elif kind in ("daily", "weekly"):
            schedule.schedule_time = f"{local:%H:%M}"
            if kind == "weekly":
                wanted = set(schedule.schedule_days) | {WEEKDAYS[local.weekday()]}
                schedule.schedule_days = [d for d in WEEKDAYS if d in wanted]
        else:
            schedule.cron_expr = rng.choice((
                f"{local.minute} {local.hour} * * *",
                f"{local.minute} {local.hour} * * {local.isoweekday() % 7}",
                f"{local.minute} {local.hour} {local.day} * *",
            ))
        if schedule.next_after(now) == window and schedule.next_after(window - timedelta(microseconds=1)) == window:
            schedule.next_run_at = window
            return
    raise AssertionError(f"could not place a window at {window} for {schedule.schedule_kind}")


# ----------------------------------------------------------------- passes


def _stats(times: list[float]) -> dict:
    return {"median": statistics.median(times), "p95": _percentile(times, 0.95), "min": min(times),
            "max": max(times), "times": times}


def _percentile(values: list[float], p: float) -> float | None:
    xs = sorted(values)
    if not xs:
        return None
    k = (len(xs) - 1) * p
    lo = math.floor(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


TRANSACTION_CONTROL = {"BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"}


def _captured(fn) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        wall = _timed(fn)
    verbs: dict[str, int] = {}
    transactions = 0
    for query in captured.captured_queries:
        sql = query["sql"]
        # Django records an executemany as "<n> times: <sql>".
        sql = sql.split(": ", 1)[1] if sql.split(None, 1)[0].isdigit() and " times: " in sql else sql
        verb = sql.split(None, 1)[0].upper()
        if verb in TRANSACTION_CONTROL:
            transactions += verb == "BEGIN"
            continue
        verbs[verb] = verbs.get(verb, 0) + 1
    return {
        "total": sum(verbs.values()), "verbs": verbs, "transactions": transactions,
        "ormq_inserts": sum(1 for q in captured.captured_queries
                            if q["sql"].upper().startswith('INSERT INTO "DJANGO_Q_ORMQ"')),
        "sql_seconds": sum(float(q["time"]) for q in captured.captured_queries), "wall_seconds": wall,
    }


def _breakdown(fn, reset, *, reps: int) -> dict:
    """Where a pass spends its wall time: the outermost calls into a few library entry points.

    Unlike cProfile this adds almost no overhead, so the shares hold for the real pass. Whatever
    is not inside one of these entry points (the transactions' Python glue, building the rows,
    the task types' job requests...) is "other".
    """
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.models.query import QuerySet
    from django_q.brokers.orm import ORM
    from django_q.signing import SignedPackage

    from scheduling.recurrence import Recurrence

    spent: dict[str, float] = {}
    depth = [0]
    measuring = [False]  # not while resetting between passes
    patches = []

    def model_of(args):
        return args[0].model.__name__

    entry_points = [
        (QuerySet, "bulk_update", lambda a: f"`bulk_update` of {model_of(a)} rows (CASE WHEN per field)"),
        (QuerySet, "bulk_create", lambda a: f"`bulk_create` of {model_of(a)} rows"),
        (QuerySet, "update", lambda a: f"`update` of {model_of(a)} rows"),
        (QuerySet, "_fetch_all", lambda a: f"SELECT and load {model_of(a)} rows"),
        (QuerySet, "exists", lambda a: f"`exists` on {model_of(a)}"),
        (ORM, "enqueue", lambda a: "queue messages: `OrmQ` INSERTs (django-q2 `async_task`)"),
        (SignedPackage, "dumps", lambda a: "queue messages: pickling and signing (django-q2 `async_task`)"),
        (Recurrence, "next_after", lambda a: "recurrence: `next_after` (windows due, coalesced, next)"),
        (BaseDatabaseWrapper, "commit", lambda a: "COMMIT"),
    ]
    for owner, name, label in entry_points:
        raw = owner.__dict__.get(name)
        if raw is None:
            continue
        func = raw.__func__ if isinstance(raw, staticmethod) else raw

        def wrapper(*args, __func=func, __label=label, **kwargs):
            if depth[0] or not measuring[0]:
                return __func(*args, **kwargs)
            depth[0] += 1
            started = time.perf_counter()
            try:
                return __func(*args, **kwargs)
            finally:
                depth[0] -= 1
                key = __label(args)
                spent[key] = spent.get(key, 0.0) + time.perf_counter() - started

        patches.append((owner, name, raw))
        setattr(owner, name, staticmethod(wrapper) if isinstance(raw, staticmethod) else wrapper)
    totals = []
    try:
        for _ in range(reps):
            reset()
            measuring[0] = True
            try:
                totals.append(_timed(fn))
            finally:
                measuring[0] = False
    finally:
        for owner, name, raw in patches:
            setattr(owner, name, raw)
    total = sum(totals) / reps
    parts = sorted(((label, seconds / reps) for label, seconds in spent.items()), key=lambda kv: -kv[1])
    parts.append(("other (Python between those calls: deciding windows, building rows, transactions)",
                  total - sum(seconds for _, seconds in parts)))
    return {"total": total, "parts": parts}


def _measure_idle() -> dict:
    from django.db import connection
    from django.utils import timezone
    from django_q.brokers import get_broker
    from django_q.models import OrmQ
    from django_q.scheduler import scheduler

    from scheduling import tick

    _progress("timing passes with nothing due")
    broker = get_broker()

    def ours():
        report = tick.run_pass(now=timezone.now())
        assert report.windows == 0, report

    def theirs():
        scheduler(broker=broker)

    for _ in range(20):
        ours()
        theirs()
    result = {"reps": IDLE_REPS, "ours": {}, "q2": {}}
    ours_times, q2_times = [], []
    for _ in range(IDLE_REPS):
        ours_times.append(_timed(ours))
        q2_times.append(_timed(theirs))
    assert not OrmQ.objects.exists(), "django-q2 found something due in the idle pass"
    result["ours"] = {**_stats(ours_times), "queries": _captured(ours)["total"]}
    result["q2"] = {**_stats(q2_times), "queries": _captured(theirs)["total"]}
    # Back to back, with the CPU caches warm (interleaved, each of ours follows django-q2's scan
    # of its whole table, which flushes them).
    result["ours_alone"] = _stats([_timed(ours) for _ in range(IDLE_REPS)])

    # The note: django-q2 with an index on next_run. Dropped again afterwards, so the
    # 1,000-due pass and the cluster run against stock django-q2.
    with connection.cursor() as cursor:
        cursor.execute("CREATE INDEX bench_q2_next_run ON django_q_schedule (next_run)")
    try:
        for _ in range(10):
            theirs()
        ours_times, q2_times = [], []
        for _ in range(IDLE_REPS_INDEXED):
            ours_times.append(_timed(ours))
            q2_times.append(_timed(theirs))
        result["ours_beside_indexed"] = _stats(ours_times)
        result["q2_indexed"] = _stats(q2_times)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP INDEX bench_q2_next_run")
    for side in ("ours", "q2", "ours_alone", "ours_beside_indexed", "q2_indexed"):
        result[side].pop("times")
    return result


def _measure_due(data: dict, *, profile: bool) -> dict:
    from django.utils import timezone
    from django_q.brokers import get_broker
    from django_q.models import OrmQ, Schedule
    from django_q.scheduler import scheduler

    from jobs.models import Job
    from scheduling import tick
    from scheduling.models import ScheduledTask, ScheduleRun

    due = len(data["due"])
    _progress(f"timing passes with {due:,} due")
    broker = get_broker()
    Link = ScheduleRun.jobs.through
    reports = []

    def reset_ours():
        Link.objects.all().delete()
        ScheduleRun.objects.all().delete()
        Job.objects.all().delete()
        OrmQ.objects.all().delete()
        ScheduledTask.objects.bulk_update(
            [ScheduledTask(pk=pk, next_run_at=at, last_run_at=None, last_outcome="") for pk, at in data["due"]],
            ["next_run_at", "last_run_at", "last_outcome"], batch_size=250,
        )
        _checkpoint()

    def ours():
        reports.append(tick.run_pass(now=data["pass_at"]))

    def check_ours():
        report = reports[-1]
        assert report.outcomes == {"dispatched": due}, report.outcomes
        assert ScheduleRun.objects.count() == due and Job.objects.count() == due
        assert Link.objects.count() == due and OrmQ.objects.count() == due
        assert not ScheduledTask.objects.filter(enabled=True, next_run_at__lte=data["pass_at"]).exists()

    def reset_q2(*, past: bool = True):
        OrmQ.objects.all().delete()
        now = timezone.now()
        Schedule.objects.bulk_update(
            [Schedule(pk=pk, next_run=now - timedelta(seconds=offset) if past else now + timedelta(days=1),
                      task=None) for pk, offset in data["q2_due"]],
            ["next_run", "task"], batch_size=250,
        )
        _checkpoint()

    def theirs():
        scheduler(broker=broker)

    def check_q2():
        assert OrmQ.objects.count() == due, OrmQ.objects.count()
        assert Schedule.objects.filter(pk__in=[pk for pk, _ in data["q2_due"]], task__isnull=False).count() == due

    # Untimed warm-up, with the queries captured.
    reset_ours()
    ours_queries = _captured(ours)
    check_ours()
    reset_q2()
    q2_queries = _captured(theirs)
    check_q2()

    ours_times, q2_times = [], []
    for rep in range(DUE_REPS):
        sides = [(reset_ours, ours, check_ours, ours_times), (reset_q2, theirs, check_q2, q2_times)]
        for reset, fn, check, times in sides if rep % 2 == 0 else reversed(sides):
            reset()
            times.append(_timed(fn))
            check()

    result = {
        "due": due,
        "ours": {**_stats(ours_times), "queries": ours_queries},
        "q2": {**_stats(q2_times), "queries": q2_queries},
        "written": (f"{due:,} `ScheduleRun`, {due:,} `Job`, {due:,} run–job links, {due:,} queue "
                    f"messages (`OrmQ`), {due:,} schedule updates"),
        "q2_written": f"{due:,} queue messages (`OrmQ`), {due:,} schedule updates",
    }
    result["breakdown"] = _breakdown(ours, reset_ours, reps=3)
    check_ours()
    if profile:
        import cProfile
        import io
        import pstats

        reset_ours()
        profiler = cProfile.Profile()
        profiler.runcall(ours)
        check_ours()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).strip_dirs().sort_stats("cumulative").print_stats(30)
        result["profile"] = out.getvalue()
    # Leave both sides idle in real time for the loop and the cluster.
    reset_ours()
    reset_q2(past=False)
    return result


# ----------------------------------------------------------------- processes


def _proc_stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()  # fields from the third (state) on


def _cpu_seconds(pid: int) -> float | None:
    fields = _proc_stat(pid)
    if fields is None:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _descendants(pid: int) -> list[tuple[int, str]]:
    """(pid, start time) of every process below `pid`; the start time guards against pid reuse."""
    parents: dict[int, list[tuple[int, str]]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _proc_stat(int(entry.name))
        if fields is not None:
            parents.setdefault(int(fields[1]), []).append((int(entry.name), fields[19]))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child[0])
    return found


class _Children:
    """Subprocesses of the measuring child; all of them are ended on the way out."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.procs: list[subprocess.Popen] = []

    def start(self, args: list[str], *, log_name: str, env: dict | None = None) -> tuple[subprocess.Popen, Path]:
        log_path = self.workdir / log_name
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(args, cwd=ROOT, env=env or dict(os.environ), stdout=log,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.procs.append(proc)
        return proc, log_path

    def stop(self, proc: subprocess.Popen, *, timeout: float = 20) -> None:
        family = _descendants(proc.pid) if proc.poll() is None else []
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            alive = [(pid, start) for pid, start in family
                     if (fields := _proc_stat(pid)) is not None and fields[19] == start and fields[0] != "Z"]
            for pid, _ in alive:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            if alive:
                time.sleep(2)

    def stop_all(self) -> None:
        for proc in self.procs:
            try:
                self.stop(proc)
            except Exception as exc:  # keep ending the others
                _progress(f"could not stop process {proc.pid}: {exc}")


def _wait_for_text(path: Path, text: str, *, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        content = path.read_text(errors="replace")
        if text in content:
            return
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode}:\n{content[-3000:]}")
        time.sleep(0.05)
    raise RuntimeError(f"{proc.args} did not print {text!r} within {timeout} s:\n"
                       f"{path.read_text(errors='replace')[-3000:]}")


def _latency_stats(values: list[float]) -> dict:
    if not values:
        return {"p50": None, "p99": None, "max": None, "count": 0}
    return {"p50": _percentile(values, 0.5), "p99": _percentile(values, 0.99), "max": max(values),
            "count": len(values)}


def _measure_loop(children: _Children) -> dict:
    from zoneinfo import ZoneInfo

    from django.utils import timezone
    from django_q.models import OrmQ
    from django_q.signing import SignedPackage

    from scheduling.models import ScheduledTask, ScheduleRun

    _progress(f"running schedule_tick --loop: {LOOP_IDLE_SECONDS} s idle, then lateness")
    proc, log = children.start([sys.executable, "manage.py", "schedule_tick", "--loop"], log_name="loop.log")
    _wait_for_text(log, "Scheduler running", proc=proc, timeout=60)
    time.sleep(2)  # its first passes and heartbeat

    runs_before = ScheduleRun.objects.count()
    cpu_before, wall_before = _cpu_seconds(proc.pid), time.monotonic()
    time.sleep(LOOP_IDLE_SECONDS)
    cpu_after, wall_after = _cpu_seconds(proc.pid), time.monotonic()
    idle_runs = ScheduleRun.objects.count() - runs_before
    idle_cpu = (None if cpu_before is None or cpu_after is None
                else (cpu_after - cpu_before) / (wall_after - wall_before))

    now = timezone.now()
    first = now + timedelta(seconds=3)
    probes, intended = [], []
    for i in range(LOOP_INTERVAL_PROBES):
        at = first + timedelta(seconds=i * LOOP_PROBE_SPACING)
        probes.append(ScheduledTask(name=f"Lateness probe {i:03d}", task_type="DATABASE_BACKUP",
                                    schedule_kind="interval", interval_minutes=60, anchor_at=at,
                                    params=dict(PARAMS), created_at=now))
        intended.append(at)
    minute = _floor_minute(first + timedelta(seconds=5)) + timedelta(minutes=1)
    for j in range(LOOP_CALENDAR_PROBES):
        kind, zone = ("daily", "weekly", "cron")[j % 3], ZONES[j % len(ZONES)]
        local = minute.astimezone(ZoneInfo(zone))
        probe = ScheduledTask(name=f"Lateness probe {kind} {j:03d}", task_type="DATABASE_BACKUP",
                              schedule_kind=kind, timezone=zone, params=dict(PARAMS), created_at=now)
        if kind in ("daily", "weekly"):
            probe.schedule_time = f"{local:%H:%M}"
        if kind == "weekly":
            probe.schedule_days = [WEEKDAYS[local.weekday()]]
        if kind == "cron":
            probe.cron_expr = f"{local.minute} {local.hour} * * *"
        probes.append(probe)
        intended.append(minute)
    for probe, at in zip(probes, intended):
        probe.full_clean()
        probe.next_run_at = probe.next_after(now)
        assert probe.next_run_at == at, (probe.name, probe.next_run_at, at)
    created = ScheduledTask.objects.bulk_create(probes)
    due_of = {probe.pk: at for probe, at in zip(created, intended)}
    last_due = max(intended)

    deadline = last_due + timedelta(seconds=15)
    while timezone.now() < deadline:
        if ScheduleRun.objects.filter(schedule_id__in=due_of).count() >= len(due_of):
            break
        if proc.poll() is not None:
            raise RuntimeError(f"schedule_tick --loop exited:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.25)
    children.stop(proc)

    lateness, outcomes = [], {}
    runs = list(ScheduleRun.objects.filter(schedule_id__in=due_of).values_list(
        "schedule_id", "due_at", "created_at", "outcome"))
    for schedule_id, due_at, created_at, outcome in runs:
        assert due_at == due_of[schedule_id], (schedule_id, due_at, due_of[schedule_id])
        lateness.append((created_at - due_at).total_seconds())
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    undispatched = len(due_of) - len(runs)
    # Censored at the deadline, so a window the loop never dispatched counts, not vanishes.
    lateness += [(deadline - due_of[pk]).total_seconds() for pk in set(due_of) - {r[0] for r in runs}]

    due_of_job = dict(ScheduleRun.jobs.through.objects.filter(schedulerun__schedule_id__in=due_of)
                      .values_list("job_id", "schedulerun__due_at"))
    message_lateness = []
    for payload in OrmQ.objects.values_list("payload", flat=True):
        task = SignedPackage.loads(payload)
        job_id = task["args"][0]
        if job_id in due_of_job:
            message_lateness.append((task["started"] - due_of_job[job_id]).total_seconds())
    return {
        "idle_cpu": idle_cpu, "idle_seconds": wall_after - wall_before, "idle_runs": idle_runs,
        "probes": len(due_of), "span_seconds": (last_due - first).total_seconds(),
        "lateness": _latency_stats(lateness), "undispatched": undispatched,
        "outcomes": ", ".join(f"{n} {o}" for o, n in sorted(outcomes.items())) + (
            f", {undispatched} not dispatched" if undispatched else ""),
        "message_lateness": _latency_stats(message_lateness),
    }


def _measure_q2_cluster(children: _Children) -> dict:
    from django.utils import timezone
    from django_q.models import OrmQ, Schedule, Task

    from jobs.models import Job

    # Our loop's jobs must not run in the cluster (they would back up the benchmark database).
    OrmQ.objects.all().delete()
    Job.objects.all().delete()
    _progress(f"running django-q2's qcluster for up to {Q2_DEADLINE_SECONDS} s")
    env = {**os.environ, "LOG_LEVEL": "INFO"}  # to see "Q Cluster ... running."
    proc, log = children.start([sys.executable, "manage.py", "qcluster"], log_name="qcluster.log", env=env)
    _wait_for_text(log, "running.", proc=proc, timeout=90)
    ready = timezone.now()
    cpu_wall_start = time.monotonic()
    family_before = _descendants(proc.pid)
    sentinel = next((pid for pid, _ in family_before if (f := _proc_stat(pid)) and int(f[1]) == proc.pid), None)
    cpu_before = {pid: _cpu_seconds(pid) for pid in [proc.pid] + [p for p, _ in family_before]}

    period = 30.0
    probes = [
        Schedule(name=f"{Q2_PROBE_GROUP}-{i:02d}", func="bench.scheduler.q2_probe",
                 schedule_type=Schedule.MINUTES, minutes=60, repeats=-1, intended_date_kwarg="intended",
                 next_run=ready + timedelta(seconds=1 + i * (period - 2) / Q2_PROBES))
        for i in range(Q2_PROBES)
    ]
    Schedule.objects.bulk_create(probes)
    deadline = ready + timedelta(seconds=Q2_DEADLINE_SECONDS)
    tasks = Task.objects.filter(group__startswith=Q2_PROBE_GROUP)
    while timezone.now() < deadline and tasks.count() < len(probes):
        if proc.poll() is not None:
            raise RuntimeError(f"qcluster exited:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.25)
    cpu_after = {pid: _cpu_seconds(pid) for pid in cpu_before}
    wall = time.monotonic() - cpu_wall_start
    children.stop(proc, timeout=30)

    def used(pids):
        total = 0.0
        for pid in pids:
            if cpu_before.get(pid) is None or cpu_after.get(pid) is None:
                continue
            total += cpu_after[pid] - cpu_before[pid]
        return total / wall

    dispatched, executed, calls = [], [], set()
    seen = set()
    for task in tasks:
        intended = datetime.fromisoformat(task.kwargs["intended"])
        dispatched.append((task.started - intended).total_seconds())
        executed.append((task.stopped - intended).total_seconds())
        calls.add(round((task.started - ready).total_seconds(), 1))
        seen.add(task.group)
    undispatched = [p for p in probes if p.name not in seen]
    dispatched += [(deadline - p.next_run).total_seconds() for p in undispatched]
    # One scheduler call queues all of its tasks within a fraction of a second.
    merged: list[float] = []
    for at in sorted(calls):
        if not merged or at - merged[-1] > 2:
            merged.append(at)
    return {
        "probes": len(probes), "lateness": {**_latency_stats(dispatched), "censored": bool(undispatched)},
        "executed": _latency_stats(executed), "undispatched": len(undispatched), "censored": bool(undispatched),
        "scheduler_calls": merged,
        "cpu": {"sentinel": used([sentinel]) if sentinel else None, "cluster": used(cpu_before),
                "processes": len(cpu_before), "seconds": wall},
    }


# --------------------------------------------------------------------------- entry point


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scheduler", description=__doc__.split("\n")[0])
    parser.add_argument("--schedules", type=int, default=SCHEDULES, help="schedules per side (default 100,000)")
    parser.add_argument("--profile", action="store_true", help="add a cProfile of one 1,000-due pass")
    return _harness.main_for(parser, argv, measure=_measure, measure_in_subprocess=measure_in_subprocess, render=render)


if __name__ == "__main__":
    sys.exit(main())
