"""Run the suite's database tests a second time, on a real PostgreSQL server.

    python -m tests.on_postgresql [pytest args]

Starts a throwaway cluster (tests/servers.py), points DATABASE_URL at it and runs pytest. The
integration and browser tests are left to the SQLite run: they start processes and a browser,
and the race and crash tests already run on both databases themselves. Tests marked feed_server
run here: their feed server is a thread of the test process, and the syncs they drive write
through the database like any other test.
"""

import os
import subprocess
import sys

from tests.servers import postgres_server


def main(argv: list[str]) -> int:
    with postgres_server() as url_template:
        env = {**os.environ, "DATABASE_URL": url_template.format(name="archive")}
        command = [sys.executable, "-m", "pytest", "-m", "not integration and not browser", *argv]
        return subprocess.run(command, env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
