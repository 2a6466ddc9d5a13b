"""The jobs app's settings, with their defaults in one place.

Each can be overridden in Django settings; the test settings shorten the delays so that tests
against a real cluster finish in seconds.
"""

from __future__ import annotations

from common.conf import AppSettings

SETTINGS = AppSettings({
    # First retry waits this long; each further retry doubles it, up to the cap.
    "JOBS_RETRY_BACKOFF_SECONDS": 30.0,
    "JOBS_RETRY_BACKOFF_MAX_SECONDS": 3600.0,
    # A running job is reaped this long after its time limit has passed. django-q2 stops a job at
    # its limit itself (and kills the worker 3 s later if it does not stop), so a job still
    # `running` past the margin has lost its worker.
    "JOBS_REAP_MARGIN_SECONDS": 60.0,
    # A queued job not picked up this long after it was sent is sent again (the outbox). Only
    # while the broker has no messages waiting, so a long backlog is not sent twice.
    "JOBS_RESEND_AFTER_SECONDS": 300.0,
    # Sooner, once a job has waited this long: when every worker cluster is idle (no message in
    # hand) and the broker holds fewer messages than such jobs, the difference was lost (a broker
    # restarted without its data, a cluster killed with messages in hand) and is sent again.
    "JOBS_RESEND_LOST_AFTER_SECONDS": 30.0,
    # A job still marked "to announce" this long after it became final is announced again by the
    # scheduler's step: its worker died between the commit and the announcement, or a listener raised.
    "JOBS_ANNOUNCE_AGAIN_AFTER_SECONDS": 5.0,
    # Jobs announced again per batch (one claim, one announcement, one clear).
    "JOBS_ANNOUNCE_BATCH_SIZE": 50,
    # Jobs sent on commit (Redis) have no `enqueued_at` for a moment: the outbox leaves them this long
    # before it sends them itself, so it does not race the sender.
    "JOBS_NEVER_SENT_GRACE_SECONDS": 10.0,
    # Rows per maintenance step and transaction: short write locks on SQLite.
    "JOBS_MAINTENANCE_BATCH_SIZE": 200,
    # Modules imported when the app is ready, for job handlers that no app registers (tests).
    "JOB_HANDLER_MODULES": [],
})
get, seconds = SETTINGS.get, SETTINGS.seconds
