from django.db import models
from django.utils import timezone


class BackupStatus(models.TextChoices):
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"


class Backup(models.Model):
    """One backup file of the app's own database, and how it was made."""

    status = models.CharField(max_length=16, choices=BackupStatus.choices, default=BackupStatus.RUNNING)
    backup_type = models.CharField(max_length=16, default="full")
    database_vendor = models.CharField(max_length=32, help_text="sqlite or postgresql")
    file_name = models.CharField(max_length=255, blank=True)
    size_bytes = models.BigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    compression = models.CharField(max_length=16, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    job = models.ForeignKey("jobs.Job", on_delete=models.SET_NULL, null=True, blank=True, related_name="backups")

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return self.file_name or f"Backup #{self.pk}"
