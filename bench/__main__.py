"""`make bench`: run the benchmark modules of this package and update docs/benchmarks.md.

Each module `bench/<name>.py` with a `run() -> str` measures and returns its tables and figures.
The report's prose (what is measured, how, and what it means) is written by hand in
docs/benchmarks.md; only the blocks between `<!-- bench:<name> -->` and `<!-- /bench:<name> -->`
are replaced (a module without one gets a new section at the end), and `machine` says where the
latest run ran.

    .venv/bin/python -m bench                    all modules
    .venv/bin/python -m bench jobs_throughput    only the named ones; the other blocks stay
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import platform
import re
import sqlite3
import sys
import time
from importlib import metadata
from pathlib import Path

import bench
from bench._harness import progress

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "docs" / "benchmarks.md"


def module_names() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(bench.__path__) if not m.name.startswith("_"))


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass

    def version(package: str) -> str:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return "not installed"

    return "\n".join([
        f"- CPU: {cpu}, {os.cpu_count()} cores",
        f"- Python {platform.python_version()}, Django {version('Django')}, django-q2 {version('django-q2')}, "
        f"SQLite {sqlite3.sqlite_version}",
        f"- {platform.system()} {platform.release()}",
        f"- Latest run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
    ])


def update(report: str, name: str, text: str) -> str:
    block = f"<!-- bench:{name} -->\n{text.rstrip()}\n<!-- /bench:{name} -->\n"
    pattern = re.compile(rf"<!-- bench:{name} -->\n.*?<!-- /bench:{name} -->\n", re.S)
    if pattern.search(report):
        return pattern.sub(lambda _: block, report)
    return f"{report.rstrip()}\n\n## {name}\n\n{block}"


def main(argv: list[str]) -> int:
    names = argv or module_names()
    unknown = sorted(set(names) - set(module_names()))
    if unknown:
        print(f"Unknown benchmark(s): {', '.join(unknown)}. Known: {', '.join(module_names())}", file=sys.stderr)
        return 2
    report = REPORT.read_text() if REPORT.exists() else "# Benchmarks\n"
    for name in names:
        progress(name, "running")
        text = importlib.import_module(f"bench.{name}").run()
        print(text)
        report = update(report, name, text)
    REPORT.write_text(update(report, "machine", machine()))
    progress("", f"updated {REPORT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
