"""The internet of a chaos run: a threaded HTTP server answering YouTube's feed URL for fake channels.

Channel number n is `UCchaos<n, 8 digits>AAAAAAAAA`; its feed is the suite's realistic 15-entry fixture
(tests/channels/feeds/channel.xml) with that channel's id and its own video ids `v<n, 8 digits>01..15`,
so the database can be checked against what each completed sync fetched. Answers come after a short
random delay, so that a kill often lands while a sync waits on the network.
"""

from __future__ import annotations

import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "channels" / "feeds" / "channel.xml"
FIXTURE_CHANNEL = "UCq1w2e3r4t5y6u7i8o9p0aZ"
FIXTURE_PREFIX = "Xk3vP9qLm"
VIDEOS_PER_FEED = 15
PATH = "/feeds/videos.xml"


def channel_youtube_id(number: int) -> str:
    return f"UCchaos{number:08d}AAAAAAAAA"


def channel_number(youtube_id: str) -> int | None:
    if len(youtube_id) == 24 and youtube_id.startswith("UCchaos") and youtube_id[7:15].isdigit():
        return int(youtube_id[7:15])
    return None


def video_ids(number: int) -> list[str]:
    return [f"v{number:08d}{n:02d}" for n in range(1, VIDEOS_PER_FEED + 1)]


def feed_body(number: int) -> bytes:
    youtube_id = channel_youtube_id(number)
    body = FIXTURE.read_bytes()
    body = body.replace(FIXTURE_CHANNEL.encode(), youtube_id.encode())
    body = body.replace(FIXTURE_CHANNEL[2:].encode(), youtube_id[2:].encode())
    return body.replace(FIXTURE_PREFIX.encode(), f"v{number:08d}".encode())


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a client killed mid-answer (a SIGKILLed worker) is expected here, not news


class FeedServer:
    """Serves every chaos channel's feed on 127.0.0.1 from a thread of the driver; counts requests."""

    def __init__(self, *, max_delay: float = 0.3, seed: int = 0):
        rng = random.Random(seed)
        lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                url = urlparse(self.path)
                number = channel_number(parse_qs(url.query).get("channel_id", [""])[0])
                with lock:
                    delay = rng.uniform(0, max_delay)
                    server.requests += 1
                time.sleep(delay)
                if url.path != PATH or number is None:
                    self.send_error(404)
                    return
                body = feed_body(number)
                self.send_response(200)
                self.send_header("Content-Type", "application/atom+xml; charset=UTF-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.requests = 0
        self.httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def feed_url(self) -> str:
        """YOUTUBE_FEED_URL for the processes."""
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{PATH}?channel_id={{channel_id}}"

    def __enter__(self) -> FeedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
