"""Real servers and processes for integration tests (and bench/), stopped afterwards.

They work both as root (CI) and as an ordinary user: PostgreSQL refuses to run as root, so as
root the cluster belongs to the `postgres` user and its commands run through `runuser`.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MANAGE_PY = (sys.executable, "manage.py")


class Process:
    """A command run from the project root in a session of its own, its output appended to a log file.

    `manage.py <args>` unless another `program` is given. Its own session makes it the leader of a
    process group, so that whatever it starts (a cluster's workers) is stopped with it.
    """

    def __init__(self, name: str, args: Sequence[str], *, env: dict, log_path: Path,
                 program: Sequence[str] = MANAGE_PY):
        self.name, self.args, self.log_path = name, list(args), log_path
        self._log = open(log_path, "ab")
        self.popen = subprocess.Popen(
            [*program, *args], cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def running(self) -> bool:
        return self.popen.poll() is None

    def group_alive(self) -> bool:
        """Is any process of its group left (its children can outlive it)?"""
        self.popen.poll()  # reap it
        return bool(group_members(self.pid))

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM and wait (a graceful stop); then SIGKILL whatever is left of the process group."""
        if self.running():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.pid, signal.SIGKILL)  # the group this process leads; its children
        except ProcessLookupError:
            pass
        if self.running():
            self.popen.wait(timeout=5)
        self._log.close()

    def log(self) -> str:
        # The process writes to the file directly; nothing is buffered on this side.
        return self.log_path.read_text(errors="replace")

    def wait_for_output(self, text: str, *, timeout: float) -> None:
        wait_until(lambda: text in self.log() or not self.running(), timeout=timeout,
                   message=f"{self.name} did not print {text!r} within {timeout} s", details=self.log)
        if text not in self.log():
            raise AssertionError(f"{self.name} exited with {self.popen.returncode}:\n{self.log()[-3000:]}")


