"""Fetching and reading a channel's YouTube Atom feed. No database here.

The feed is outside input: fetched with timeouts, a size cap counted on the decoded bytes (so a
compressed bomb stops too), only over http(s); parsed only if it has no document type declaration,
the one place where entities can be declared (an XML bomb, a file read through an external entity),
and with every field checked before it is used.
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit
from xml.etree.ElementTree import Element, ParseError, XMLParser

import httpcore  # noqa: F401  httpx imports it on its first client: here, so forked workers inherit it
import httpx
from django.conf import settings
from django.utils.dateparse import parse_datetime

from common.conf import AppSettings
from common.network import NO_WAY_OUT, could_not_reach

USER_AGENT = "archive-scheduler/1.0 (self-hosted YouTube archive; quick sync of channel feeds)"
SETTINGS = AppSettings({
    "CHANNEL_FEED_CONNECT_TIMEOUT_SECONDS": 5.0,
    "CHANNEL_FEED_READ_TIMEOUT_SECONDS": 15.0,
    # YouTube's feeds are 30-60 KB; anything near this is not a feed.
    "CHANNEL_FEED_MAX_BYTES": 4 * 1024 * 1024,
})

# Tags in Clark notation ({namespace}name): a plain tag is found by a scan of the children in C,
# where a prefixed path ("atom:entry" and a namespace map) goes through ElementPath in Python.
ATOM = "{http://www.w3.org/2005/Atom}"
YT = "{http://www.youtube.com/xml/schemas/2015}"
MEDIA = "{http://search.yahoo.com/mrss/}"
VIDEO_ID = re.compile(r"[A-Za-z0-9_-]{11}")
MAX_TITLE, MAX_URL = 500, 500


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
    limit = int(SETTINGS.get("CHANNEL_FEED_MAX_BYTES"))
    timeout = httpx.Timeout(float(SETTINGS.get("CHANNEL_FEED_READ_TIMEOUT_SECONDS")),
                            connect=float(SETTINGS.get("CHANNEL_FEED_CONNECT_TIMEOUT_SECONDS")))
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


def network_failure(exc: httpx.HTTPError) -> str:
    """What went wrong on the way to the feed, in words, naming the host this server tried (the one a
    redirect led to, if it did). A failed name lookup or connection is this server's network, not
    the feed: the words say so. No prediction of a retry: whether one comes is the job's to say.
    """
    host = _host_tried(exc)
    if reason := could_not_reach(exc, host=host):
        return reason
    if isinstance(exc, httpx.ConnectTimeout):
        seconds = float(SETTINGS.get("CHANNEL_FEED_CONNECT_TIMEOUT_SECONDS"))
        return f"This server could not reach {host} {NO_WAY_OUT}: connecting took longer than {seconds:g} s."
    if isinstance(exc, httpx.TimeoutException):
        seconds = float(SETTINGS.get("CHANNEL_FEED_READ_TIMEOUT_SECONDS"))
        return f"The feed server {host} did not answer in time: nothing came for {seconds:g} s ({exc.__class__.__name__})."
    if isinstance(exc, httpx.TooManyRedirects):
        return f"The feed at {host} redirected too many times; gave up."
    detail = f"{exc.__class__.__name__}: {exc}" if str(exc) else exc.__class__.__name__
    return f"The connection to {host} broke off before the feed was complete ({detail})."


def _host_tried(exc: httpx.HTTPError) -> str:
    try:
        url = exc.request.url
    except RuntimeError:  # an error raised before any request was made
        return "the feed server"
    return f"{url.host}:{url.port}" if url.port else url.host


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
    root = _parse_xml(text)
    if root.tag != f"{ATOM}feed":
        raise BadFeed(f"The document is not an Atom feed (its root element is {_local_name(root.tag)!r}).")

    feed = Feed(title=_text(root, f"{ATOM}title")[:200])
    seen: set[str] = set()
    for element in root.findall(f"{ATOM}entry"):
        entry = _entry(element)
        entry_channel = _text(element, f"{YT}channelId")
        if entry is None or entry.video_id in seen or (entry_channel and entry_channel != channel_id):
            feed.skipped += 1
            continue
        seen.add(entry.video_id)
        feed.entries.append(entry)
    return feed


def _parse_xml(text: bytes) -> Element:
    """The document's root, parsed by expat through ElementTree's C parser, if it is safe to parse.

    Any document type declaration is refused before parsing: without one no entity can be declared,
    so the document can hold neither an entity bomb nor an external entity. For "<!DOCTYPE" to be
    found in the text, expat must read the text as UTF-8, which YouTube's feeds are: so the bytes
    must be UTF-8 and free of NUL (which XML forbids anyway). Other bytes could make expat take the
    document for UTF-16 by its first bytes, whatever encoding it is told to use.

    This stands in for defusedxml, which refuses the same declarations from inside the parse but
    drives expat through ElementTree's pure-Python parser, whose elements are also slower to search:
    reading a 15-entry feed took 2.3 to 4 times as much CPU with it (about 2.4 ms against 0.6-1.1 ms,
    side by side), and every quick sync of a changed feed reads one (bench/channel_sync.py).
    """
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadFeed(f"The feed is not UTF-8 text (byte {exc.start:,} is not); refused.") from None
    if "\x00" in decoded:
        raise BadFeed("The feed holds a NUL character, which XML does not allow; refused.")
    if "<!DOCTYPE" in decoded:
        raise BadFeed("The feed declares a document type (DTD), where entities could hide; refused as unsafe.")
    parser = XMLParser()
    try:
        parser.feed(decoded)
        return parser.close()
    except ParseError as exc:
        raise BadFeed(f"The feed is not well-formed XML (truncated or malformed): {exc}.") from None


def _entry(element: Element) -> Entry | None:
    video_id = _text(element, f"{YT}videoId")
    published = _datetime(_text(element, f"{ATOM}published"))
    if not VIDEO_ID.fullmatch(video_id) or published is None:
        return None
    link = _link(element)
    group = element.find(f"{MEDIA}group")
    description = thumbnail = ""
    views = None
    if group is not None:
        description = _text(group, f"{MEDIA}description")
        thumb = group.find(f"{MEDIA}thumbnail")
        thumbnail = _http_url(thumb.get("url", "")) if thumb is not None else ""
        community = group.find(f"{MEDIA}community")
        stats = community.find(f"{MEDIA}statistics") if community is not None else None
        raw_views = stats.get("views", "") if stats is not None else ""
        views = count(raw_views)
    return Entry(
        video_id=video_id,
        title=(_text(element, f"{ATOM}title") or video_id)[:MAX_TITLE],
        url=link or f"https://www.youtube.com/watch?v={video_id}",
        published=published,
        updated=_datetime(_text(element, f"{ATOM}updated")),
        description=description,
        thumbnail_url=thumbnail,
        view_count=views,
        is_short=True if "/shorts/" in link else None,
    )


def _link(element: Element) -> str:
    for link in element.findall(f"{ATOM}link"):
        if link.get("rel", "alternate") == "alternate":
            return _http_url(link.get("href", ""))
    return ""


def _http_url(value: str) -> str:
    value = value.strip()
    return value if urlsplit(value).scheme in ("http", "https") and len(value) <= MAX_URL else ""


def _text(element: Element, tag: str) -> str:
    found = element.find(tag)
    return (found.text or "").strip() if found is not None else ""


def _datetime(value: str) -> datetime | None:
    try:
        parsed = parse_datetime(value) if value else None
    except ValueError:
        return None
    return parsed if parsed is not None and parsed.tzinfo is not None else None


MAX_COUNT = 10**15  # far past any view count; the column holds 64 bits


def count(value: str) -> int | None:
    """A non-negative decimal count, or None: str.isdigit() alone also accepts "²", which int() refuses."""
    value = value.strip()
    if not (value.isascii() and value.isdigit()) or int(value) > MAX_COUNT:
        return None
    return int(value)


def _local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]
