from django.db import models
from django.urls import reverse
from django.utils import timezone

from jobs import registry


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    # A failed attempt waiting for its backoff to pass before it is queued again.
    RETRY_WAIT = "retry_wait", "Waiting to retry"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


ACTIVE_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.RETRY_WAIT)
CANCELLABLE_STATUSES = (JobStatus.QUEUED, JobStatus.RETRY_WAIT)
RETRYABLE_STATUSES = (JobStatus.FAILED, JobStatus.CANCELLED)


class JobPriority(models.IntegerChoices):
    LOW = 0, "Low"
    NORMAL = 5, "Normal"
    HIGH = 10, "High"


class Job(models.Model):
    """One unit of background work and its full record: what the /jobs pages show.

    The row is written before the work is queued and updated as it runs; the queue message
    carries only the id, so parameters, attempts and outcome live here and nowhere else.
    """

    job_type = models.CharField(max_length=64, db_index=True)
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    priority = models.SmallIntegerField(choices=JobPriority.choices, default=JobPriority.NORMAL)
    params = models.JSONField(default=dict, blank=True)

    attempts = models.PositiveSmallIntegerField(default=0, help_text="Attempts started so far.")
    max_retries = models.PositiveSmallIntegerField(default=3)
    time_limit_seconds = models.PositiveIntegerField(default=3600)

    created_at = models.DateTimeField(default=timezone.now)
    # When a queued or waiting job may next be handed to a worker (backoff for retries).
    available_at = models.DateTimeField(default=timezone.now)
    # When the job was last sent to the queue; the outbox re-sends queued jobs never picked up.
    enqueued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True, help_text="host:pid of the last worker.")
    # Something waits for the job's end (a schedule run, a group sync), as its creator says: the
    # announcement of its end is then durable (below). A job nobody waits for is announced all the
    # same, without the mark and the write that clears it.
    followed = models.BooleanField(default=False)
    # Set, on a followed job, by the write that makes it final (or queues it again by hand): its
    # followers have yet to hear of it. Cleared once they have; a job still marked at this time is
    # announced again by the scheduler's step (the worker died after its commit, or a listener
    # raised). See services.jobs_announce.
    announce_due_at = models.DateTimeField(null=True, blank=True)

    result = models.JSONField(null=True, blank=True)
    # The latest failure's traceback (or why the job was stopped); cleared when a new attempt starts.
    error = models.TextField(blank=True)
    # One entry per finished attempt (number, worker, start, finish, outcome, one-line error), so a
    # job that succeeded on its second try still says what happened to the first.
    attempt_log = models.JSONField(default=list, blank=True)
    # Failed without retries: the error is one no retry can fix (no handler, params it rejects).
    failed_permanently = models.BooleanField(default=False)

    # Who or what asked for the job, given by its creator ("Schedule 'Daily backup', run #12", "Sync
    # now by alice"), so the pages can say so without `jobs` knowing schedules or channels.
    origin_label = models.CharField(max_length=300, blank=True)
    origin_url = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["status", "available_at"], name="job_status_available_idx"),
            models.Index(fields=["job_type", "status"], name="job_type_status_idx"),
            # The /jobs list filtered by status walks this newest first instead of sorting.
            models.Index(fields=["status", "id"], name="job_status_id_idx"),
            # The outbox seeks queued jobs sent long ago without reading the whole backlog.
            models.Index(fields=["status", "enqueued_at"], name="job_status_enqueued_idx"),
            # The step seeks jobs whose announcement is overdue; an empty index when all is well.
            models.Index(fields=["announce_due_at"], condition=models.Q(announce_due_at__isnull=False),
                         name="job_announce_due_idx"),
        ]

    def __str__(self) -> str:
        return f"Job #{self.pk} {self.job_type} ({self.status})"

    def get_absolute_url(self) -> str:
        return reverse("job_detail", args=[self.pk])

    @property
    def label(self) -> str:
        return registry.label(self.job_type)

    @property
    def retries(self) -> int:
        """Retries used so far: every attempt after the first."""
        return max(self.attempts - 1, 0)

    @property
    def most_attempts(self) -> int:
        """The first attempt and its automatic retries."""
        return self.max_retries + 1

    @property
    def attempts_text(self) -> str:
        """"2 of at most 4": counted in attempts, as "attempt 2" is everywhere (the log, the retry
        dialog), never in retries beside it. A permanent failure says that no retry comes, and why."""
        if self.attempts == 0:
            return f"None yet (at most {self.most_attempts})"
        text = f"{self.attempts} of at most {self.most_attempts}"
        if self.failed_permanently:
            return f"{text}; no more: a retry cannot fix this error"
        return text

    @property
    def duration(self):
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def can_cancel(self) -> bool:
        return self.status in CANCELLABLE_STATUSES

    @property
    def can_retry(self) -> bool:
        return self.status in RETRYABLE_STATUSES
