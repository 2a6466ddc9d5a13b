"""Reads for the /backups page, the API and the commands."""

from __future__ import annotations

from pathlib import Path

from django.db.models import QuerySet

from backups import conf, files
from backups.errors import BackupError
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


def backup_file_path(*, backup: Backup) -> Path:
    """The backup's file, only if the app made it: a completed backup, its exact name, in BACKUP_DIR."""
    if backup.status != BackupStatus.COMPLETED:
        raise BackupError(f"Backup #{backup.pk} is {backup.get_status_display().lower()}; only completed backups have "
                          "a file.")
    if not files.is_ours(backup.file_name, backup.pk):
        raise BackupError(f"Backup #{backup.pk} names the file {backup.file_name!r}, which is not a name the app "
                          "gives; it is not opened.")
    path = conf.backup_dir() / backup.file_name  # the name pattern has no separators: stays in BACKUP_DIR
    if not path.is_file():
        raise BackupError(f"The file of backup #{backup.pk} is missing: {path}.")
    return path
