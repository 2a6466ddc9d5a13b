"""`make bench`: run the benchmark modules of this package; their numbers go to docs/benchmarks.json
and the tables of docs/benchmarks.md are rendered again from it.

Each module `bench/<name>.py` has a `run() -> dict`: its figures, numbers and tables of numbers
(bench/_harness.py). They are kept under the module's name with when, where and at what load
average they were measured; a run of some modules keeps the others' figures. The report's prose
(what is measured, how, and what it means) is written by hand in docs/benchmarks.md; only the
blocks between `<!-- bench:<name>.<table> -->` and `<!-- /bench:<name>.<table> -->` are replaced by
that table of the module's figures, `bench:<name>` by its single figures, and `bench:machine` by
where and when each module ran.

    .venv/bin/python -m bench                    all modules
    .venv/bin/python -m bench jobs_throughput    only the named ones; the others' figures stay
    .venv/bin/python -m bench --render           only render the document's tables from the JSON
"""

from __future__ import annotations

import importlib
import json
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
RESULTS = ROOT / "docs" / "benchmarks.json"
BLOCK = re.compile(r"(<!-- bench:(?P<name>[\w.]+) -->\n).*?(<!-- /bench:(?P=name) -->)", re.S)


def module_names() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(bench.__path__) if not m.name.startswith("_"))


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass

    def version(package: str) -> str:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return "not installed"

    return {"CPU": f"{cpu}, {os.cpu_count()} cores", "system": f"{platform.system()} {platform.release()}",
            "Python": platform.python_version(), "Django": version("Django"), "django-q2": version("django-q2"),
            "SQLite": sqlite3.sqlite_version}


def measure(name: str) -> dict:
    progress(name, "running")
    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    figures = importlib.import_module(f"bench.{name}").run()
    load_after = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return {"measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine(),
            "load_average": f"{load_before} / {load_after}", "figures": rounded(figures)}


def rounded(value):
    """Floats to 4 significant digits, inside lists and dicts too: more would be noise."""
    if isinstance(value, float):
        return float(f"{value:.4g}")
    if isinstance(value, list):
        return [rounded(v) for v in value]
    if isinstance(value, dict):
        return {key: rounded(v) for key, v in value.items()}
    return value


def cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "**no**"
    if isinstance(value, list):
        return ", ".join(cell(v) for v in value)
    if isinstance(value, (int, float)):
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        text = f"{value:.4g}"
        return f"{value:.6f}".rstrip("0") if "e" in text else text  # 0.000095, not 9.5e-05
    return str(value)


def table(rows: list[dict]) -> str:
    """A markdown table, a column per key of the first row; columns of numbers aligned right."""
    def number(value) -> bool:
        values = value if isinstance(value, list) else [value]
        return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)

    columns = list(rows[0])
    right = [all(number(row[c]) for row in rows if row[c] is not None) for c in columns]
    lines = ["| " + " | ".join(columns) + " |", "| " + " | ".join("---:" if r else "---" for r in right) + " |"]
    return "\n".join(lines + ["| " + " | ".join(cell(row[c]) for c in columns) + " |" for row in rows])


def tables_of(results: dict) -> dict[str, list[dict]]:
    """Every table the document may show: `machine`, and per module `<name>` (its single figures)
    and `<name>.<table>`."""
    tables = {"machine": [{"benchmark": name, "measured": r["measured"], **r["machine"],
                           "load average at start / end": r["load_average"]} for name, r in sorted(results.items())]}
    for name, r in results.items():
        figures = dict(r["figures"])
        tables.update({f"{name}.{key}": rows for key, rows in figures.pop("tables", {}).items()})
        tables[name] = [{"figure": key, "value": value} for key, value in figures.items()]
    return tables


def render(report: str, results: dict) -> str:
    tables = tables_of(results)
    shown = {match["name"] for match in BLOCK.finditer(report)}
    for name in sorted(set(tables) - shown):
        progress("", f"{REPORT.name} does not show {name}: add <!-- bench:{name} --> and <!-- /bench:{name} --> "
                     "on lines of their own")

    def replace(match: re.Match) -> str:
        if match["name"] not in tables:
            raise SystemExit(f"{REPORT.name} shows bench:{match['name']}, which {RESULTS.name} does not have")
        return f"{match[1]}{table(tables[match['name']])}\n{match[3]}"

    return BLOCK.sub(replace, report)


def main(argv: list[str]) -> int:
    render_only = argv == ["--render"]
    names = [] if render_only else argv or module_names()
    unknown = sorted(set(names) - set(module_names()))
    if unknown:
        print(f"Unknown benchmark(s): {', '.join(unknown)}. Known: {', '.join(module_names())}", file=sys.stderr)
        return 2
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    for name in names:
        results[name] = measure(name)
        RESULTS.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")  # each as soon as it is done
    REPORT.write_text(render(REPORT.read_text(), results))
    progress("", f"rendered the tables of {REPORT} from {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
