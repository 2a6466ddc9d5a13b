"""Settings for the test suite: the real ones, minus what only slows tests down."""

import os

from config.settings import *  # noqa: F403
from config.settings import DATABASES, STATIC_ROOT, STORAGES, VAR_DIR

# Manifest storage needs collectstatic first; tests render templates without it.
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns about a missing one
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not memory: integration tests start real processes (qcluster, schedule_tick) that
    # must see the same database. pytest-django suffixes the name per xdist worker.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}

# Jobs: test-only handlers (TEST_OK, TEST_FAIL, ...), also loaded by the qcluster and scheduler
# processes the integration tests start, and delays short enough for those tests to see retries
# and reaping within seconds.
JOB_HANDLER_MODULES = ["tests.jobs.handlers"]
JOBS_RETRY_BACKOFF_SECONDS = 1
JOBS_REAP_MARGIN_SECONDS = 1
JOBS_NEVER_SENT_GRACE_SECONDS = 1
JOBS_ANNOUNCE_AGAIN_AFTER_SECONDS = 1
# A killed `schedule_tick --loop` shows in /healthz after this long (30 s in production).
SCHEDULER_LOOP_MAX_AGE_SECONDS = 6  # above the idle loop's 5 s heartbeat

# Backups the tests make (a real scheduler may cross 02:00 UTC) stay out of the app's own folder,
# unless a test gives the processes it starts a folder of its own.
if "BACKUP_DIR" not in os.environ:
    BACKUP_DIR = VAR_DIR / "test-backups"

# Notifications: the watches every second, and the real-process tests see a stopped process within
# seconds (the defaults are minutes). Tests of the thresholds set their own.
NOTIFY_WATCH_EVERY_SECONDS = 1
NOTIFY_RETRY_BACKOFF_SECONDS = 1
NOTIFY_WORKERS_DOWN_AFTER_SECONDS = 3
NOTIFY_SCHEDULER_STOPPED_AFTER_SECONDS = 10  # above the idle loop's 5 s heartbeat
