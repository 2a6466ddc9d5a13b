"""The backups' words for the pages: how a backup someone started ended (the live pages' toast)."""

from __future__ import annotations

from backups.files import human_size
from backups.models import Backup, BackupStatus


def backup_finished(backup: Backup) -> str:
    """"Backup #6 done: 12.3 MB, verified.", or why it failed or was skipped."""
    if backup.status in (BackupStatus.COMPLETED, BackupStatus.DELETED):
        checked = "verified" if backup.verified_at and not backup.verify_error else "not verified"
        return f"Backup #{backup.pk} done: {human_size(backup.size_bytes)}, {checked}."
    if backup.status == BackupStatus.SKIPPED:
        return f"Backup #{backup.pk} skipped" + (f": {backup.note}" if backup.note else ".")
    return f"Backup #{backup.pk} failed" + (f": {backup.error.strip().splitlines()[-1]}" if backup.error.strip() else ".")
