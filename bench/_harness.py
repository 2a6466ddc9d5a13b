"""What the benchmark modules share: a measuring child with its own database, and small helpers.

A module's `run()` never measures in the calling process: it starts `python -m bench.<name>
--measure ...` in a session of its own, in a temporary directory with a fresh SQLite database,
reads the one result line the child prints, and ends whatever is left of the child's process
group and removes the directory, also on failure or timeout. `main_for()` is the module's
command line (`--raw`, and the hidden `--measure` of the child's side).

A module's `figures(measured)` turns what its child measured into the numbers `python -m bench`
keeps in docs/benchmarks.json: named values and `tables`, lists of rows (a dict per row, its keys
the column headings), which the document shows as they are.

The leading underscore keeps this module out of `python -m bench`'s list of benchmarks.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.servers import ROOT, group_members, wait_until

RESULT_PREFIX = "BENCH-RESULT "
WORKDIR_ENV = "BENCH_WORKDIR"  # set by the parent; `--measure` refuses to run without it


def child_env(workdir: Path, **overrides: str) -> dict[str, str]:
    """The project's settings on a fresh SQLite file in `workdir`, the ORM broker (no Redis), and
    logging at WARNING: the benchmarks measure the work, not the logging of every task."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"sqlite:///{workdir / 'bench.sqlite3'}",
        "VAR_DIR": str(workdir / "var"),
        "SECRET_KEY": "benchmark-only-not-secret",
        "DEBUG": "False",
        "REDIS_URL": "",
        "LOG_LEVEL": "WARNING",
        WORKDIR_ENV: str(workdir),
        **overrides,
    }


def measure_in_child(module: str, args: list[str], *, timeout: float, prefix: str,
                     prepare: Callable[[Path], dict[str, str]] = lambda workdir: {}) -> dict:
    """Run `python -m <module> --measure <args>` in a fresh work directory; the result it printed.

    `prepare(workdir)` may write files there and returns extra environment variables.
    """
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    proc = None
    try:
        env = child_env(workdir, **prepare(workdir))
        proc = subprocess.Popen([sys.executable, "-m", module, "--measure", *args], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, start_new_session=True)
        stdout, _ = proc.communicate(timeout=timeout)
        results = [line[len(RESULT_PREFIX):] for line in stdout.splitlines() if line.startswith(RESULT_PREFIX)]
        if proc.returncode != 0 or not results:
            raise RuntimeError(f"{module} --measure failed (exit code {proc.returncode}, {len(results)} results)")
        return json.loads(results[-1])
    finally:
        if proc is not None:
            _end_group(proc)
        shutil.rmtree(workdir, ignore_errors=True)


def _end_group(proc: subprocess.Popen) -> None:
    """SIGTERM to what is left of the child's process group (normally nothing), then SIGKILL."""
    for sig, grace in ((signal.SIGTERM, 20), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            wait_until(lambda: proc.poll() is not None and not group_members(proc.pid), timeout=grace, message="",
                       interval=0.1)
            break
        except AssertionError:
            continue
    proc.poll()
    if proc.stdout is not None:
        proc.stdout.close()


def workdir() -> Path:
    """In the measuring child: the work directory its parent made."""
    return Path(os.environ[WORKDIR_ENV])


def progress(module: str, text: str) -> None:
    """A line on stderr, for whoever waits for a benchmark (`module` "" for `python -m bench` itself)."""
    print(f"[{'.'.join(filter(None, ('bench', module)))}] {text}", file=sys.stderr, flush=True)


def quantile(values: list[float], q: float) -> float:
    """The q-quantile (0 ≤ q ≤ 1), interpolated between the two nearest values (as `statistics`'
    "inclusive" method)."""
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summary(values: list[float]) -> dict:
    """Median, p95, p99, min and max (None for an empty list)."""
    if not values:
        return dict.fromkeys(("median", "p95", "p99", "min", "max"))
    return {"median": quantile(values, 0.5), "p95": quantile(values, 0.95), "p99": quantile(values, 0.99),
            "min": min(values), "max": max(values)}


@dataclass(frozen=True)
class ProcStat:
    parent: int
    cpu_seconds: float  # user + system, so far


def proc_stat(pid: int) -> ProcStat | None:
    """A process's parent and CPU time from /proc/<pid>/stat; None once it has ended. (A cluster's
    workers are its children: this process's own rusage does not see them until they end.)"""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # the name before it, in parentheses, may hold anything
    return ProcStat(parent=int(fields[1]), cpu_seconds=(int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"))


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU of these processes so far (those that have ended count nothing)."""
    return sum(stat.cpu_seconds for stat in map(proc_stat, pids) if stat is not None)


def main_for(parser: argparse.ArgumentParser, argv: list[str] | None, *, measure: Callable[..., dict],
             measure_in_child: Callable[..., dict], figures: Callable[[dict], dict]) -> int:
    """A module's `main()`: its parser's options go as keyword arguments to `measure_in_child`
    (here, then `figures`, printed as JSON) or, with the hidden `--measure`, to `measure` (the child)."""
    parser.add_argument("--raw", action="store_true", help="print the raw measurements, not the figures")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    options = {name: value for name, value in vars(args).items() if name not in ("raw", "measure")}
    if args.measure:
        if WORKDIR_ENV not in os.environ:
            parser.error("--measure runs in the child that run() starts; use no flag instead")
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # how the parent ends the group: clean up
        print(RESULT_PREFIX + json.dumps(measure(**options), default=str), flush=True)
        return 0
    result = measure_in_child(**options)
    print(json.dumps(result if args.raw else figures(result), indent=2, ensure_ascii=False))
    return 0


def row(measurement: str, value, target: str | None = None, met: bool | None = None) -> dict:
    """One row of a module's measurement table (docs/benchmarks.md renders it): what, how much, the
    target if there is one and whether it was met."""
    return {"measurement": measurement, "value": value, "target": target, "met?": met}


def bench_db() -> Path:
    """The measuring child's SQLite database (in its work folder)."""
    return workdir() / "bench.sqlite3"


def cpu_children() -> float:
    """CPU seconds (user + system) of this process's finished children so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(argv: list[str], cpu: list[float] | None = None, **kwargs) -> float:
    """Run a stock tool to its end (its output discarded) and return its wall time; its CPU time is
    appended to `cpu` if given. `kwargs` go to subprocess.run (timeout, input...)."""
    started, cpu_before = time.monotonic(), cpu_children()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, **kwargs)
    if cpu is not None:
        cpu.append(cpu_children() - cpu_before)
    return time.monotonic() - started
