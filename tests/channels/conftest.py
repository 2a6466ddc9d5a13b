"""Feed fixtures served by a real local HTTP server (pytest-httpserver), and running QUICK_SYNC jobs.

The fixtures in feeds/ follow YouTube's documented Atom format (namespaces yt: and media:, 15
entries, Shorts among them, unicode titles, entities in descriptions). `feed_for` turns the one
channel fixture into another channel's feed by swapping the channel id and the video id prefix.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from channels import feed
from jobs import runner
from jobs.models import Job

FEEDS = Path(__file__).parent / "feeds"
FIXTURE_CHANNEL = "UCq1w2e3r4t5y6u7i8o9p0aZ"
FIXTURE_PREFIX = "Xk3vP9qLm"
FEED_PATH = "/feeds/videos.xml"
UTC = dt.timezone.utc


def fixture(name: str) -> bytes:
    return (FEEDS / name).read_bytes()


def feed_for(channel_id: str = FIXTURE_CHANNEL, *, prefix: str | None = None) -> bytes:
    """The 15-entry fixture as the feed of `channel_id`, its videos' ids starting with `prefix` (9 chars)."""
    body = fixture("channel.xml")
    body = body.replace(FIXTURE_CHANNEL.encode(), channel_id.encode()).replace(
        FIXTURE_CHANNEL[2:].encode(), channel_id[2:].encode())
    if prefix is not None:
        assert len(prefix) == 9
        body = body.replace(FIXTURE_PREFIX.encode(), prefix.encode())
    return body


def video_ids(prefix: str = FIXTURE_PREFIX, count: int = 15) -> list[str]:
    return [f"{prefix}{n:02d}" for n in range(1, count + 1)]


@pytest.fixture
def feeds(httpserver, settings):
    """The local feed server, with settings.YOUTUBE_FEED_URL pointed at it; `feeds.serve(...)` answers.

    Each test's fetches make the feed client afresh (`feed._client` keeps one per thread), so that the
    code creating it runs in every test: `make mutation` forks its runs from a process whose client
    already exists, and its mutants there were never executed.
    """
    feed._local.__dict__.pop("client", None)
    settings.YOUTUBE_FEED_URL = httpserver.url_for(FEED_PATH) + "?channel_id={channel_id}"
    settings.CHANNEL_FEED_READ_TIMEOUT_SECONDS = 0.5
    settings.CHANNEL_FEED_CONNECT_TIMEOUT_SECONDS = 0.5

    class Feeds:
        server = httpserver

        def serve(self, channel_id: str, body: bytes = b"", *, status: int = 200, headers: dict | None = None,
                  content_type: str = "application/atom+xml; charset=UTF-8", oneshot: bool = False):
            expect = httpserver.expect_oneshot_request if oneshot else httpserver.expect_request
            expect(FEED_PATH, query_string={"channel_id": channel_id}).respond_with_data(
                body, status=status, headers=headers or {}, content_type=content_type)

        def serve_handler(self, channel_id: str, handler):
            httpserver.expect_request(FEED_PATH, query_string={"channel_id": channel_id}).respond_with_handler(handler)

        def requests_for(self, channel_id: str) -> list:
            return [request for request, _ in httpserver.log if request.args.get("channel_id") == channel_id]

        def reset(self):
            httpserver.clear()

    yield Feeds()
    httpserver.clear()
    if client := feed._local.__dict__.pop("client", None):
        client.close()


@pytest.fixture
def run_jobs(django_capture_on_commit_callbacks, quick_sync_handler):
    """Run queued jobs here, the way a worker does (claim, handler, outcome), with the after-commit
    signals delivered, so group syncs finish as they do in production. The quick syncs' handler is
    registered afresh first (`quick_sync_handler`, tests/conftest.py), before the test makes its jobs."""

    def run(jobs=None) -> list[Job]:
        jobs = list(jobs if jobs is not None else Job.objects.filter(status="queued").order_by("pk"))
        for job in jobs:
            with django_capture_on_commit_callbacks(execute=True):
                runner.execute(job.pk)
        for job in jobs:
            job.refresh_from_db()
        return jobs

    return run


def release_retries(run_jobs):
    """Queue the jobs waiting to retry again at once (what the maintenance pass does when their time comes)."""
    Job.objects.filter(status="retry_wait").update(status="queued")
    return run_jobs()


def writes_to(table: str):
    """A context counting INSERT/UPDATE/DELETE statements on one table."""

    class Writes(CaptureQueriesContext):
        @property
        def count(self) -> int:
            return sum(1 for q in self.captured_queries
                       if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
                       and f'"{table}"' in q["sql"])

    return Writes(connection)
