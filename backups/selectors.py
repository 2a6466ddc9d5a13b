"""Reads for the /backups page, the API and the commands."""

from __future__ import annotations

from django.db.models import QuerySet

from backups import conf, files
from backups.models import Backup, BackupStatus
from backups.tasks import TASK_TYPE
from scheduling.models import ScheduledTask


def backup_list(*, include_skipped: bool = True) -> QuerySet[Backup]:
    """Every backup, newest first (the skipped ones say why a run made no file)."""
    backups = Backup.objects.select_related("job")
    if not include_skipped:
        backups = backups.exclude(status=BackupStatus.SKIPPED)
    return backups.order_by("-started_at", "-id")


def newest_good_backup() -> Backup | None:
    """The newest completed backup that was verified and failed no later verification."""
    return Backup.objects.good().order_by("-started_at", "-id").first()


def last_backup_attempt() -> Backup | None:
    """The newest backup that was tried (not skipped): the "last result" of the page."""
    return Backup.objects.exclude(status=BackupStatus.SKIPPED).order_by("-started_at", "-id").first()


def backup_schedule():
    """The schedule that runs the backups (the default one the migration created, unless replaced)."""
    return ScheduledTask.objects.filter(task_type=TASK_TYPE).order_by("-enabled", "id").first()


def backup_dir_usage() -> dict:
    """BACKUP_DIR: bytes used by its files, and the free and total space of its disk."""
    return files.folder_usage(conf.backup_dir())