def group_members(pgid: int) -> list[int]:
    """The processes of a process group, from /proc, but zombies: orphans nobody reaps (PID 1 in a
    container may not) stay in the group as zombies."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # gone meanwhile
            continue
        state, _ppid, group = text[text.rindex(")") + 2:].split()[:3]
        if int(group) == pgid and state != "Z":
            members.append(int(stat.parent.name))
    return members


def working_clusters() -> int:
    """django-q2 clusters alive with their workers (the first status entry is written before the
    workers exist)."""
    from jobs.queue import alive_clusters

    return sum(1 for cluster in alive_clusters() or [] if cluster.workers)


def start_cluster(start: Callable[[], Process], *, timeout: float = 20) -> Process:
    """Start a `manage.py qcluster` (`start` makes the Process) and wait until it reports itself
    alive with its workers in the shared cache."""
    before = working_clusters()
    process = start()
    wait_until(lambda: working_clusters() > before or not process.running(), timeout=timeout,
               message="the cluster did not start", details=process.log)
    assert process.running(), process.log()
    return process


def stop_cluster(process: Process, *, timeout: float = 30) -> None:
    """Stop a cluster and wait until its status entry is gone, so the next one is not counted
    alive through it."""
    process.stop(timeout=timeout)
    wait_until(lambda: working_clusters() == 0, timeout=10, message="the stopped cluster still reports itself")


def live_database_url() -> str:
    """DATABASE_URL of the database this test process uses (the test database, once pytest-django made it),
    for the processes a test starts: the SQLite file, or the PostgreSQL test database of the second pass."""
    from django.db import connection

    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings['NAME']}"
    user = settings["USER"] + (f":{settings['PASSWORD']}" if settings["PASSWORD"] else "")
    return f"postgres://{user}@{settings['HOST']}:{settings['PORT']}/{settings['NAME']}"


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


def wait_until(predicate, *, timeout: float, message: str, interval: float = 0.05,
               details: Callable[[], str] | None = None):
    """Poll until `predicate()` is true and return its value; AssertionError after `timeout` s, its
    message followed by the end of `details()` (a process's log, say) as it is then."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{message}:\n{details()[-3000:]}" if details else message)
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


class RcloneServer:
    """`rclone serve sftp` (or `webdav`) of a folder on loopback, as a real remote for off-site copies.

    `remote` is the on-the-fly rclone remote a client uses (`:sftp,host=127.0.0.1,port=…,user=…,pass=…:`,
    the password obscured as rclone wants it). `stop()` and `start()` again keep the port and the folder,
    so a test can take the server down during a copy and bring it back. rclone runs as whoever runs the
    tests (root or not: it needs no privilege) with an empty config file of its own.
    """

    USER, PASSWORD = "archive", "s3cret-Pass"

    def __init__(self, folder: Path, *, protocol: str = "sftp"):
        self.folder, self.protocol = folder, protocol
        self.port = free_port()
        self.workdir = Path(tempfile.mkdtemp(prefix="rclonetest-"))
        self.config = self.workdir / "rclone.conf"
        self.config.touch()
        self.process: subprocess.Popen | None = None
        obscured = subprocess.run(["rclone", "obscure", self.PASSWORD], check=True, capture_output=True, text=True,
                                  env=self.env()).stdout.strip()
        if protocol == "sftp":
            self.remote = f":sftp,host=127.0.0.1,port={self.port},user={self.USER},pass={obscured}:"
        else:
            self.remote = f":webdav,url='http://127.0.0.1:{self.port}',user={self.USER},pass={obscured}:"

    def env(self) -> dict:
        return {**os.environ, "RCLONE_CONFIG": str(self.config), "XDG_CACHE_HOME": str(self.workdir / "cache")}

    def accepting(self) -> bool:
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", self.port)) == 0

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.workdir / "server.log", "ab") as log:
            self.process = subprocess.Popen(
                ["rclone", "serve", self.protocol, str(self.folder), "--addr", f"127.0.0.1:{self.port}",
                 "--user", self.USER, "--pass", self.PASSWORD, "--log-level", "ERROR",
                 # The tests change the folder behind its back: no cached listings.
                 "--dir-cache-time", "0s"],
                env=self.env(), stdout=subprocess.DEVNULL, stderr=log, stdin=subprocess.DEVNULL,
                start_new_session=True)
        wait_until(lambda: self.accepting() or self.process.poll() is not None, timeout=15,
                   message=f"rclone serve {self.protocol} did not start")
        if self.process.poll() is not None:
            raise AssertionError((self.workdir / "server.log").read_text())

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None
        wait_until(lambda: not self.accepting(), timeout=10, message="rclone serve still accepts connections")

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


@contextmanager
def rclone_server(folder: Path, *, protocol: str = "sftp"):
    """A started RcloneServer of `folder`, stopped and cleaned up afterwards."""
    if shutil.which("rclone") is None:
        raise RuntimeError("rclone is not installed (apt-get install rclone); .ci/run installs it.")
    server = RcloneServer(folder, protocol=protocol)
    try:
        server.start()
        yield server
    finally:
        server.close()


class RedisServer:
    """A throwaway Redis server on loopback (no persistence) that can be stopped and started again on
    the same port and folder: a broker restart that loses every message, as a test or the chaos run
    wants it. `stop(kill=True)` SIGKILLs it, as a crash would."""

    def __init__(self):
        self.executable = shutil.which("redis-server")
        if self.executable is None:
            raise RuntimeError("Redis is not installed (apt-get install redis-server); .ci/run installs it.")
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="redistest-"))
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def accepting(self) -> bool:
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", self.port)) == 0

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.executable, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        wait_until(lambda: self.accepting() or self.process.poll() is not None, timeout=10,
                   message="redis-server did not start")
        if self.process.poll() is not None:
            raise AssertionError(f"redis-server exited with {self.process.returncode} (port {self.port} taken?)")

    def stop(self, *, kill: bool = False) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill() if kill else self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


@contextmanager
def restartable_redis_server():
    """A started RedisServer, stopped and removed afterwards."""
    server = RedisServer()
    try:
        server.start()
        yield server
    finally:
        server.close()
