"""The scheduling app's settings, with their defaults in one place (override any in Django settings)."""

from __future__ import annotations

from common.conf import AppSettings

SETTINGS = AppSettings({
    # `schedule_tick --loop` writes a heartbeat at least every 5 s: silent this long, it counts as stopped.
    "SCHEDULER_LOOP_MAX_AGE_SECONDS": 30.0,
})
get, seconds = SETTINGS.get, SETTINGS.seconds
