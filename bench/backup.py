"""SQLite backup, end to end, beside the best separate tools run in the same benchmark.

A ~500 MB SQLite database (the app's migrated schema plus one large table of video-like rows,
written with executemany in one transaction), WAL mode as the app runs it. Each round, interleaved:

- the tools: `sqlite3 DB ".backup copy"`, then `zstd -3` of the copy, then `sqlite3 copy
  "PRAGMA integrity_check"`, each timed as a separate process; their sum is the reference;
- ours: `backups.services.making.backup_create()` in a fresh worker process (Django set up, as a qcluster
  worker has it): copy in one step, journal_mode=DELETE, integrity check, streamed zstd level 3,
  SHA-256 of the published bytes, fsync, rename, manifest, fsync of the folder, the Backup row.
  Its peak memory is the worker's `ru_maxrss` (Django included).

One more backup runs while a writer process commits one small row per transaction (its own
sqlite3 connection, BEGIN IMMEDIATE, synchronous=NORMAL as the app): the longest commit during
the backup is the pause a writer sees.

    .venv/bin/python -m bench.backup               the figures, as JSON
    .venv/bin/python -m bench.backup --size-mb 100 a quicker run
    .venv/bin/python -m bench.backup --raw         the raw measurements
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench import _harness

SIZE_MB = 500
ROUNDS = 3
TARGET_RATIO = 1.1
TARGET_PAUSE_MS = 100
TARGET_MEMORY_MB = 100
MEASURE_TIMEOUT_SECONDS = 1800


def run(*, size_mb: int = SIZE_MB, rounds: int = ROUNDS) -> dict:
    return figures(measure_in_child(size_mb=size_mb, rounds=rounds))


def measure_in_child(*, size_mb: int = SIZE_MB, rounds: int = ROUNDS) -> dict:
    return _harness.measure_in_child("bench.backup", ["--size-mb", str(size_mb), "--rounds", str(rounds)],
                                     timeout=MEASURE_TIMEOUT_SECONDS, prefix="bench-backup-",
                                     prepare=lambda workdir: {"BACKUP_DIR": str(workdir / "backups")})


# --------------------------------------------------------------------------- the measuring child


def _generate(path: Path, size_mb: int) -> dict:
    """Fill the migrated database up to size_mb with rows that compress like real text."""
    rng = random.Random(42)
    words = [("".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 10))))
             for _ in range(5000)]
    titles = [" ".join(rng.choices(words, k=rng.randint(4, 12))).capitalize() for _ in range(20011)]
    descriptions = [" ".join(rng.choices(words, k=rng.randint(20, 60))) for _ in range(30011)]
    started = time.monotonic()
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE bench_video (id INTEGER PRIMARY KEY, channel_id TEXT NOT NULL, youtube_id TEXT NOT "
               "NULL, title TEXT NOT NULL, description TEXT NOT NULL, url TEXT NOT NULL, published_at TEXT NOT "
               "NULL, views INTEGER NOT NULL)")
    target = size_mb * 1_000_000
    batch, row_id = 20_000, 0
    db.execute("BEGIN")
    while True:
        db.executemany("INSERT INTO bench_video VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (
            (i, f"UC{(i * 2654435761) % 10**22:022d}", f"{(i * 40503) % 16**11:011x}", titles[i % 20011],
             descriptions[(i * 7) % 30011], f"https://www.youtube.com/watch?v={(i * 40503) % 16**11:011x}",
             f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00Z", (i * 7919) % 10_000_000)
            for i in range(row_id + 1, row_id + batch + 1)))
        row_id += batch
        pages, page_size = db.execute("PRAGMA page_count").fetchone()[0], db.execute("PRAGMA page_size").fetchone()[0]
        if pages * page_size >= target:
            break
    db.execute("COMMIT")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return {"rows": row_id, "seconds": time.monotonic() - started, "bytes": path.stat().st_size}


def _tools_round(db: Path, scratch: Path, backup_timeout: float | None = None) -> dict:
    copy, compressed = scratch / "tools-copy.sqlite3", scratch / "tools-copy.sqlite3.zst"
    cpu: list[float] = []
    wall_start = time.time()
    try:
        backup_seconds = _harness.timed(["sqlite3", str(db), f".backup '{copy}'"], cpu, timeout=backup_timeout)
    except subprocess.TimeoutExpired:
        # `.backup` copies 100 pages a step and starts again whenever another connection writes.
        copy.unlink(missing_ok=True)
        return {"gave_up_after": backup_timeout, "wall_start": wall_start, "wall_end": time.time()}
    result = {
        "backup": backup_seconds,
        "zstd": _harness.timed(["zstd", "-3", "-q", "-f", str(copy), "-o", str(compressed)], cpu),
        "integrity_check": _harness.timed(["sqlite3", str(copy), "PRAGMA integrity_check"], cpu),
        "compressed_bytes": compressed.stat().st_size,
        "wall_start": wall_start,
        "wall_end": time.time(),
    }
    result["cpu_seconds"] = sum(cpu)
    copy.unlink()
    compressed.unlink()
    result["sum"] = result["backup"] + result["zstd"] + result["integrity_check"]
    return result


def _ours_round() -> dict:
    """One backup in a fresh worker process (`--backup-worker`); its files are removed after."""
    output = subprocess.run([sys.executable, "-m", "bench.backup", "--backup-worker"], check=True,
                            capture_output=True, text=True).stdout
    result = json.loads(output.strip().splitlines()[-1])
    backup_dir = Path(os.environ["BACKUP_DIR"])
    for name in (result["file"], result["file"] + ".json"):
        (backup_dir / name).unlink()
    return result


def _backup_worker() -> None:
    import django

    django.setup()
    from django.utils import timezone

    from backups import files, sqlite_engine
    from backups.services.making import backup_create

    phases = []

    def timed(module, name):
        real = getattr(module, name)

        def wrapper(*args, **kwargs):
            start = time.time()
            try:
                return real(*args, **kwargs)
            finally:
                phases.append((name, start, time.time()))

        setattr(module, name, wrapper)

    for module, name in ((sqlite_engine, "copy_database"), (sqlite_engine, "check_copy"), (sqlite_engine, "compress"),
                         (files, "publish"), (files, "write_manifest"), (files, "fsync_dir")):
        timed(module, name)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.monotonic()
    wall_start = time.time()
    backup = backup_create(now=timezone.now())
    elapsed = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({
        "cpu_seconds": after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime,
        "seconds": elapsed, "wall_start": wall_start, "wall_end": time.time(), "status": backup.status,
        "error": backup.error, "file": backup.file_name, "size_bytes": backup.size_bytes,
        "database_size_bytes": backup.database_size_bytes,
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_before_mb": rss_before / 1024, "phases": phases,
    }))


def _writer(db_path: str, stop_file: str, out_file: str) -> None:
    """Commit one row per transaction until stop_file exists; write (start, seconds) per commit."""
    db = sqlite3.connect(db_path, timeout=20, isolation_level=None)
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE IF NOT EXISTS bench_writer (id INTEGER PRIMARY KEY, at REAL NOT NULL)")
    commits = []
    while not os.path.exists(stop_file):
        wall, started = time.time(), time.monotonic()
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO bench_writer (at) VALUES (?)", (wall,))
        db.execute("COMMIT")
        commits.append((wall, time.monotonic() - started))
        time.sleep(0.002)
    db.close()
    Path(out_file).write_text(json.dumps(commits))


def _with_writer(workdir: Path, name: str, work) -> dict:
    """Run `work()` (returning wall_start, wall_end) while a writer process commits; its pauses."""
    stop, out = workdir / f"writer-{name}.stop", workdir / f"writer-{name}.json"
    writer = subprocess.Popen([sys.executable, "-m", "bench.backup", "--writer", str(_harness.bench_db()), str(stop),
                               str(out)])
    try:
        time.sleep(1.0)  # commits without a backup, for comparison
        done = work()
        time.sleep(0.5)
    finally:
        stop.touch()
        writer.wait(timeout=60)
    commits = json.loads(out.read_text())
    inside = [(at, s) for at, s in commits if done["wall_start"] <= at <= done["wall_end"]]
    during = [s for _, s in inside]
    outside = [s for at, s in commits if not done["wall_start"] <= at <= done["wall_end"]]
    worst = max(inside, key=lambda c: c[1])

    def phase_at(at: float) -> str:
        names = [phase for phase, start, end in done.get("phases", []) if start <= at <= end]
        return "+".join(names) or "between phases"

    return {"seconds": done["wall_end"] - done["wall_start"], "gave_up_after": done.get("gave_up_after"),
            "commits_during": len(during),
            "max_during_ms": max(during) * 1000, "p99_during_ms": _harness.quantile(during, 0.99) * 1000,
            "max_outside_ms": max(outside) * 1000, "commits_outside": len(outside),
            "worst_at_s": worst[0] - done["wall_start"], "worst_phase": phase_at(worst[0])}


def _measure(*, size_mb: int, rounds: int) -> dict:
    import django

    django.setup()
    from django.core.management import call_command

    workdir = _harness.workdir()
    call_command("migrate", verbosity=0)
    from django.db import connection

    connection.close()
    generated = _generate(_harness.bench_db(), size_mb)
    versions = {
        "sqlite3_cli": subprocess.run(["sqlite3", "--version"], capture_output=True, text=True).stdout.split()[0],
        "zstd_cli": subprocess.run(["zstd", "-V"], capture_output=True, text=True).stdout.strip().strip("* "),
    }
    tools, ours = [], []
    for _ in range(rounds):
        tools.append(_tools_round(_harness.bench_db(), workdir))
        ours.append(_ours_round())
        if ours[-1]["status"] != "completed":
            raise RuntimeError(f"the backup failed: {ours[-1]['error']}")
    writer = _with_writer(workdir, "ours", _ours_round)
    patience = max(30.0, 3 * max(t["backup"] for t in tools))
    writer_tools = _with_writer(workdir, "tools",
                                lambda: _tools_round(_harness.bench_db(), workdir, backup_timeout=patience))
    writer_tools["gave_up_after"] = writer_tools.get("gave_up_after")
    return {"size_mb": size_mb, "rounds": rounds, "generated": generated, "tools": tools, "ours": ours,
            "writer": writer, "writer_tools": writer_tools, **versions}


def figures(r: dict) -> dict:
    def median(rounds: list[dict], key: str) -> float:
        return statistics.median(m[key] for m in rounds)

    tools, ours = median(r["tools"], "sum"), median(r["ours"], "seconds")
    memory = max(o["max_rss_mb"] for o in r["ours"])
    tools_cpu, ours_cpu = median(r["tools"], "cpu_seconds"), median(r["ours"], "cpu_seconds")
    phases: dict[str, list[float]] = {}
    for o in r["ours"]:
        for name, start, end in o["phases"]:
            phases.setdefault(name, []).append(end - start)
    w, wt, first = r["writer"], r["writer_tools"], r["ours"][0]
    rows = [
        _harness.row("`sqlite3 .backup`, s", median(r["tools"], "backup")),
        _harness.row("`zstd -3` of the copy, s", median(r["tools"], "zstd")),
        _harness.row("`sqlite3 copy 'PRAGMA integrity_check'`, s", median(r["tools"], "integrity_check")),
        _harness.row("the tools, sum, s", tools),
        _harness.row("ours, end to end, s", ours),
        _harness.row("ours / the tools, wall time", ours / tools, f"≤ {TARGET_RATIO}", ours / tools <= TARGET_RATIO),
        _harness.row("CPU time (user + system): the tools, s", tools_cpu),
        _harness.row("CPU time (user + system): ours, s", ours_cpu),
        _harness.row("ours / the tools, CPU time", ours_cpu / tools_cpu),
        _harness.row("compression ratio (database / file): ours", first["database_size_bytes"] / first["size_bytes"]),
        _harness.row("compression ratio (database / file): `zstd -3`",
            r["generated"]["bytes"] / r["tools"][0]["compressed_bytes"]),
        _harness.row("longest commit of a concurrent writer during our backup, ms", w["max_during_ms"], f"< {TARGET_PAUSE_MS}",
            w["max_during_ms"] < TARGET_PAUSE_MS),
        _harness.row("… its p99, ms", w["p99_during_ms"]),
        _harness.row("… its commits", w["commits_during"]),
        _harness.row(f"… the longest came after, s (in {w['worst_phase']})", w["worst_at_s"]),
        _harness.row("the same writer during the tools' run: longest commit, ms", wt["max_during_ms"]),
        _harness.row("… its p99, ms", wt["p99_during_ms"]),
        _harness.row("… its commits", wt["commits_during"]),
        _harness.row("… the longest came after, s", wt["worst_at_s"]),
        _harness.row("`sqlite3 .backup` with that writer running, s", wt["seconds"] if not wt["gave_up_after"] else None),
        _harness.row("… gave up after (it restarts on every write), s", wt["gave_up_after"]),
        _harness.row("ours with the writer running, s", w["seconds"]),
        _harness.row("the same writer with no backup running: longest commit, ms",
            max(w["max_outside_ms"], wt["max_outside_ms"])),
        _harness.row("peak memory of the worker (ru_maxrss, Django included), MB", memory, f"< {TARGET_MEMORY_MB}",
            memory < TARGET_MEMORY_MB),
        _harness.row("… before the backup, MB", max(o["rss_before_mb"] for o in r["ours"])),
        _harness.row("rounds, ours, s", [o["seconds"] for o in r["ours"]]),
        _harness.row("rounds, the tools' sums, s", [t["sum"] for t in r["tools"]]),
        *(_harness.row(f"our phase {name} (median), s", statistics.median(v)) for name, v in phases.items()),
    ]
    return {"database, MB": first["database_size_bytes"] / 1e6, "video-like rows": r["generated"]["rows"],
            "rows written in, s": r["generated"]["seconds"], "rounds": r["rounds"], "SQLite CLI": r["sqlite3_cli"],
            "zstd CLI": r["zstd_cli"], "tables": {"backup": rows}}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--backup-worker"]:
        _backup_worker()
        return 0
    if argv[:1] == ["--writer"]:
        _writer(*argv[1:4])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=SIZE_MB)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    return _harness.main_for(parser, argv, measure=_measure, measure_in_child=measure_in_child, figures=figures)


if __name__ == "__main__":
    sys.exit(main())
