"""Names for the processes of a deployment (workers, schedulers) as people read them."""

from __future__ import annotations

import os
import socket


def process_name() -> str:
    """`host:pid`: which worker ran a job, which scheduler wrote a heartbeat."""
    return f"{socket.gethostname()}:{os.getpid()}"
