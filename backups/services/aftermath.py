"""What follows a restore: a restored database is a copy of another moment, and some of what it holds
describes processes that are gone.

- **The cache table.** With the database cache (the default without Redis), django-q2's cluster status
  and the alerts' "workers missing since" live in a table of the database: the copy's would show clusters
  that are gone as alive. It is emptied.
- **Jobs.** Jobs that were queued, running or waiting to retry in the copy have no worker any more (a
  running one would wait an hour for the reaper, then run again; a queued one would run hours or days
  late). They are cancelled, "Interrupted by a restore", and listed.
- **The backup lock.** The copy holds its own backup's row as it was while the copy was taken: running.
  Backups never overlap, so that row would refuse every new backup as "Another backup is running". When
  the backup's finished file and manifest are in BACKUP_DIR, the row is completed from its manifest (the
  file is that backup, good); otherwise it is recorded as interrupted. No file is deleted either way.

`restore_backup` (both ways: by id and from a file) runs this right after it replaced the database.

**A restore by hand** (stock tools, docs/restore.md) runs nothing of ours, so the app notices it:
`restored_copy_settle` looks for a backup row still running whose finished manifest is in BACKUP_DIR. The
app records a backup as completed before it writes its manifest (backups.services.making.backup_create),
so in a database that was never replaced such a row cannot exist: a running row with a manifest beside
its file is a copy taken during that backup, restored. The row is completed by a compare-and-set (a row
that is no longer running means a live process finished it: nothing to do), and the same aftermath runs,
limited to the jobs created before that backup finished: later ones were made after the restore. It runs
on every scheduler step (after the jobs' maintenance, through jobs.signals.jobs_maintained) and before
every backup (backups_release_stale), so the first step of the worker's safety net or of the scheduler,
or the first backup, notices a restore by hand: one query on the running backup rows when there is none.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.core.cache import caches
from django.db import DatabaseError

from backups import conf, files
from backups.models import Backup, BackupStatus
from backups.services.adopting import fields_from_manifest
from jobs.services import Interrupted, jobs_interrupt

logger = logging.getLogger(__name__)

DATABASE_CACHE = "django.core.cache.backends.db.DatabaseCache"


@dataclass
class Aftermath:
    """What a restore's aftermath did."""

    interrupted: list[Interrupted] = field(default_factory=list)
    caches_emptied: list[str] = field(default_factory=list)  # the cache tables
    completed: list[Backup] = field(default_factory=list)  # running rows completed from their manifests
    released: list[Backup] = field(default_factory=list)  # running rows with no finished file: interrupted
    problems: list[str] = field(default_factory=list)


def _when(instant: datetime) -> str:
    return f"{instant:%Y-%m-%d %H:%M} UTC"


def caches_empty() -> tuple[list[str], list[str]]:
    """Empty every cache kept in a table of the database; return (the tables, the problems)."""
    emptied, problems = [], []
    for alias, options in settings.CACHES.items():
        if options.get("BACKEND") != DATABASE_CACHE:
            continue
        try:
            caches[alias].clear()
        except DatabaseError as exc:
            problems.append(f"The cache table {options.get('LOCATION')} could not be emptied ({exc}); run "
                            "manage.py createcachetable.")
            continue
        emptied.append(str(options.get("LOCATION")))
    return emptied, problems


def _complete_from_manifest(backup: Backup, manifest: files.Manifest, *, now: datetime, note: str) -> bool:
    """Record a running row as its manifest says it ended (a compare-and-set on `running`)."""
    fields = {**fields_from_manifest(manifest), "note": note}
    fields.pop("file_name")  # the same: finished_manifest matched it
    return bool(Backup.objects.filter(pk=backup.pk, status=BackupStatus.RUNNING).update(**fields))


def restore_aftermath(*, now: datetime, jobs_until: datetime, restored: str) -> Aftermath:
    """After a restore: empty the cache table, interrupt the jobs the copy had active (created up to
    `jobs_until`), and settle the copy's running backup row. `restored` says what was restored, in words
    ("backup #12 (db-sqlite-….sqlite3.zst), made 2026-12-01 02:00 UTC"), for the records."""
    aftermath = Aftermath()
    aftermath.caches_emptied, aftermath.problems = caches_empty()
    aftermath.interrupted = jobs_interrupt(
        created_until=jobs_until, now=now,
        reason=(f"Interrupted by a restore: the database was restored from {restored} on {_when(now)}. This job was "
                "active in the restored copy, and the worker that had it is gone."))
    directory = conf.backup_dir()
    for backup in Backup.objects.filter(status=BackupStatus.RUNNING):
        manifest = files.finished_manifest(directory, file_name=backup.file_name, backup_id=backup.pk)
        if manifest is not None:
            note = (f"Recorded from its manifest on {_when(now)}: the database was restored from {restored}, a copy "
                    "taken while this backup ran.")
            if _complete_from_manifest(backup, manifest, now=now, note=note):
                aftermath.completed.append(backup)
            continue
        error = (f"Interrupted by a restore: the database was restored from {restored} on {_when(now)}, a copy taken "
                 f"while this backup ran; its file is not in {directory}.")
        if Backup.objects.filter(pk=backup.pk, status=BackupStatus.RUNNING).update(
                status=BackupStatus.FAILED, error=error, finished_at=now):
            aftermath.released.append(backup)
    for backup in (*aftermath.completed, *aftermath.released):
        backup.refresh_from_db()
    return aftermath


def restored_copy_settle(*, now: datetime) -> Aftermath | None:
    """Notice a restore by hand and do its aftermath (see the module's docstring); None if there was none."""
    directory = conf.backup_dir()
    for backup in Backup.objects.filter(status=BackupStatus.RUNNING):
        manifest = files.finished_manifest(directory, file_name=backup.file_name, backup_id=backup.pk)
        if manifest is None:
            continue
        restored = f"backup #{backup.pk} ({backup.file_name}, made {_when(manifest.started_at)})"
        note = (f"Recorded from its manifest on {_when(now)}: the database was restored by hand from this backup, a "
                "copy taken while it ran.")
        if not _complete_from_manifest(backup, manifest, now=now, note=note):
            continue  # no longer running: a live process finished it, nothing was restored
        Backup.objects.filter(pk=backup.pk).update(restored_at=now)
        aftermath = restore_aftermath(now=now, jobs_until=manifest.finished_at, restored=f"{restored}, by hand")
        backup.refresh_from_db()
        aftermath.completed.insert(0, backup)
        logger.warning(
            "The database was restored by hand from backup #%s: recorded it as completed, interrupted %d job(s) "
            "active in the copy, emptied %d cache table(s).", backup.pk, len(aftermath.interrupted),
            len(aftermath.caches_emptied),
            extra={"event": "restore_noticed", "backup_id": backup.pk,
                   "jobs_interrupted": [item.job.pk for item in aftermath.interrupted]})
        return aftermath
    return None
