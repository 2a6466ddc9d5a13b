"""SQLite restore from a backup file, end to end, beside the stock tools run in the same benchmark.

The ~500 MB database of bench/backup.py (the app's migrated schema plus one large table of video-like
rows, its generator reused), backed up once by the app. Each round, interleaved, restores that file into
a database that does not exist yet (a fresh install after a disk failure):

- the tools, as the issue names them: `zstd -d` of the file, then `sqlite3 TARGET ".restore copy"`
  (sqlite3 cannot read a database from a pipe, so the decompressed copy is a file), each timed as a
  separate process; their sum is the reference;
- the tools as docs/restore.md has a person type them: `sha256sum -c`, `zstd -d`, `sqlite3 copy 'PRAGMA
  integrity_check'`, `mv` into place;
- ours: `backups.services.restoring.backup_restore_file()` in a fresh process (Django set up, as
  `manage.py restore_backup --file` has it): the manifest read, the SHA-256 checked, the file
  decompressed (fsynced) and checked (integrity, applied migrations), the online backup API into the
  target, the target's integrity check, and the aftermath (cache, jobs, backup lock, adoption of the
  folder). Its phases are timed one by one.

    .venv/bin/python -m bench.restore                 the figures, as JSON
    .venv/bin/python -m bench.restore --size-mb 100   a quicker run
    .venv/bin/python -m bench.restore --raw           the raw measurements
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench import _harness
from bench.backup import _generate

SIZE_MB = 500
ROUNDS = 5
TARGET_RATIO = 1.2
MEASURE_TIMEOUT_SECONDS = 1800


def run(*, size_mb: int = SIZE_MB, rounds: int = ROUNDS) -> dict:
    return figures(measure_in_child(size_mb=size_mb, rounds=rounds))


def measure_in_child(*, size_mb: int = SIZE_MB, rounds: int = ROUNDS) -> dict:
    return _harness.measure_in_child("bench.restore", ["--size-mb", str(size_mb), "--rounds", str(rounds)],
                                     timeout=MEASURE_TIMEOUT_SECONDS, prefix="bench-restore-",
                                     prepare=lambda workdir: {"BACKUP_DIR": str(workdir / "backups")})


# --------------------------------------------------------------------------- the measuring child


def _remove_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _tools_round(backup: Path, target: Path) -> dict:
    """`zstd -d`, then sqlite3's `.restore` into the target: the issue's reference."""
    copy = target.with_name("tools-copy.sqlite3")
    cpu: list[float] = []
    result = {
        "zstd": _harness.timed(["zstd", "-d", "-q", str(backup), "-o", str(copy)], cpu),
        "restore": _harness.timed(["sqlite3", str(target), f".restore '{copy}'"], cpu),
    }
    result["sum"] = result["zstd"] + result["restore"]
    result["cpu_seconds"] = sum(cpu)
    copy.unlink()
    _remove_database(target)
    return result


def _guide_round(backup: Path, target: Path, sha256: str) -> dict:
    """The commands of docs/restore.md's restore by hand: checksum, decompress, integrity check, move."""
    restored = Path(f"{target}.restored")
    cpu: list[float] = []
    result = {
        "sha256sum": _harness.timed(["sha256sum", "-c", "--quiet"], cpu, input=f"{sha256}  {backup.name}\n".encode(),
                            cwd=backup.parent),
        "zstd": _harness.timed(["zstd", "-d", "-q", str(backup), "-o", str(restored)], cpu),
        "integrity_check": _harness.timed(["sqlite3", str(restored), "PRAGMA integrity_check"], cpu),
        "mv": _harness.timed(["mv", str(restored), str(target)], cpu),
    }
    result["sum"] = sum(result.values())
    result["cpu_seconds"] = sum(cpu)
    _remove_database(target)
    return result


def _ours_round(backup: Path, target: Path) -> dict:
    """One restore in a fresh process (`--restore-worker`), into a target that does not exist yet."""
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{target}"}
    output = subprocess.run([sys.executable, "-m", "bench.restore", "--restore-worker", str(backup)], check=True,
                            capture_output=True, text=True, env=env).stdout
    _remove_database(target)
    return json.loads(output.strip().splitlines()[-1])


