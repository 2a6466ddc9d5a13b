"""Real servers for integration tests, started in temporary folders and stopped afterwards.

They work both as root (CI) and as an ordinary user: PostgreSQL refuses to run as root, so as
root the cluster belongs to the `postgres` user and its commands run through `runuser`.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pg_bindir() -> Path | None:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if candidates:
        return Path(candidates[-1]).parent
    found = shutil.which("initdb")
    return Path(found).parent if found else None


@contextmanager
def postgres_server():
    """Yield a DATABASE_URL template (format with the database name) of a throwaway cluster."""
    bindir = _pg_bindir()
    if bindir is None:
        raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql); .ci/run installs it.")
    as_root = os.geteuid() == 0
    base = Path(tempfile.mkdtemp(prefix="pgtest-"))
    data, sockets = base / "data", base / "sock"
    sockets.mkdir()
    user = "postgres" if as_root else os.environ.get("USER") or "postgres"

    def run(*args: str) -> None:
        command = ["runuser", "-u", "postgres", "--", *args] if as_root else list(args)
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    if as_root:
        shutil.chown(base, "postgres")
        shutil.chown(sockets, "postgres")
    port = free_port()
    try:
        run(str(bindir / "initdb"), "-D", str(data), "-U", user, "--auth=trust", "-E", "UTF8", "--no-sync")
        run(
            str(bindir / "pg_ctl"), "-D", str(data), "-l", str(base / "server.log"), "-w", "-t", "30",
            "-o", f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50",
            "start",
        )
        yield f"postgres://{user}@127.0.0.1:{port}/{{name}}"
    finally:
        if (data / "postmaster.pid").exists():
            try:
                run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
            except subprocess.CalledProcessError:
                pass
        shutil.rmtree(base, ignore_errors=True)


def create_database(url_template: str, name: str) -> str:
    import psycopg

    with psycopg.connect(url_template.format(name="postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return url_template.format(name=name)


def wait_until(predicate, *, timeout: float, message: str, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(interval)


@contextmanager
def redis_server():
    """Yield the URL of a throwaway Redis server on loopback (no persistence)."""
    executable = shutil.which("redis-server")
    if executable is None:
        raise RuntimeError("Redis is not installed (apt-get install redis-server); .ci/run installs it.")
    port = free_port()
    folder = Path(tempfile.mkdtemp(prefix="redistest-"))
    process = subprocess.Popen(
        [executable, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(folder)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )

    def accepting() -> bool:
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", port)) == 0

    try:
        wait_until(accepting, timeout=10, message="redis-server did not start")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)
