"""Fetching and reading a channel's YouTube Atom feed. No database here.

The feed is outside input: fetched with timeouts, a size cap counted on the decoded bytes (so a
compressed bomb stops too), only over http(s); parsed with defusedxml, which refuses entity
declarations and external references (an XML bomb, a file read through an entity), and with
every field checked before it is used.
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit
from xml.etree.ElementTree import Element, ParseError

import httpx
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from django.conf import settings
from django.utils.dateparse import parse_datetime

USER_AGENT = "archive-scheduler/1.0 (self-hosted YouTube archive; quick sync of channel feeds)"
DEFAULTS = {
    "CHANNEL_FEED_CONNECT_TIMEOUT_SECONDS": 5.0,
    "CHANNEL_FEED_READ_TIMEOUT_SECONDS": 15.0,
    # YouTube's feeds are 30-60 KB; anything near this is not a feed.
    "CHANNEL_FEED_MAX_BYTES": 4 * 1024 * 1024,
}

NS = {"atom": "http://www.w3.org/2005/Atom", "yt": "http://www.youtube.com/xml/schemas/2015",
      "media": "http://search.yahoo.com/mrss/"}
VIDEO_ID = re.compile(r"[A-Za-z0-9_-]{11}")
MAX_TITLE, MAX_URL = 500, 500


def conf(name: str):
    return getattr(settings, name, DEFAULTS[name])


class FeedError(Exception):
    """The feed could not be used; the message says why, for the user."""


class FeedTooLarge(FeedError):
    pass


class BadFeed(FeedError):
    """Not a readable YouTube feed: malformed or truncated XML, an HTML page, an XML bomb..."""


@dataclass
class Response:
    status: int
    body: bytes = b""
    etag: str = ""
    last_modified: str = ""
    retry_after: str = ""
    content_type: str = ""

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body).hexdigest()


def feed_url(channel_id: str) -> str:
    url = settings.YOUTUBE_FEED_URL.format(channel_id=channel_id)
    if urlsplit(url).scheme not in ("http", "https"):
        raise FeedError(f"The feed URL {url!r} is not http or https; check YOUTUBE_FEED_URL.")
    return url


_local = threading.local()


def _client() -> httpx.Client:
    """One client per process and thread, created on first use: its pooled connections are kept
    across jobs, and never inherited through a fork (the cluster forks its workers)."""
    client = getattr(_local, "client", None)
    if client is None:
        client = httpx.Client(headers={"User-Agent": USER_AGENT, "Accept": "application/atom+xml, application/xml"},
                              follow_redirects=True, max_redirects=3)
        _local.client = client
    return client


def fetch(url: str, *, etag: str = "", last_modified: str = "") -> Response:
    """GET the feed, conditionally when validators are known; the body is read up to the cap.

    Raises httpx.TimeoutException / httpx.TransportError for network trouble, FeedTooLarge past
    the cap; any HTTP status is returned for the caller to judge.
    """
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    limit = int(conf("CHANNEL_FEED_MAX_BYTES"))
    timeout = httpx.Timeout(float(conf("CHANNEL_FEED_READ_TIMEOUT_SECONDS")),
                            connect=float(conf("CHANNEL_FEED_CONNECT_TIMEOUT_SECONDS")))
    with _client().stream("GET", url, headers=headers, timeout=timeout) as response:
        result = Response(
            status=response.status_code,
            etag=response.headers.get("ETag", ""),
            last_modified=response.headers.get("Last-Modified", ""),
            retry_after=response.headers.get("Retry-After", ""),
            content_type=response.headers.get("Content-Type", ""),
        )
        if response.status_code != 200:
            return result
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            raise FeedTooLarge(f"The feed is {int(declared):,} bytes, over the limit of {limit:,} bytes; refused.")
        chunks, size = [], 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > limit:
                raise FeedTooLarge(f"The feed is over the limit of {limit:,} bytes; refused after reading that much.")
            chunks.append(chunk)
        result.body = b"".join(chunks)
    return result


# --------------------------------------------------------------------------- parsing


@dataclass
class Entry:
    video_id: str
    title: str
    url: str
    published: datetime
    updated: datetime | None = None
    description: str = ""
    thumbnail_url: str = ""
    view_count: int | None = None
    is_short: bool | None = None


@dataclass
class Feed:
    title: str = ""
    entries: list[Entry] = field(default_factory=list)
    # Entries left out: of another channel, repeated, or missing what a video needs.
    skipped: int = 0


def looks_like_html(body: bytes, content_type: str = "") -> bool:
    head = body[:512].lstrip().lower()
    return "html" in content_type.lower() or head.startswith((b"<!doctype html", b"<html"))


def parse(body: bytes, *, channel_id: str, content_type: str = "") -> Feed:
    """The feed's entries of this channel, newest first as the feed lists them, each video once.

    `channel_id` is the one requested: the feed-level id can lack its `UC` prefix, so entries are
    matched on their own `yt:channelId`.
    """
    if looks_like_html(body, content_type):
        raise BadFeed("The feed URL answered with an HTML page (a consent or error page?), not a feed.")
    # A byte-order mark or whitespace before the XML declaration is an error for expat; seen in the wild.
    text = body.removeprefix(b"\xef\xbb\xbf").lstrip()
    if not text:
        raise BadFeed("The feed was empty.")
    try:
        root = fromstring(text, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise BadFeed(f"The feed declares a DTD or entities ({exc.__class__.__name__}); refused as unsafe.") from None
    except ParseError as exc:
        raise BadFeed(f"The feed is not well-formed XML (truncated or malformed): {exc}.") from None
    if root.tag != f"{{{NS['atom']}}}feed":
        raise BadFeed(f"The document is not an Atom feed (its root element is {_local_name(root.tag)!r}).")

    feed = Feed(title=_text(root, "atom:title")[:200])
    seen: set[str] = set()
    for element in root.findall("atom:entry", NS):
        entry = _entry(element)
        entry_channel = _text(element, "yt:channelId")
        if entry is None or entry.video_id in seen or (entry_channel and entry_channel != channel_id):
            feed.skipped += 1
            continue
        seen.add(entry.video_id)
        feed.entries.append(entry)
    return feed


def _entry(element: Element) -> Entry | None:
    video_id = _text(element, "yt:videoId")
    published = _datetime(_text(element, "atom:published"))
    if not VIDEO_ID.fullmatch(video_id) or published is None:
        return None
    link = _link(element)
    group = element.find("media:group", NS)
    description = thumbnail = ""
    views = None
    if group is not None:
        description = _text(group, "media:description")
        thumb = group.find("media:thumbnail", NS)
        thumbnail = _http_url(thumb.get("url", "")) if thumb is not None else ""
        stats = group.find("media:community/media:statistics", NS)
        raw_views = stats.get("views", "") if stats is not None else ""
        views = int(raw_views) if raw_views.isdigit() else None
    return Entry(
        video_id=video_id,
        title=(_text(element, "atom:title") or video_id)[:MAX_TITLE],
        url=link or f"https://www.youtube.com/watch?v={video_id}",
        published=published,
        updated=_datetime(_text(element, "atom:updated")),
        description=description,
        thumbnail_url=thumbnail,
        view_count=views,
        is_short=True if "/shorts/" in link else None,
    )


def _link(element: Element) -> str:
    for link in element.findall("atom:link", NS):
        if link.get("rel", "alternate") == "alternate":
            return _http_url(link.get("href", ""))
    return ""


def _http_url(value: str) -> str:
    value = value.strip()
    return value if urlsplit(value).scheme in ("http", "https") and len(value) <= MAX_URL else ""


def _text(element: Element, path: str) -> str:
    found = element.find(path, NS)
    return (found.text or "").strip() if found is not None else ""


def _datetime(value: str) -> datetime | None:
    try:
        parsed = parse_datetime(value) if value else None
    except ValueError:
        return None
    return parsed if parsed is not None and parsed.tzinfo is not None else None


def _local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]