def _restore_worker(backup: str) -> None:
    import django

    django.setup()
    from django.utils import timezone

    from backups import files, sqlite_engine
    from backups.services import adopting, aftermath, restoring

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

    for module, name in ((files, "read_manifest"), (files, "sha256_of"), (sqlite_engine, "decompress"),
                         (sqlite_engine, "check_copy"), (sqlite_engine, "restore"), (sqlite_engine, "check_restored"),
                         (restoring, "restore_aftermath"), (restoring, "backups_adopt"), (restoring, "call_command")):
        timed(module, name)
    assert aftermath and adopting  # imported so that their modules are loaded before the clock starts
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.monotonic()
    report = restoring.backup_restore_file(path=Path(backup), now=timezone.now())
    elapsed = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({
        "seconds": elapsed, "cpu_seconds": after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime,
        "max_rss_mb": after.ru_maxrss / 1024, "phases": phases, "database_was": report.database_was,
        "restored": report.backup.pk if report.backup else None,
    }))


def _measure(*, size_mb: int, rounds: int) -> dict:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from backups.services.making import backup_create

    workdir = _harness.workdir()
    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)
    connection.close()
    generated = _generate(_harness.bench_db(), size_mb)
    backup = backup_create(now=timezone.now())
    if backup.status != "completed":
        raise RuntimeError(f"the backup failed: {backup.error}")
    path = Path(os.environ["BACKUP_DIR"]) / backup.file_name
    target = workdir / "restored" / "db.sqlite3"
    target.parent.mkdir()
    versions = {
        "sqlite3_cli": subprocess.run(["sqlite3", "--version"], capture_output=True, text=True).stdout.split()[0],
        "zstd_cli": subprocess.run(["zstd", "-V"], capture_output=True, text=True).stdout.strip().strip("* "),
    }
    tools, guide, ours = [], [], []
    for _ in range(rounds):
        tools.append(_tools_round(path, target))
        ours.append(_ours_round(path, target))
        guide.append(_guide_round(path, target, backup.sha256))
    return {"size_mb": size_mb, "rounds": rounds, "generated": generated, "database_size_bytes":
            backup.database_size_bytes, "file_bytes": backup.size_bytes, "tools": tools, "guide": guide,
            "ours": ours, **versions}


def figures(r: dict) -> dict:
    def median(rounds: list[dict], key: str) -> float:
        return statistics.median(m[key] for m in rounds)

    tools, guide, ours = median(r["tools"], "sum"), median(r["guide"], "sum"), median(r["ours"], "seconds")
    phases: dict[str, list[float]] = {}
    for o in r["ours"]:
        totals: dict[str, float] = {}
        for name, seconds in o["phases"]:
            totals[name] = totals.get(name, 0.0) + seconds
        for name, seconds in totals.items():
            phases.setdefault(name, []).append(seconds)
    rows = [
        _harness.row("`zstd -d` of the file, s", median(r["tools"], "zstd")),
        _harness.row("`sqlite3 TARGET '.restore copy'`, s", median(r["tools"], "restore")),
        _harness.row("the tools, sum, s", tools),
        _harness.row("ours, end to end, s", ours),
        _harness.row("ours / the tools, wall time", ours / tools, f"≤ {TARGET_RATIO}", ours / tools <= TARGET_RATIO),
        _harness.row("CPU time (user + system): the tools, s", median(r["tools"], "cpu_seconds")),
        _harness.row("CPU time (user + system): ours, s", median(r["ours"], "cpu_seconds")),
        _harness.row("docs/restore.md by hand (`sha256sum -c`, `zstd -d`, `PRAGMA integrity_check`, `mv`), s", guide),
        _harness.row("ours / by hand, wall time", ours / guide),
        _harness.row("peak memory of our process (ru_maxrss, Django included), MB", max(o["max_rss_mb"] for o in r["ours"])),
        _harness.row("rounds, ours, s", [o["seconds"] for o in r["ours"]]),
        _harness.row("rounds, the tools' sums, s", [t["sum"] for t in r["tools"]]),
        *(_harness.row(f"our phase {name} (median), s", statistics.median(v)) for name, v in phases.items()),
    ]
    return {"database, MB": r["database_size_bytes"] / 1e6, "backup file, MB": r["file_bytes"] / 1e6,
            "video-like rows": r["generated"]["rows"], "rounds": r["rounds"], "SQLite CLI": r["sqlite3_cli"],
            "zstd CLI": r["zstd_cli"], "tables": {"restore": rows}}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--restore-worker"]:
        _restore_worker(argv[1])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=SIZE_MB)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    return _harness.main_for(parser, argv, measure=_measure, measure_in_child=measure_in_child, figures=figures)


if __name__ == "__main__":
    sys.exit(main())
