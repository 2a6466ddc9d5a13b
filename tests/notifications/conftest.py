"""Helpers of the notifications tests; the `webhook` and `smtp` fixtures are in tests/conftest.py."""

from __future__ import annotations

import datetime as dt

from notifications import services

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def send_all(*, now: dt.datetime = NOW) -> int:
    """What the scheduler's steps do at `now` until nothing due is left: claim and send."""
    total = 0
    while claimed := services.deliveries_send_due(now=now):
        total += claimed
    return total
