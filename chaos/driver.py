"""The chaos driver: real processes on a real database and broker, killed at random, then checked.

For each setup (pg-redis: a throwaway PostgreSQL and Redis; sqlite-orm: a SQLite file in WAL mode
and django-q2's ORM broker) it

1. creates the database and hundreds of schedules firing every minute (`* * * * *`): quick syncs of
   their own channel group against a local feed server (chaos/feeds.py, the only simulated thing: the
   internet), and CHAOS_WORK jobs that log their work outside the database (chaos/harness.py);
2. starts two `schedule_tick --loop`, two `qcluster` and a gunicorn, each a process group of its own
   (tests/servers.py Process), as the Procfile runs them;
3. for a fixed number of rounds (a seeded RNG; the seed is printed), and at least until the given
   number of minute windows have passed: sleeps a few seconds, calls `POST /api/schedules/<id>/run_now`
   with a bearer token, delivers the messages of a few recent jobs a second time (at-least-once
   delivery), SIGKILLs a random scheduler or cluster process group and starts it again; on
   pg-redis it kills and restarts Redis once (same port and folder, its messages gone);
4. stops killing, disables the schedules, waits (bounded) until nothing is active, stops the processes
   and checks the database and the work log (chaos/db.py `check`): each window exactly one run, no
   window lost, every job final, no work done twice, every completed sync's videos stored, every run and
   group sync settled, every accepted run_now run there.

It prints the counts and exits 1 naming every violation.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from chaos.feeds import FeedServer
from tests.servers import (
    ROOT,
    Process,
    create_database,
    free_port,
    group_members,
    postgres_server,
    restartable_redis_server,
    wait_until,
)

SETUPS = ("pg-redis", "sqlite-orm")
SCHEDULERS = ("scheduler-1", "scheduler-2")
WORKERS = ("worker-1", "worker-2")


@dataclass
class Options:
    setups: tuple[str, ...] = SETUPS
    seed: int = 0
    rounds: int = 30
    min_windows: int = 3  # minute boundaries that pass while killing
    schedules: int = 300
    sync_share: float = 0.35  # of the schedules: quick syncs of a group; the rest CHAOS_WORK
    channels_per_group: int = 2
    sleep: tuple[float, float] = (2.0, 8.0)
    api_calls: int = 6  # at most, per round
    deliveries_again: int = 5  # at most, per round
    settle_timeout: float = 150.0
    keep: bool = False  # keep the work folder (logs, SQLite file)


@dataclass
class Chaos:
    """What the driver did during one setup's run."""

    kills: dict[str, int] = field(default_factory=lambda: {"scheduler": 0, "worker": 0})
    killed_pids: set[int] = field(default_factory=set)
    restarts: int = 0
    died_by_themselves: list[str] = field(default_factory=list)
    redis_restarts: int = 0
    delivered_again: int = 0
    accepted_runs: list[int] = field(default_factory=list)
    api_answers: dict[str, int] = field(default_factory=dict)
    api_failures: list[str] = field(default_factory=list)


