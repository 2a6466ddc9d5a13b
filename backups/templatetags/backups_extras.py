from django import template

from backups import files
from backups.models import BackupStatus

register = template.Library()

STATUS_BADGES = {
    BackupStatus.COMPLETED: "badge-ok",
    BackupStatus.RUNNING: "badge-info",
    BackupStatus.FAILED: "badge-error",
    BackupStatus.SKIPPED: "badge-muted",
    BackupStatus.DELETED: "badge-muted",
}


@register.filter
def backup_badge(status: str) -> str:
    return STATUS_BADGES.get(status, "badge-neutral")


@register.filter
def human_size(size) -> str:
    """1.2 MB (powers of 1000, as disks are sold)."""
    return files.human_size(size)
