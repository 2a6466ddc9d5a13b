from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import ngettext


class BackupStatus(models.TextChoices):
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    # A job that found nothing to do (a verified backup of its window exists, or another backup
    # was running): recorded so that the list says why no file came of it.
    SKIPPED = "skipped", "Skipped"
    # The file was deleted (retention, or by hand); the row stays as the record of it.
    DELETED = "deleted", "Deleted"


class BackupPurpose(models.TextChoices):
    REGULAR = "regular", "Backup"
    PRE_RESTORE = "pre_restore", "Taken before a restore"


class DrillOutcome(models.TextChoices):
    """What the last restore drill of a backup found (backups.services.drilling)."""

    PASSED = "passed", "Restore-tested"
    FAILED = "failed", "Restore drill failed"


class BackupQuerySet(models.QuerySet):
    def good(self):
        """Backups whose file exists, was verified, and failed no later verification."""
        return self.filter(status=BackupStatus.COMPLETED, verified_at__isnull=False, verify_error="")


class Backup(models.Model):
    """One backup of the app's own database: how it was made, and the file it made.

    A manifest beside each file (`<file>.json`) holds the same, so a backup still describes itself
    when the database it came from is lost.
    """

    status = models.CharField(max_length=16, choices=BackupStatus.choices, default=BackupStatus.RUNNING)
    purpose = models.CharField(max_length=16, choices=BackupPurpose.choices, default=BackupPurpose.REGULAR)
    backup_type = models.CharField(max_length=16, default="full")
    database_vendor = models.CharField(max_length=32, help_text="sqlite or postgresql")
    database_version = models.CharField(max_length=100, blank=True, help_text="SQLite library or server version.")
    tool = models.CharField(max_length=100, blank=True, help_text="What made the copy, e.g. pg_dump 15.10.")
    file_name = models.CharField(max_length=255, blank=True)
    size_bytes = models.BigIntegerField(null=True, blank=True, help_text="Size of the published file.")
    database_size_bytes = models.BigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True, help_text="SHA-256 of the published file.")
    compression = models.CharField(max_length=40, blank=True)
    duration_seconds = models.FloatField(null=True, blank=True)
    applied_migrations = models.JSONField(default=list, blank=True, help_text='["app.name", ...] in the copy.')
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True, help_text="Last successful verification.")
    verify_error = models.TextField(blank=True, help_text="Why the last verification failed, if it did.")
    error = models.TextField(blank=True)
    # Why it was skipped or deleted, in words.
    note = models.TextField(blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    restored_at = models.DateTimeField(null=True, blank=True)
    # {"table": rows} of the copy, counted when the backup was made (also in the manifest, as "tables").
    table_rows = models.JSONField(default=dict, blank=True, help_text='{"table": rows} at backup time.')
    # The last restore drill: the backup restored into a scratch database and checked against its manifest.
    drilled_at = models.DateTimeField(null=True, blank=True, help_text="When its last restore drill finished.")
    drill_outcome = models.CharField(max_length=16, choices=DrillOutcome.choices, blank=True)
    drill_detail = models.TextField(blank=True, help_text="What the last drill found wrong, or a note on it.")
    drill_seconds = models.FloatField(null=True, blank=True)
    drill_tables = models.PositiveIntegerField(null=True, blank=True, help_text="Tables in the restored copy.")
    drill_rows = models.BigIntegerField(null=True, blank=True, help_text="Rows in the restored copy.")
    # host:pid of the process making it, so a backup whose process died can be told from one in progress.
    worker = models.CharField(max_length=200, blank=True)
    job = models.ForeignKey("jobs.Job", on_delete=models.SET_NULL, null=True, blank=True, related_name="backups")
    # The off-site copy (backups.offsite): when it was copied and checked, where to (masked: a remote's
    # parameters may hold secrets), how it was checked; or the last attempt's error. The job that copies it.
    offsite_copied_at = models.DateTimeField(null=True, blank=True, help_text="When the off-site copy was made "
                                             "and checked.")
    offsite_remote = models.CharField(max_length=500, blank=True, help_text="Where the copy is (BACKUP_REMOTE, "
                                      "masked).")
    offsite_check = models.CharField(max_length=200, blank=True, help_text="How the copy was checked.")
    offsite_error = models.TextField(blank=True, help_text="Why the last off-site copy attempt failed, if it did.")
    offsite_deleted_at = models.DateTimeField(null=True, blank=True, help_text="When the off-site copy was deleted.")
    offsite_job = models.ForeignKey("jobs.Job", on_delete=models.SET_NULL, null=True, blank=True,
                                    related_name="offsite_backups", help_text="The job that copies it off-site.")

    objects = BackupQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            # One backup at a time, by construction: a second running row cannot be inserted,
            # whichever process or machine tries.
            models.UniqueConstraint(fields=["status"], condition=Q(status="running"), name="one_running_backup"),
        ]
        indexes = [models.Index(fields=["status", "-started_at"], name="backup_status_started_idx")]
        # Downloading is stricter than seeing the list: a backup holds every user's data,
        # password hashes and API tokens included.
        permissions = [("download_backup", "Can download backup files")]

    def __str__(self) -> str:
        return self.file_name or f"Backup #{self.pk}"

    @property
    def ratio(self) -> float | None:
        """Database size over file size: 4.0 means the file is a quarter of the database."""
        if self.size_bytes and self.database_size_bytes:
            return self.database_size_bytes / self.size_bytes
        return None

    @property
    def has_file(self) -> bool:
        """Only a completed backup has a file: a running one has none yet, a deleted one no longer."""
        return self.status == BackupStatus.COMPLETED

    def no_file_reason(self, *, to: str = "") -> str:
        """Why there is no file to act on ("" if there is one): the one wording the services, pages and
        commands give. `to` names the action ("verify": "...have a file to verify.")."""
        if self.has_file:
            return ""
        action = f" to {to}" if to else ""
        return (f"Backup #{self.pk} is {self.get_status_display().lower()}: only completed backups have a "
                f"file{action}.")

    @property
    def offsite_state(self) -> str:
        """copied, deleted (with the backup), waiting (its job is still trying), failed (its job ended without
        a copy), or "" (never asked)."""
        if self.offsite_copied_at is not None:
            return "deleted" if self.offsite_deleted_at is not None else "copied"
        if self.offsite_job_id is None:
            return ""
        return "waiting" if self.offsite_job.is_active else "failed"

    def drill_figures(self) -> str:
        """What the last drill that restored it found: "41 tables, 12,345 rows, 2.1 s"."""
        parts = []
        if self.drill_tables is not None:
            parts.append(ngettext("%(n)s table", "%(n)s tables", self.drill_tables) % {"n": f"{self.drill_tables:,}"})
        if self.drill_rows is not None:
            parts.append(ngettext("%(n)s row", "%(n)s rows", self.drill_rows) % {"n": f"{self.drill_rows:,}"})
        if self.drill_seconds is not None:
            parts.append(f"{self.drill_seconds:.1f} s")
        return ", ".join(parts)

    @property
    def schedule_run(self):
        """The schedule run whose job made this backup, if a schedule did."""
        if self.job_id is None:
            return None
        from scheduling.models import ScheduleRun

        return ScheduleRun.objects.filter(jobs=self.job_id).order_by("-id").first()