class Run:
    def __init__(self, setup: str, options: Options, rng: random.Random, workdir: Path, stack: ExitStack):
        self.setup, self.options, self.rng, self.workdir = setup, options, rng, workdir
        self.chaos = Chaos()
        self.redis = None
        if setup == "pg-redis":
            database_url = create_database(stack.enter_context(postgres_server()), "chaos")
            self.redis = stack.enter_context(restartable_redis_server())
        else:
            database_url = f"sqlite:///{workdir / 'chaos.sqlite3'}"
        feeds = stack.enter_context(FeedServer(seed=rng.randrange(2**32)))
        self.env = {key: value for key, value in os.environ.items() if key not in ("REDIS_URL", "DATABASE_URL")}
        self.env.update({
            "DJANGO_SETTINGS_MODULE": "chaos.settings", "DATABASE_URL": database_url, "VAR_DIR": str(workdir / "var"),
            "YOUTUBE_FEED_URL": feeds.feed_url, "CHAOS_WORK_LOG": str(workdir / "work.log"),
            "LOG_LEVEL": os.environ.get("CHAOS_LOG_LEVEL", "INFO"), "PYTHONUNBUFFERED": "1",
        })
        if self.redis is not None:
            self.env["REDIS_URL"] = self.redis.url
        self.web_port = free_port()
        self.processes: dict[str, Process] = {}
        stack.callback(self.stop_all)

    # --- processes ------------------------------------------------------------------------------

    def command(self, *args: str) -> str:
        done = subprocess.run([sys.executable, *args], cwd=ROOT, env=self.env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
        return done.stdout

    def db(self, *args: str) -> dict:
        return json.loads(self.command("-m", "chaos.db", *args).strip().splitlines()[-1])

    def start(self, name: str) -> None:
        log = self.workdir / f"{name}.log"
        if name in SCHEDULERS:
            process = Process(name, ["schedule_tick", "--loop"], env=self.env, log_path=log)
        elif name in WORKERS:
            process = Process(name, ["qcluster"], env=self.env, log_path=log)
        else:
            process = Process(name, ["-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{self.web_port}",
                                     "--workers", "2", "--access-logfile", "-"],
                              env=self.env, log_path=log, program=(sys.executable,))
        self.processes[name] = process

    def kill(self, name: str) -> None:
        """SIGKILL the process's whole group (a cluster's workers with it), as a crash or the OOM killer would."""
        process = self.processes[name]
        self.chaos.killed_pids.update(group_members(process.pid))
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.popen.wait(timeout=10)
        process.stop()  # closes its log; nothing is left to stop
        self.chaos.kills["scheduler" if name in SCHEDULERS else "worker"] += 1

    def restart_dead(self) -> None:
        """Start again what is not running: killed by the driver, or ended by itself (reported)."""
        for name, process in list(self.processes.items()):
            if not process.running():
                if process.popen.returncode != -signal.SIGKILL:
                    self.chaos.died_by_themselves.append(f"{name} (exit {process.popen.returncode})")
                process.stop()
                self.start(name)
                self.chaos.restarts += 1

    def stop_all(self) -> None:
        """SIGTERM to all at once (a graceful stop each), then wait for each in turn."""
        for process in self.processes.values():
            if process.running():
                process.popen.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            process.stop(timeout=15)

    # --- the API --------------------------------------------------------------------------------

    def run_now(self, schedule_id: int, token: str) -> None:
        body = json.dumps({"force": True} if self.rng.random() < 0.3 else {}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.web_port}/api/schedules/{schedule_id}/run_now", data=body, method="POST",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, answer = response.status, json.load(response)
        except urllib.error.HTTPError as exc:
            status, answer = exc.code, exc.read()[:300]
        except OSError as exc:  # the web process is never killed: refused or timed out is a failure
            status, answer = 0, repr(exc)
        self.chaos.api_answers[str(status)] = self.chaos.api_answers.get(str(status), 0) + 1
        if status == 200:
            self.chaos.accepted_runs.append(answer["run"]["id"])
        elif status != 409:  # 409: a run of it is still active, as documented
            self.chaos.api_failures.append(f"{status} {answer!r}")

    # --- the run --------------------------------------------------------------------------------

    def go(self) -> dict:
        o = self.options
        preparing = time.time()
        self.command("manage.py", "migrate", "--noinput", "-v0")
        if self.redis is None:
            self.command("manage.py", "createcachetable")
        made = self.db("setup", str(o.schedules), str(o.sync_share), str(o.channels_per_group),
                       str(self.rng.randrange(2**32)))
        schedule_ids = made.pop("schedule_ids")
        token = self.command("manage.py", "create_api_token", "chaos").strip()
        for name in (*SCHEDULERS, *WORKERS, "web"):
            self.start(name)
        wait_until(lambda: self.web_up() or not self.processes["web"].running(), timeout=30,
                   message="gunicorn did not start", details=self.processes["web"].log)
        started = time.time()
        preparing = started - preparing
        first_window = (started // 60 + 1) * 60
        windows_passed_at = first_window + 60 * (o.min_windows - 1) + 5
        rounds = 0
        while rounds < o.rounds or time.time() < windows_passed_at:
            rounds += 1
            time.sleep(self.rng.uniform(*o.sleep))
            for _ in range(self.rng.randint(0, o.api_calls)):
                self.run_now(self.rng.choice(schedule_ids), token)
            if count := self.rng.randint(0, o.deliveries_again):
                self.chaos.delivered_again += self.db("deliver-again", str(count),
                                                      str(self.rng.randrange(2**32)))["delivered_again"]
            self.restart_dead()
            self.kill(self.rng.choice((*SCHEDULERS, *WORKERS)))
            if self.redis is not None and rounds == max(o.rounds // 2, 1):
                self.redis.stop(kill=True)
                time.sleep(self.rng.uniform(0.5, 2))
                self.redis.start()
                self.chaos.redis_restarts += 1
            time.sleep(self.rng.uniform(0.2, 1.5))
            self.restart_dead()
        killing = time.time() - started

        self.db("stop-schedules")
        settle_started = time.time()
        pending = {}
        while time.time() - settle_started < o.settle_timeout:
            self.restart_dead()
            pending = self.db("pending")
            if not any(pending.values()):
                break
            time.sleep(1)
        settle = time.time() - settle_started
        self.stop_all()
        record = self.workdir / "record.json"
        record.write_text(json.dumps({"accepted_runs": self.chaos.accepted_runs,
                                      "killed_pids": sorted(self.chaos.killed_pids)}))
        report = self.db("check", str(record))
        if self.chaos.api_failures:
            report["violations"]["run_now answered with an error"] = self.chaos.api_failures[:10]
        if any(pending.values()):
            report["violations"]["not settled within the bounded wait"] = [pending]
        return {
            "setup": self.setup, **made, "rounds": rounds, "kills": self.chaos.kills,
            "restarts": self.chaos.restarts, "died_by_themselves": self.chaos.died_by_themselves,
            "redis_restarts": self.chaos.redis_restarts, "delivered_again": self.chaos.delivered_again,
            "api_answers": self.chaos.api_answers,
            "seconds_preparing": round(preparing), "seconds_killing": round(killing), "seconds_settling": round(settle), **report,
        }

    def web_up(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.web_port}/healthz", timeout=5):
                return True
        except urllib.error.HTTPError:
            return True  # answered (503 while the processes come up)
        except OSError:
            return False


def run_setup(setup: str, options: Options, rng: random.Random) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix=f"chaos-{setup}-"))
    keep = True  # unless it ends well: a failure's process logs and database are what explain it
    try:
        with ExitStack() as stack:
            report = Run(setup, options, rng, workdir, stack).go()
        keep = options.keep or bool(report["violations"])
        return report
    finally:
        if keep:
            print(f"chaos: logs and database of {setup} kept in {workdir}", flush=True)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def format_report(report: dict) -> str:
    lines = [f"== {report['setup']}: {'FAILED' if report['violations'] else 'passed'}"]
    for key, value in report.items():
        if key not in ("setup", "violations"):
            lines.append(f"  {key}: {value}")
    for name, examples in report["violations"].items():
        lines.append(f"  VIOLATION {name}: {len(examples)} e.g. {examples[:5]}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chaos", description=__doc__.splitlines()[0])
    parser.add_argument("--setup", choices=[*SETUPS, "both"], default="both")
    parser.add_argument("--seed", type=int, default=None, help="the RNG's seed (default: random, printed)")
    parser.add_argument("--rounds", type=int, default=Options.rounds)
    parser.add_argument("--min-windows", type=int, default=Options.min_windows,
                        help="keep killing until this many minute windows have passed (default %(default)s)")
    parser.add_argument("--schedules", type=int, default=Options.schedules)
    parser.add_argument("--sleep", type=float, nargs=2, default=Options.sleep, metavar=("MIN", "MAX"),
                        help="seconds between kills (default %(default)s)")
    parser.add_argument("--api-calls", type=int, default=Options.api_calls, help="run_now calls per round, at most")
    parser.add_argument("--settle-timeout", type=float, default=Options.settle_timeout)
    parser.add_argument("--keep", action="store_true",
                        help="keep each setup's folder (process logs, database); kept anyway when it fails")
    parser.add_argument("--parallel", action="store_true",
                        help="run the setups at the same time, not one after the other (the short run in make test)")
    parser.add_argument("--json", type=Path, help="also write the reports to this file")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31)
    options = Options(setups=SETUPS if args.setup == "both" else (args.setup,), seed=seed, rounds=args.rounds,
                      min_windows=args.min_windows, schedules=args.schedules, sleep=tuple(args.sleep),
                      api_calls=args.api_calls, settle_timeout=args.settle_timeout, keep=args.keep)
    print(f"chaos: seed {seed} (python -m chaos --seed {seed} repeats the driver's choices)", flush=True)
    def one(setup: str) -> dict:
        report = run_setup(setup, options, random.Random(f"{seed}-{setup}"))
        print(format_report(report), flush=True)
        return report

    if args.parallel:
        # Each setup's servers, processes and RNG are its own; the minute windows they wait for are shared.
        with ThreadPoolExecutor(len(options.setups)) as pool:
            reports = list(pool.map(one, options.setups))
    else:
        reports = [one(setup) for setup in options.setups]
    if args.json:
        args.json.write_text(json.dumps(reports, indent=2, default=str))
    failed = [report["setup"] for report in reports if report["violations"]]
    print(f"chaos: {'FAILED: ' + ', '.join(failed) if failed else 'every check passed'} (seed {seed})", flush=True)
    return 1 if failed else 0
