"""The scheduling app's settings, with their defaults in one place (override any in Django settings)."""

from __future__ import annotations

from common.conf import AppSettings

SETTINGS = AppSettings({
    # `schedule_tick --loop` writes a heartbeat at least every 5 s: silent this long, it counts as stopped.
    "SCHEDULER_LOOP_MAX_AGE_SECONDS": 30.0,
    # History: runs and finished jobs older than this many days are pruned once a day (env HISTORY_DAYS),
    # in batches of this many rows (a short write lock each), at most this many batches per scheduler step.
    "HISTORY_DAYS": 90,
    "HISTORY_PRUNE_BATCH_SIZE": 500,
    "HISTORY_PRUNE_BATCHES_PER_STEP": 10,
})
get, seconds = SETTINGS.get, SETTINGS.seconds
