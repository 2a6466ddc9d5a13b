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
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from urllib.parse import urlsplit
from xml.etree.ElementTree import Element, ParseError, XMLParser

import httpcore  # noqa: F401  httpx imports it on its first client: here, so forked workers inherit it
import httpx
from django.conf import settings
from django.utils.dateparse import parse_datetime

from channels import hosts
from common.conf import AppSettings
from common.network import NO_WAY_OUT, could_not_reach

USER_AGENT = "archive-scheduler/1.0 (self-hosted YouTube archive; quick sync of channel feeds)"
SETTINGS = AppSettings({
    "CHANNEL_FEED_CONNECT_TIMEOUT_SECONDS": 5.0,
    "CHANNEL_FEED_READ_TIMEOUT_SECONDS": 15.0,
    # The whole fetch, redirects and body included: the read timeout is per read, so a server
    # sending a byte a second would otherwise hold a worker until the job's time limit.
    "CHANNEL_FEED_TOTAL_SECONDS": 30.0,
    # YouTube's feeds are 30-60 KB; anything near this is not a feed.
    "CHANNEL_FEED_MAX_BYTES": 4 * 1024 * 1024,
})

# Tags in Clark notation ({namespace}name): a plain tag is found by a scan of the children in C,
# where a prefixed path ("atom:entry" and a namespace map) goes through ElementPath in Python.
ATOM = "{http://www.w3.org/2005/Atom}"
YT = "{http://www.youtube.com/xml/schemas/2015}"
MEDIA = "{http://search.yahoo.com/mrss/}"
VIDEO_ID = re.compile(r"[A-Za-z0-9_-]{11}")
MAX_TITLE = 500
# YouTube caps a description at 5,000 characters and lists 15 entries per feed.
MAX_DESCRIPTION = 10_000
MAX_ENTRIES = 100
# Dates outside these are not a video's (and near the ends of datetime's range, converting an
# offset such as -14:00 to UTC overflows).
EARLIEST = datetime(1970, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(9000, 1, 1, tzinfo=timezone.utc)


class FeedError(Exception):
    """The feed could not be used; the message says why, for the user."""


class FeedTooLarge(FeedError):
    pass


class BadFeed(FeedError):
    """Not a readable YouTube feed: malformed or truncated XML, an HTML page, an XML bomb..."""


class ForbiddenRedirect(FeedError):
    """The feed redirected to a host that is neither the feed's own nor YouTube's."""


class FeedDeadline(httpx.TimeoutException):
    """The whole fetch took longer than CHANNEL_FEED_TOTAL_SECONDS (a server dripping its answer):
    no answer in time, as for the other timeouts."""


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
MAX_REDIRECTS = 3


def _client() -> httpx.Client:
    """One client per process and thread, created on first use: its pooled connections are kept
    across jobs, and never inherited through a fork (the cluster forks its workers). Redirects are
    followed by `fetch`, which checks where each one leads first."""
    client = getattr(_local, "client", None)
    if client is None:
        client = httpx.Client(headers={"User-Agent": USER_AGENT, "Accept": "application/atom+xml, application/xml"},
                              follow_redirects=False)
        _local.client = client
    return client


# Validators are sent back as request headers, which must be ASCII: a feed's non-ASCII or overlong
# ETag, once stored, would break every later request of the channel.
VALIDATOR = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?")
MAX_ETAG, MAX_LAST_MODIFIED = 200, 100


def validator(value: str, *, max_length: int) -> str:
    """The validator if it is visible ASCII (inner spaces allowed, as in a date) and fits; else ""."""
    return value if len(value) <= max_length and VALIDATOR.fullmatch(value) else ""


def fetch(url: str, *, etag: str = "", last_modified: str = "",
          clock: Callable[[], float] = time.monotonic) -> Response:
    """GET the feed, conditionally when validators are known; the body is read up to the cap.

    Redirects are followed only to the feed URL's own host and YouTube's (ForbiddenRedirect
    otherwise). The whole fetch must end within CHANNEL_FEED_TOTAL_SECONDS, by `clock` (seconds,
    monotonic): checked before each request and after each chunk of the body, and each read waits
    at most what is left. A validator unfit for a header (stored before they were checked) is
    not sent.

    Raises httpx.TimeoutException (FeedDeadline among them) / httpx.TransportError for network
    trouble, FeedTooLarge past the cap; any HTTP status is returned for the caller to judge.
    """
    headers = {}
    if etag := validator(etag, max_length=MAX_ETAG):
        headers["If-None-Match"] = etag
    if last_modified := validator(last_modified, max_length=MAX_LAST_MODIFIED):
        headers["If-Modified-Since"] = last_modified
    limit = int(SETTINGS.get("CHANNEL_FEED_MAX_BYTES"))
    read_timeout = float(SETTINGS.get("CHANNEL_FEED_READ_TIMEOUT_SECONDS"))
    connect_timeout = float(SETTINGS.get("CHANNEL_FEED_CONNECT_TIMEOUT_SECONDS"))
    total = float(SETTINGS.get("CHANNEL_FEED_TOTAL_SECONDS"))
    deadline = clock() + total
    allowed = {httpx.URL(url).host, *hosts.FEED_REDIRECT_HOSTS}

    def left(request: httpx.Request) -> float:
        remaining = deadline - clock()
        if remaining <= 0:
            raise FeedDeadline(f"The whole feed did not arrive within {total:g} s.", request=request)
        return remaining

    for _ in range(MAX_REDIRECTS + 1):
        # The request about to go out, so that a deadline passed before it (after a slow redirect)
        # names the host it was for: the words name the host tried (network_failure).
        remaining = left(httpx.Request("GET", url))
        timeout = httpx.Timeout(min(read_timeout, remaining), connect=min(connect_timeout, remaining))
        with _client().stream("GET", url, headers=headers, timeout=timeout) as response:
            if response.is_redirect and "Location" in response.headers:
                url = str(response.url.join(response.headers["Location"]))
                target = httpx.URL(url)
                if target.scheme not in ("http", "https") or target.host not in allowed:
                    raise ForbiddenRedirect(
                        f"The feed redirected to {target.host or repr(url)}, which is neither the feed's own host "
                        "nor YouTube's; not followed.")
                continue
            return _read(response, limit=limit, left=left)
    raise httpx.TooManyRedirects("Exceeded maximum allowed redirects.", request=response.request)


def _read(response: httpx.Response, *, limit: int, left: Callable[..., float]) -> Response:
    result = Response(
        status=response.status_code,
        etag=validator(response.headers.get("ETag", ""), max_length=MAX_ETAG),
        last_modified=validator(response.headers.get("Last-Modified", ""), max_length=MAX_LAST_MODIFIED),
        retry_after=response.headers.get("Retry-After", ""),
        content_type=response.headers.get("Content-Type", ""),
    )
    if response.status_code != 200:
        return result
    declared = response.headers.get("Content-Length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise FeedTooLarge(f"The feed is {int(declared):,} bytes, over the limit of {limit:,} bytes; refused.")
    chunks, size = [], 0
    for chunk in response.iter_bytes():
        left(response.request)
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
    if isinstance(exc, FeedDeadline):
        seconds = float(SETTINGS.get("CHANNEL_FEED_TOTAL_SECONDS"))
        return (f"The feed server {host} did not send the whole feed in time: it took longer than {seconds:g} s "
                "in all; gave up.")
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
    # Entries left out: of another channel, repeated, missing what a video needs, or past MAX_ENTRIES.
    skipped: int = 0
    foreign: int = 0  # of them, entries naming another channel
    beyond_limit: int = 0  # of them, entries past MAX_ENTRIES

    @property
    def note(self) -> str:
        """Why entries were left out, in words for the job's result; "" when none was."""
        if not self.skipped:
            return ""
        parts = []
        if self.foreign:
            parts.append(f"{self.foreign:,} of another channel")
        if self.beyond_limit:
            parts.append(f"{self.beyond_limit:,} past the first {MAX_ENTRIES:,}")
        other = self.skipped - self.foreign - self.beyond_limit
        if other:
            parts.append(f"{other:,} repeated or without a valid video id and publication date")
        return f"{self.skipped:,} feed entries left out: {', '.join(parts)}."


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
    for element in root.iterfind(f"{ATOM}entry"):
        entry_channel = _text(element, f"{YT}channelId")
        if entry_channel and entry_channel != channel_id:
            # Another channel's video, in this channel's feed: it is not this feed's to write.
            feed.skipped += 1
            feed.foreign += 1
            continue
        if len(feed.entries) >= MAX_ENTRIES:
            feed.skipped += 1
            feed.beyond_limit += 1
            continue
        entry = _entry(element)
        if entry is None or entry.video_id in seen:
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
        description = _text(group, f"{MEDIA}description")[:MAX_DESCRIPTION]
        thumb = group.find(f"{MEDIA}thumbnail")
        # Only YouTube's image hosts: the page shows it as an <img> (channels.hosts).
        thumbnail = hosts.thumbnail_url(thumb.get("url", "")) if thumb is not None else ""
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
    """The entry's link if it leads to YouTube (the page shows it as a link; channels.hosts), else ""."""
    for link in element.findall(f"{ATOM}link"):
        if link.get("rel", "alternate") == "alternate":
            return hosts.video_url(link.get("href", ""))
    return ""


def _text(element: Element, tag: str) -> str:
    found = element.find(tag)
    return (found.text or "").strip() if found is not None else ""


def _datetime(value: str) -> datetime | None:
    try:
        parsed = parse_datetime(value) if value else None
        if parsed is None or parsed.tzinfo is None:
            return None
        parsed = parsed.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        return None
    return parsed if EARLIEST <= parsed < LATEST else None


MAX_COUNT = 10**15  # far past any view count; the column holds 64 bits


def count(value: str) -> int | None:
    """A non-negative decimal count, or None: str.isdigit() alone also accepts "²", which int() refuses."""
    value = value.strip()
    if not (value.isascii() and value.isdigit()) or int(value) > MAX_COUNT:
        return None
    return int(value)


def _local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]
