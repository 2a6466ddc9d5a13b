"""The notifications app's settings, with their defaults in one place (override any in Django settings)."""

from __future__ import annotations

from common.conf import AppSettings

SETTINGS = AppSettings({
    # Comma-separated Apprise URLs from the environment (config/settings.py reads and checks them).
    "NOTIFY_URLS": [],
    # Where the app is reached, for the links in alerts; empty: the links are paths.
    "SITE_URL": "",
    # The registered watches (stale backups, processes, feed outages) run at most this often per
    # process; the scheduler loop takes its step every second.
    "NOTIFY_WATCH_EVERY_SECONDS": 30.0,
    # A failed delivery waits this long before its second attempt, doubling up to the cap.
    "NOTIFY_RETRY_BACKOFF_SECONDS": 60.0,
    "NOTIFY_RETRY_BACKOFF_MAX_SECONDS": 3600.0,
    # Attempts before a delivery is given up (1+2+4+...+60 min: about four hours).
    "NOTIFY_MAX_ATTEMPTS": 10,
    # One service may take this long (Apprise's per-service budget; Django's EMAIL_TIMEOUT for email).
    "NOTIFY_SEND_TIMEOUT_SECONDS": 10.0,
    # Deliveries sent per scheduler step: sending is network time the step spends outside its
    # transactions, so it is kept to a few; the rest go out on the next steps.
    "NOTIFY_SENDS_PER_STEP": 3,
    # A delivery claimed this long ago and still `sending` lost its process: it is taken back.
    "NOTIFY_CLAIM_STALE_SECONDS": 120.0,
})
get, seconds = SETTINGS.get, SETTINGS.seconds
