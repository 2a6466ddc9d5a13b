"""`make bench`: run every benchmark module in this package and write docs/benchmarks.md.

Each module `bench/<name>.py` with a `run() -> str` contributes one markdown section (starting
with its own `## ` heading). The report begins with the machine the numbers come from.

    .venv/bin/python -m bench                    all modules, then write docs/benchmarks.md
    .venv/bin/python -m bench jobs_throughput    only the named modules; the other sections
                                                 already in docs/benchmarks.md are kept
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

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "docs" / "benchmarks.md"
SECTION = re.compile(r"<!-- bench:(?P<name>\w+) -->\n(?P<body>.*?)<!-- /bench:(?P=name) -->\n", re.S)


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
        f"- Written {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
    ])


def existing_sections() -> dict[str, str]:
    if not REPORT.exists():
        return {}
    return {m["name"]: m["body"] for m in SECTION.finditer(REPORT.read_text())}


def main(argv: list[str]) -> int:
    names = argv or module_names()
    unknown = sorted(set(names) - set(module_names()))
    if unknown:
        print(f"Unknown benchmark(s): {', '.join(unknown)}. Known: {', '.join(module_names())}", file=sys.stderr)
        return 2
    sections = existing_sections() if argv else {}
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        if not hasattr(module, "run"):
            continue
        print(f"Running bench.{name} ...", file=sys.stderr, flush=True)
        section = module.run().rstrip() + "\n"
        sections[name] = section
        print(section)
    body = "".join(f"<!-- bench:{name} -->\n{text}<!-- /bench:{name} -->\n\n" for name, text in sorted(sections.items()))
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(
        "# Benchmarks\n\n"
        "Written by `make bench` (`python -m bench`). Each section says when it was measured; the machine of "
        "the latest run:\n\n"
        f"{machine()}\n\n{body}"
    )
    print(f"Wrote {REPORT.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
