"""Which YouTube channel a person means: one parser for every entrance (forms, admin, API, commands).

YouTube's feed is keyed by the channel id (`UC` + 22 characters). People paste that id, the
channel's URL or its feed URL; all three name the id. A handle (`@name`) or a legacy `/c/` or
`/user/` URL does not: resolving one needs YouTube's web pages, which this app does not scrape.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from django.core.exceptions import ValidationError

CHANNEL_ID = re.compile(r"UC[A-Za-z0-9_-]{22}")
YOUTUBE_HOSTS = {"youtube.com", "www.youtube.com", "m.youtube.com", "music.youtube.com"}

ACCEPTED_FORMS = ("the channel id (UC followed by 22 characters), the channel URL "
                  "(https://www.youtube.com/channel/UC…) or the feed URL "
                  "(https://www.youtube.com/feeds/videos.xml?channel_id=UC…)")
FIND_THE_ID = "On YouTube, the channel's About panel has “Share channel” → “Copy channel ID”."


def parse_channel_reference(text: str) -> str:
    """The channel id that `text` names; ValidationError with a message saying what works otherwise."""
    value = (text or "").strip()
    if not value:
        raise ValidationError(f"Enter {ACCEPTED_FORMS}.", code="required")
    if CHANNEL_ID.fullmatch(value):
        return value
    if value.startswith("@"):
        raise _not_an_id(f"“{value}” is a handle")
    url = value if "://" in value else f"https://{value}" if _looks_like_youtube(value) else None
    if url is None:
        raise ValidationError(f"“{_short(value)}” is not a YouTube channel id or URL. Use {ACCEPTED_FORMS}.",
                              code="invalid")
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or host not in YOUTUBE_HOSTS:
        raise ValidationError(f"“{_short(value)}” is not a YouTube address. Use {ACCEPTED_FORMS}.", code="invalid")
    segments = [s for s in parts.path.split("/") if s]
    if segments[:1] == ["channel"] and len(segments) >= 2 and CHANNEL_ID.fullmatch(segments[1]):
        return segments[1]
    if segments == ["feeds", "videos.xml"]:
        [channel_id] = parse_qs(parts.query).get("channel_id", [""])[:1] or [""]
        if CHANNEL_ID.fullmatch(channel_id):
            return channel_id
        raise ValidationError("This feed URL has no valid channel_id (UC followed by 22 characters).",
                              code="invalid")
    if segments and segments[0].startswith("@"):
        raise _not_an_id(f"“{segments[0]}” is a handle")
    if segments[:1] in (["c"], ["user"]):
        raise _not_an_id(f"A /{segments[0]}/ URL is a custom name")
    raise ValidationError(f"This YouTube URL does not name a channel id. Use {ACCEPTED_FORMS}.", code="invalid")


def _not_an_id(what: str) -> ValidationError:
    return ValidationError(
        f"{what}, not a channel id; the feed needs the id. Use {ACCEPTED_FORMS}. {FIND_THE_ID}", code="handle")


def _looks_like_youtube(value: str) -> bool:
    return value.split("/", 1)[0].lower() in YOUTUBE_HOSTS


def _short(value: str) -> str:
    return value if len(value) <= 80 else value[:77] + "…"
