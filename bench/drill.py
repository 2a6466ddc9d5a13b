"""The restore drill on SQLite, end to end, beside the stock tools doing the same checks in the same run.

The ~500 MB database of bench/backup.py (the app's migrated schema plus one large table of video-like
rows, WAL mode), backed up once by `backup_create()` (which now also counts the rows of every table, in
the checker thread, while the copy is compressed). Then, each round, interleaved:

- the tools: `sha256sum` of the file, `zstd -d` of it into a scratch file, `sqlite3 scratch "PRAGMA
  integrity_check"`, and one `sqlite3` run counting the rows of every table (`SELECT count(*)` each);
  each timed as a separate process, their sum is the reference;
- ours: `backup_drill_run()` in a fresh worker process (Django set up, as a qcluster worker has it):
  the lock, leftovers, manifest, SHA-256 against the manifest and the record, streamed decompression
  into a scratch folder of BACKUP_DIR, integrity check, migrations check, row counts compared with the
  manifest, the record on the backup, the scratch folder removed. Its peak memory is the worker's
  `ru_maxrss` (Django included).

The row counting at backup time is timed on its own too (`count_rows` on the uncompressed copy).

    .venv/bin/python -m bench.drill               the figures, as JSON
    .venv/bin/python -m bench.drill --size-mb 100 a quicker run
    .venv/bin/python -m bench.drill --raw         the raw measurements
"""

from __future__ import annotations

import argparse
import json
import resource
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench import _harness
from bench.backup import _generate

SIZE_MB = 500
ROUNDS = 3
MEASURE_TIMEOUT_SECONDS = 1800


def run(*, size_mb: int = SIZE_MB, rounds: int = ROUNDS) -> dict:
    return figures(measure_in_child(size_mb=size_mb, rounds=rounds))


def measure_in_child(*, size_mb: int = SIZE_MB, rounds: int = ROUNDS) -> dict:
    return _harness.measure_in_child("bench.drill", ["--size-mb", str(size_mb), "--rounds", str(rounds)],
                                     timeout=MEASURE_TIMEOUT_SECONDS, prefix="bench-drill-",
                                     prepare=lambda workdir: {"BACKUP_DIR": str(workdir / "backups")})


# --------------------------------------------------------------------------- the measuring child


def _tools_round(backup_file: Path, tables: list[str], scratch: Path) -> dict:
    copy = scratch / "tools-drill.sqlite3"
    counts_sql = "".join(f'SELECT count(*) FROM "{table}";' for table in tables)
    result = {
        "sha256sum": _harness.timed(["sha256sum", str(backup_file)]),
        "zstd_d": _harness.timed(["zstd", "-d", "-q", "-f", str(backup_file), "-o", str(copy)]),
        "integrity_check": _harness.timed(["sqlite3", str(copy), "PRAGMA integrity_check"]),
        "count_rows": _harness.timed(["sqlite3", str(copy), counts_sql]),
    }
    copy.unlink()
    result["sum"] = sum(result.values())
    return result


