"""An off-site copy of a backup (backups.offsite) beside a plain `rclone copyto` of the same file.

The measuring child migrates a fresh SQLite file, fills it to ~500 MB as bench.backup does, makes one
real backup of it (backup_create) and starts `rclone serve sftp` on loopback (tests.servers.RcloneServer,
a folder on the same disk). Then, each round, in alternating order:

- the reference: `rclone copyto FILE :sftp,…:plain/FILE` with rclone's defaults (which include its own
  hash check after the upload), timed as a separate process;
- ours: `backups.offsite.backup_offsite_copy()` in this process (Django set up, as a worker has it):
  asks the remote for its hashes, copies the file (the local SHA-1 computed meanwhile) and its manifest,
  lists both with the remote's SHA-1 and compares sizes and hashes, and records the copy on the backup.

Before each copy its destination is emptied, so every copy uploads the whole file. The target is on the
median of the rounds' ratios (both copies of a round run back to back, so a shared machine's changing
load weighs on both alike); the medians and the CPU times (this process and its rclone processes) too.

    .venv/bin/python -m bench.offsite                 the figures, as JSON
    .venv/bin/python -m bench.offsite --size-mb 100   a quicker run
    .venv/bin/python -m bench.offsite --raw           the raw measurements
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import subprocess
import sys
import time

from bench import _harness

SIZE_MB = 500
ROUNDS = 9
TARGET_RATIO = 1.1
MEASURE_TIMEOUT_SECONDS = 1800


def run(*, size_mb: int = SIZE_MB, rounds: int = ROUNDS) -> dict:
    return figures(measure_in_child(size_mb=size_mb, rounds=rounds))


def measure_in_child(*, size_mb: int = SIZE_MB, rounds: int = ROUNDS) -> dict:
    return _harness.measure_in_child("bench.offsite", ["--size-mb", str(size_mb), "--rounds", str(rounds)],
                                     timeout=MEASURE_TIMEOUT_SECONDS, prefix="bench-offsite-",
                                     prepare=lambda workdir: {"BACKUP_DIR": str(workdir / "backups")})


# --------------------------------------------------------------------------- the measuring child


def _measure(*, size_mb: int, rounds: int) -> dict:
    import os

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from backups import conf, offsite
    from backups.services.making import backup_create
    from bench.backup import _generate
    from tests.servers import rclone_server

    workdir = _harness.workdir()
    call_command("migrate", verbosity=0)
    connection.close()
    generated = _generate(_harness.bench_db(), size_mb)
    backup = backup_create(now=timezone.now())
    local = conf.backup_dir() / backup.file_name
    served = workdir / "remote"
    plain, ours = [], []
    with rclone_server(served) as server:
        os.environ["RCLONE_CONFIG"] = str(server.config)
        settings.BACKUP_REMOTE = server.remote + "ours"

        def cpu() -> float:
            """CPU time (user + system) of this process and of the rclone processes it waited for."""
            me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
            return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime

        def reference() -> None:
            shutil.rmtree(served / "plain", ignore_errors=True)
            started, cpu_before = time.monotonic(), cpu()
            subprocess.run(["rclone", "copyto", str(local), f"{server.remote}plain/{backup.file_name}"], check=True,
                           env=server.env(), stdin=subprocess.DEVNULL, capture_output=True)
            plain.append({"seconds": time.monotonic() - started, "cpu_seconds": cpu() - cpu_before})

        def ours_round() -> None:
            shutil.rmtree(served / "ours", ignore_errors=True)
            started, cpu_before = time.monotonic(), cpu()
            result = offsite.backup_offsite_copy(backup=backup, now=timezone.now())
            ours.append({"seconds": time.monotonic() - started, "cpu_seconds": cpu() - cpu_before})
            if result["status"] != "copied":
                raise RuntimeError(f"the off-site copy did not happen: {result}")

        for number in range(rounds):
            for step in ((reference, ours_round) if number % 2 == 0 else (ours_round, reference)):
                step()
    backup.refresh_from_db()
    return {"size_mb": size_mb, "rounds": rounds, "generated": generated, "file_bytes": backup.size_bytes,
            "plain": plain, "ours": ours, "check": backup.offsite_check, "rclone": offsite.rclone_version()}


# --------------------------------------------------------------------------- the figures


def figures(r: dict) -> dict:
    def median(rounds: list[dict], key: str) -> float:
        return statistics.median(m[key] for m in rounds)

    plain, ours = median(r["plain"], "seconds"), median(r["ours"], "seconds")
    # Each round runs both back to back: the ratio within a round is the fairest on a shared machine.
    paired = statistics.median(o["seconds"] / p["seconds"] for o, p in zip(r["ours"], r["plain"]))
    plain_cpu, ours_cpu = median(r["plain"], "cpu_seconds"), median(r["ours"], "cpu_seconds")
    rows = [
        _harness.row("plain `rclone copyto` of the file, median s", plain),
        _harness.row("ours (copy, manifest, check, record), median s", ours),
        _harness.row("ours / plain, median of the rounds' ratios", paired, f"≤ {TARGET_RATIO}", paired <= TARGET_RATIO),
        _harness.row("ours / plain, ratio of the medians", ours / plain),
        _harness.row("CPU time (user + system, rclone included): plain, s", plain_cpu),
        _harness.row("CPU time (user + system, rclone included): ours, s", ours_cpu),
        _harness.row("ours / plain, CPU time", ours_cpu / plain_cpu),
        _harness.row("throughput, ours, MB/s", r["file_bytes"] / 1e6 / ours),
        _harness.row("rounds, plain, s", [p["seconds"] for p in r["plain"]]),
        _harness.row("rounds, ours, s", [o["seconds"] for o in r["ours"]]),
    ]
    return {"database, MB": r["generated"]["bytes"] / 1e6, "backup file, MB": r["file_bytes"] / 1e6,
            "rounds": r["rounds"], "rclone": r["rclone"], "remote": "rclone serve sftp on loopback",
            "our check": r["check"], "tables": {"copy": rows}}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=SIZE_MB)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    return _harness.main_for(parser, argv, measure=_measure, measure_in_child=measure_in_child, figures=figures)


if __name__ == "__main__":
    sys.exit(main())
