"""Run the suite a second time as a grown-up deployment runs: PostgreSQL, with Redis as broker and cache.

    python -m tests.on_postgresql [pytest args]

Starts a throwaway PostgreSQL cluster and a throwaway Redis (tests/servers.py, from the installed
binaries), points DATABASE_URL and REDIS_URL at them and runs pytest. The integration tests run here
too: the `qcluster` and `schedule_tick` processes they start get the same two URLs, so their jobs go
through Redis and their rows into the PostgreSQL test database. The browser tests are left to the
SQLite run (the pages are the same; Chromium twice would only double the time).
"""

import os
import subprocess
import sys

from tests.servers import postgres_server, redis_server


def main(argv: list[str]) -> int:
    with postgres_server() as url_template, redis_server() as redis_url:
        env = {**os.environ, "DATABASE_URL": url_template.format(name="archive"), "REDIS_URL": redis_url}
        command = [sys.executable, "-m", "pytest", "-m", "not browser", *argv]
        return subprocess.run(command, env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