def _ours_round() -> dict:
    output = subprocess.run([sys.executable, "-m", "bench.drill", "--drill-worker"], check=True,
                            capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def _drill_worker() -> None:
    import django

    django.setup()
    from django.utils import timezone

    from backups import files, sqlite_engine
    from backups.services import drilling

    phases = []

    def timed(module, name):
        real = getattr(module, name)

        def wrapper(*args, **kwargs):
            start = time.monotonic()
            try:
                return real(*args, **kwargs)
            finally:
                phases.append((name, time.monotonic() - start))

        setattr(module, name, wrapper)

    for module, name in ((files, "sha256_of"), (sqlite_engine, "decompress"), (sqlite_engine, "check_copy"),
                         (sqlite_engine, "count_rows")):
        timed(module, name)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.monotonic()
    drill = drilling.backup_drill_run(job=None, now=timezone.now())
    elapsed = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    report = drill.reports[0]
    print(json.dumps({
        "seconds": elapsed, "passed": drill.passed, "problem": report.problem, "tables": report.tables,
        "rows": report.rows, "cpu_seconds": after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime,
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "rss_before_mb": rss_before / 1024,
        "phases": phases,
    }))


def _measure(*, size_mb: int, rounds: int) -> dict:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from backups import conf, sqlite_engine
    from backups.services.making import backup_create

    workdir = _harness.workdir()
    call_command("migrate", verbosity=0)
    connection.close()
    generated = _generate(_harness.bench_db(), size_mb)
    started = time.monotonic()
    backup = backup_create(now=timezone.now())
    backup_seconds = time.monotonic() - started
    if backup.status != "completed":
        raise RuntimeError(f"the backup failed: {backup.error}")
    connection.close()
    backup_file = conf.backup_dir() / backup.file_name
    tables = sorted(backup.table_rows)
    # Counting at backup time, on its own: the rows of the uncompressed copy.
    copy = workdir / "count-copy.sqlite3"
    sqlite_engine.decompress(backup_file, copy)
    counted_at = time.monotonic()
    counts = sqlite_engine.count_rows(copy)
    count_seconds = time.monotonic() - counted_at
    copy.unlink()
    if counts != backup.table_rows:
        raise RuntimeError("the counts of the copy differ from the manifest's")
    tools, ours = [], []
    for _ in range(rounds):
        tools.append(_tools_round(backup_file, tables, workdir))
        ours.append(_ours_round())
        if not ours[-1]["passed"]:
            raise RuntimeError(f"the drill failed: {ours[-1]['problem']}")
    return {"size_mb": size_mb, "rounds": rounds, "generated": generated, "database_bytes": _harness.bench_db().stat().st_size,
            "file_bytes": backup.size_bytes, "tables": len(tables), "rows": sum(backup.table_rows.values()),
            "backup_seconds": backup_seconds, "count_rows_seconds": count_seconds, "tools": tools, "ours": ours,
            "sqlite3_cli": subprocess.run(["sqlite3", "--version"], capture_output=True, text=True).stdout.split()[0],
            "sqlite_library": sqlite3.sqlite_version}


def figures(r: dict) -> dict:
    def median(rounds: list[dict], key: str) -> float:
        return statistics.median(m[key] for m in rounds)

    tools, ours = median(r["tools"], "sum"), median(r["ours"], "seconds")
    phases: dict[str, list[float]] = {}
    for o in r["ours"]:
        for name, seconds in o["phases"]:
            phases.setdefault(name, []).append(seconds)
    rows = [
        _harness.row("`sha256sum` of the file, s", median(r["tools"], "sha256sum")),
        _harness.row("`zstd -d` into a scratch file, s", median(r["tools"], "zstd_d")),
        _harness.row("`sqlite3 scratch 'PRAGMA integrity_check'`, s", median(r["tools"], "integrity_check")),
        _harness.row("`sqlite3 scratch 'SELECT count(*) …'` of every table, s", median(r["tools"], "count_rows")),
        _harness.row("the tools, sum, s", tools),
        _harness.row("ours, the whole drill in a fresh worker, s", ours),
        _harness.row("ours / the tools, wall time", ours / tools),
        _harness.row("CPU time (user + system): ours, s", median(r["ours"], "cpu_seconds")),
        _harness.row("peak memory of the worker (ru_maxrss, Django included), MB", max(o["max_rss_mb"] for o in r["ours"])),
        _harness.row("… before the drill, MB", max(o["rss_before_mb"] for o in r["ours"])),
        _harness.row("rounds, ours, s", [o["seconds"] for o in r["ours"]]),
        _harness.row("rounds, the tools' sums, s", [t["sum"] for t in r["tools"]]),
        *(_harness.row(f"our phase {name} (median), s", statistics.median(v)) for name, v in phases.items()),
        _harness.row("counting the rows at backup time (`count_rows` of the copy, alone), s", r["count_rows_seconds"]),
        _harness.row("the backup, end to end (counts in the checker thread, beside the compression), s", r["backup_seconds"]),
    ]
    return {"database, MB": r["database_bytes"] / 1e6, "backup file, MB": r["file_bytes"] / 1e6,
            "tables in the database": r["tables"], "rows in the database": r["rows"], "rounds": r["rounds"],
            "SQLite CLI": r["sqlite3_cli"], "SQLite library": r["sqlite_library"], "tables": {"drill": rows}}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--drill-worker"]:
        _drill_worker()
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=SIZE_MB)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    return _harness.main_for(parser, argv, measure=_measure, measure_in_child=measure_in_child, figures=figures)


if __name__ == "__main__":
    sys.exit(main())
