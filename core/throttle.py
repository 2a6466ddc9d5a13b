"""Refused API tokens, counted per client address, so nobody can guess tokens at the API's full speed.

The counts live in Django's cache, which every web process shares (the database cache, or Redis with
REDIS_URL). Windows are fixed (API_TOKEN_FAILURE_WINDOW_SECONDS long, counted from the epoch), one cache key
per address and window: a count is `cache.add` (creates it once) and `cache.incr`, never read-modify-write
in our code, and it expires with its window without a pruner. An address that reached the limit in the
current window is refused until the window ends, whatever it sends.

django-ninja's own throttles (ninja.throttling) count every request, and run after authentication, which
ends at the first refused token: they cannot count failures only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.cache import cache

KEY_PREFIX = "api-token-failures"


@dataclass(frozen=True)
class Window:
    key: str
    seconds_left: int  # until the window ends; at least 1


def _window(address: str, now: datetime) -> Window:
    length = settings.API_TOKEN_FAILURE_WINDOW_SECONDS
    instant = now.timestamp()
    number = math.floor(instant / length)
    return Window(key=f"{KEY_PREFIX}:{number}:{address}",
                  seconds_left=max(1, math.ceil((number + 1) * length - instant)))


def token_failures_blocked(*, address: str, now: datetime) -> int | None:
    """Seconds until `address` may try tokens again, or None if it may now."""
    window = _window(address, now)
    if cache.get(window.key, 0) >= settings.API_TOKEN_FAILURE_LIMIT:
        return window.seconds_left
    return None


def token_failure_record(*, address: str, now: datetime) -> int:
    """Count one refused token from `address`; the count in the current window so far."""
    window = _window(address, now)
    # A second past the window's end: the key outlives no window it could still be read in.
    cache.add(window.key, 0, timeout=window.seconds_left + 1)
    try:
        return cache.incr(window.key)
    except ValueError:  # expired between the two calls: this failure starts the count again
        cache.add(window.key, 1, timeout=window.seconds_left + 1)
        return 1
