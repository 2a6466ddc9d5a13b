"""The hosts a YouTube feed may point this app at: the one list, used by the feed parser (what is
stored), the models (what stored rows are rendered), the feed fetcher (where a redirect may go) and the
page's Content-Security-Policy (`THUMBNAIL_CSP_SOURCES`, img-src).

A feed is outside input: an entry's link becomes an `<a href>` and its thumbnail an `<img src>` on
the channel page, so a feed (or a server posing as YouTube's feed, or a redirect) could otherwise
send the browser anywhere, or load a tracking image from any host. YouTube's own feeds use only these.
No database here, no app import: common-level code.
"""

from __future__ import annotations

from urllib.parse import urlsplit

# Thumbnails: i.ytimg.com, i1..i9.ytimg.com and the like (any subdomain of ytimg.com), and channel
# avatars on yt3.ggpht.com.
THUMBNAIL_HOSTS = frozenset({"i.ytimg.com", "yt3.ggpht.com"})
THUMBNAIL_HOST_SUFFIXES = (".ytimg.com",)
# The same, in the form a Content-Security-Policy's img-src takes.
THUMBNAIL_CSP_SOURCES = ("https://i.ytimg.com", "https://*.ytimg.com", "https://yt3.ggpht.com")

VIDEO_HOSTS = frozenset({"www.youtube.com", "youtube.com", "m.youtube.com", "youtu.be"})

# Where a feed request may be redirected, besides the feed URL's own host.
FEED_REDIRECT_HOSTS = frozenset({"www.youtube.com", "youtube.com"})

MAX_URL = 500


def https_host(value: str) -> str:
    """The lower-cased host of an https URL with no user, password or port of its own; "" for
    anything else (another scheme, a relative or malformed URL, control characters, too long)."""
    if not value or len(value) > MAX_URL or not value.isascii() or not value.isprintable() or " " in value \
            or "\\" in value:
        return ""
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:  # a port that is not a number, a bad IPv6 literal
        return ""
    if parts.scheme != "https" or port is not None or parts.username is not None or parts.password is not None:
        return ""
    return (parts.hostname or "").rstrip(".")


def is_thumbnail_url(value: str) -> bool:
    host = https_host(value)
    return host in THUMBNAIL_HOSTS or (host.endswith(THUMBNAIL_HOST_SUFFIXES)
                                       and len(host) > len(".ytimg.com"))


def is_video_url(value: str) -> bool:
    return https_host(value) in VIDEO_HOSTS


def thumbnail_url(value: str) -> str:
    """The URL if it is a YouTube thumbnail's, else "" (nothing is shown)."""
    value = value.strip()
    return value if is_thumbnail_url(value) else ""


def video_url(value: str) -> str:
    """The URL if it leads to YouTube, else ""."""
    value = value.strip()
    return value if is_video_url(value) else ""
