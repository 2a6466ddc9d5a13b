"""What every benchmark module shares: measuring in a child process with its own database.

A benchmark's `run()` never measures in the calling process. It makes a temporary work directory,
starts `python -m bench.<name> --measure ...` in a session of its own with an environment that
points Django at a fresh SQLite file in that directory, reads the one result line the child
prints, then ends whatever is left of the child's process group and removes the directory, also
on failure or timeout:

    with temp_workdir("bench-name-") as workdir:
        env = child_env(workdir)
        return measure_in_child("bench.name", ["--rounds", "3"], env=env, timeout=600)

and the module's `main()` is `main_for(parser, argv, measure=..., measure_in_subprocess=...,
render=...)`, which adds `--json` and the hidden `--measure` (the child's side) to its parser.

The leading underscore keeps this module out of `python -m bench`'s list of benchmarks.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

RESULT_PREFIX = "BENCH-RESULT "
# Set by the parent to the child's work directory; `--measure` refuses to run without it.
WORKDIR_ENV = "BENCH_WORKDIR"
# Seconds to wait for the process group after SIGTERM, then after SIGKILL.
TERM_GRACE_SECONDS = 20
KILL_GRACE_SECONDS = 5


# --------------------------------------------------------------------------- the parent side


@contextmanager
def temp_workdir(prefix: str) -> Iterator[Path]:
    """A fresh temporary directory for one child, removed with everything in it on the way out."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield workdir
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def child_env(workdir: Path, **overrides: str) -> dict[str, str]:
    """This process's environment plus the project's settings, isolated in `workdir`.

    A fresh SQLite database and var directory in `workdir`, the project's defaults otherwise (the
    ORM broker in that same database: no Redis), and logging at WARNING: the benchmarks measure
    the work, not the logging of every task (errors, and any "database is locked", still show).
    `overrides` set further variables or replace these.
    """
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


def measure_in_child(module: str, args: list[str], *, env: dict[str, str], timeout: float) -> dict:
    """Run `python -m <module> --measure <args>` and return the result it printed.

    The child runs in its own session, so that it and everything it starts (loops, clusters and
    their workers) can be ended by its one process group id, whatever happens here. Raises
    RuntimeError if it fails or prints no result, subprocess.TimeoutExpired after `timeout` s.
    """
    proc = subprocess.Popen([sys.executable, "-m", module, "--measure", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, start_new_session=True)
    try:
        stdout, _ = proc.communicate(timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"{module} --measure failed with exit code {proc.returncode}")
        result = read_result(stdout)
        if result is None:
            raise RuntimeError(f"{module} --measure printed no result")
        return result
    finally:
        end_process_group(proc)
        if proc.stdout is not None:
            proc.stdout.close()


def read_result(stdout: str) -> dict | None:
    """The result in the last line of `stdout` that starts with RESULT_PREFIX, if any."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX):])
    return None


def end_process_group(proc: subprocess.Popen) -> None:
    """End whatever is left of the process group that `proc` leads (normally nothing).

    SIGTERM first, SIGKILL to what is still there after TERM_GRACE_SECONDS; returns when the
    group is gone or KILL_GRACE_SECONDS later. `proc` itself is reaped on the way.
    """
    try:
        for sig, grace in ((signal.SIGTERM, TERM_GRACE_SECONDS), (signal.SIGKILL, KILL_GRACE_SECONDS)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                return
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline:
                proc.poll()  # reap the child, or its zombie keeps the group alive
                try:
                    os.killpg(proc.pid, 0)
                except ProcessLookupError:
                    return
                time.sleep(0.1)
    finally:
        proc.poll()


# --------------------------------------------------------------------------- the child side


def child_workdir() -> Path:
    """In the measuring child: the work directory its parent made (see `child_env`)."""
    return Path(os.environ[WORKDIR_ENV])


def emit_result(result: dict) -> None:
    """In the measuring child: print the result line that `measure_in_child` reads."""
    print(RESULT_PREFIX + json.dumps(result, default=str), flush=True)


# --------------------------------------------------------------------------- entry point


def main_for(
    parser: argparse.ArgumentParser,
    argv: list[str] | None,
    *,
    measure: Callable[..., dict],
    measure_in_subprocess: Callable[..., dict],
    render: Callable[[dict], str],
) -> int:
    """A benchmark module's `main()`, given its parser with the module's own options.

    Adds `--json` (print the raw measurements instead of the markdown section) and the hidden
    `--measure`, and passes the module's own options as keyword arguments (by their argparse
    names) to one of two functions. Without `--measure` this is the parent:
    `measure_in_subprocess(**options)` starts the child and returns its result. With it, this is
    the child: `measure(**options)` measures here, with SIGTERM (how the parent ends the group)
    turned into an exit that runs the clean-up.
    """
    parser.add_argument("--json", action="store_true", help="print the raw measurements as JSON")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)  # the child's side
    args = parser.parse_args(argv)
    options = {name: value for name, value in vars(args).items() if name not in ("json", "measure")}
    if args.measure:
        if WORKDIR_ENV not in os.environ:
            parser.error("--measure runs in the child that run() starts; use no flag instead")
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        emit_result(measure(**options))
        return 0
    result = measure_in_subprocess(**options)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(render(result), end="")
    return 0
