from urllib.parse import quote

from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import ngettext

from channels import hosts
from common.formatting import format_instant

youtube_channel_id = RegexValidator(
    r"^UC[A-Za-z0-9_-]{22}$", "A YouTube channel id looks like UC followed by 22 letters, digits, - or _."
)


class ChannelGroup(models.Model):
    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    # After the feed answered 403 or 429, group syncs skip every channel until then: YouTube
    # throttles by address, so asking again at once only prolongs it.
    cooldown_until = models.DateTimeField(null=True, blank=True)
    cooldown_reason = models.CharField(max_length=300, blank=True)
    # The newest finished sync of the group (its summary) and the newest one judged a feed outage.
    last_sync = models.ForeignKey("GroupSync", on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
                                  editable=False)
    last_outage_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def in_cooldown(self, now) -> bool:
        return self.cooldown_until is not None and self.cooldown_until > now


class SyncOutcome(models.TextChoices):
    """How one check of a channel's feed went; the words the pages show for a channel's status."""

    SYNCED = "synced", "Synced"
    UNCHANGED = "unchanged", "Synced, nothing new"
    NOT_FOUND = "not_found", "Feed not found (HTTP 404)"
    THROTTLED = "throttled", "Refused by YouTube (HTTP 403/429)"
    SERVER_ERROR = "server_error", "YouTube server error"
    UNREACHABLE = "unreachable", "Feed unreachable (timeout or network error)"
    BAD_FEED = "bad_feed", "Unreadable feed"
    FEED_OUTAGE = "feed_outage", "YouTube feed outage (not counted against the channel)"
    SKIPPED_BACKOFF = "skipped_backoff", "Skipped: waiting after failures"
    SKIPPED_COOLDOWN = "skipped_cooldown", "Skipped: cool-down after YouTube refused"


SUCCESS_OUTCOMES = (SyncOutcome.SYNCED, SyncOutcome.UNCHANGED)
SKIPPED_OUTCOMES = (SyncOutcome.SKIPPED_BACKOFF, SyncOutcome.SKIPPED_COOLDOWN)
# Answers that look the same for every channel when YouTube's feed endpoint is down. No answer at all
# (UNREACHABLE) is not one: that is the network between this server and YouTube (channels.sync).
OUTAGE_OUTCOMES = (SyncOutcome.NOT_FOUND, SyncOutcome.SERVER_ERROR)


class Channel(models.Model):
    groups = models.ManyToManyField(ChannelGroup, related_name="channels", blank=True)
    youtube_id = models.CharField("YouTube id", max_length=24, unique=True, validators=[youtube_channel_id])
    title = models.CharField(max_length=200)
    # Disabled channels stay in their groups but are left out of group syncs. Only a person
    # disables a channel: the feed is down for hours on some days, so failures never do.
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_outcome = models.CharField(max_length=20, choices=SyncOutcome.choices, blank=True)
    last_http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_new_count = models.PositiveIntegerField(default=0)
    last_updated_count = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    # Failures of the channel itself in a row (a feed outage is not one); its syncs are skipped
    # until next_attempt_at, which backs off exponentially.
    consecutive_failures = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    # Validators for a conditional GET, kept for when the feed server offers them, and the hash
    # of the last body stored, since YouTube offers none: an unchanged body writes no video.
    feed_etag = models.CharField(max_length=200, blank=True)
    feed_last_modified = models.CharField(max_length=100, blank=True)
    feed_sha256 = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title

    def in_backoff(self, now) -> bool:
        return self.next_attempt_at is not None and self.next_attempt_at > now

    def group_in_cooldown(self, now) -> ChannelGroup | None:
        """One of the channel's groups that YouTube's refusal (403/429) still cools down, if any:
        a sync of the channel outside its group's run waits for it too."""
        return self.groups.filter(cooldown_until__gt=now).first()

    @property
    def youtube_url(self) -> str:
        return f"https://www.youtube.com/channel/{self.youtube_id}"


class Video(models.Model):
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="videos")
    youtube_id = models.CharField("YouTube id", max_length=16, unique=True)
    title = models.CharField(max_length=500)
    description = models.TextField(blank=True)
    url = models.URLField(max_length=500)
    thumbnail_url = models.URLField(max_length=500, blank=True)
    published_at = models.DateTimeField()
    feed_updated_at = models.DateTimeField(null=True, blank=True)
    view_count = models.PositiveBigIntegerField(null=True, blank=True)
    # True when the feed links it as a Short (/shorts/...); None when the feed does not say.
    is_short = models.BooleanField(null=True, blank=True)
    first_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-published_at"]
        indexes = [
            models.Index(fields=["channel", "-published_at"], name="video_channel_recent_idx"),
            models.Index(fields=["channel", "first_seen_at"], name="video_channel_seen_idx"),
        ]

    def __str__(self) -> str:
        return self.title

    # Rows stored before feeds were limited to YouTube's hosts may hold any URL: pages render these.
    @property
    def safe_url(self) -> str:
        """The video's link if it leads to YouTube, else its YouTube watch page."""
        return hosts.video_url(self.url) or f"https://www.youtube.com/watch?v={quote(self.youtube_id, safe='')}"

    @property
    def safe_thumbnail_url(self) -> str:
        """The thumbnail's URL if it is on YouTube's image hosts, else "" (no image)."""
        return hosts.thumbnail_url(self.thumbnail_url)


class GroupSync(models.Model):
    """One sync of a group (a schedule's run or Sync now), or of one channel (Sync now): its summary.

    Created together with its jobs, which carry its id; the channels skipped at dispatch (backoff,
    cool-down) are recorded then. The summary is filled in once none of its jobs is active any more.
    Kept when the group is deleted, under the name it had.
    """

    group = models.ForeignKey(ChannelGroup, on_delete=models.SET_NULL, null=True, blank=True, related_name="syncs")
    group_name = models.CharField(max_length=100, blank=True)
    origin_label = models.CharField(max_length=300, blank=True)
    # The schedule run that made it, when one did (the task type is given the run); none for Sync now.
    schedule_run = models.OneToOneField("scheduling.ScheduleRun", on_delete=models.SET_NULL, null=True, blank=True,
                                        related_name="group_sync")

    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    jobs_created = models.PositiveIntegerField(default=0)

    channels_total = models.PositiveIntegerField(default=0)
    synced = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    skipped_backoff = models.PositiveIntegerField(default=0)
    skipped_cooldown = models.PositiveIntegerField(default=0)
    new_videos = models.PositiveIntegerField(default=0)
    updated_videos = models.PositiveIntegerField(default=0)
    outage = models.BooleanField(default=False)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["group", "-finished_at"], name="group_sync_recent_idx"),
            # The step's sweep of syncs left running (sync.group_syncs_settle_stale): only the few
            # syncs in flight are in it.
            models.Index(fields=["created_at"], condition=models.Q(finished_at__isnull=True),
                         name="group_sync_running_idx"),
        ]

    def __str__(self) -> str:
        return f"Sync of {self.group_name or 'one channel'} at {format_instant(self.created_at)}"

    @property
    def skipped(self) -> int:
        return self.skipped_backoff + self.skipped_cooldown

    @property
    def summary(self) -> str:
        if self.finished_at is None:
            return ngettext("Running: %d channel to check.", "Running: %d channels to check.",
                            self.jobs_created) % self.jobs_created
        parts = [f"{self.synced} synced", f"{self.failed} failed"]
        if self.skipped:
            reasons = [label for count, label in ((self.skipped_backoff, "backoff"),
                                                  (self.skipped_cooldown, "cool-down")) if count]
            parts.append(f"{self.skipped} skipped ({', '.join(reasons)})")
        parts.append(ngettext("%d new video", "%d new videos", self.new_videos) % self.new_videos)
        text = ", ".join(parts) + "."
        if self.outage:
            text += " Feed outage: failures not counted against the channels."
        return text


class ChannelSync(models.Model):
    """How one channel fared in one GroupSync: the latest attempt's outcome.

    `settled` says whether a failure has been judged (a failure of the channel, which backs it
    off, or part of a feed outage, which does not); that happens once the whole sync is done.
    """

    group_sync = models.ForeignKey(GroupSync, on_delete=models.CASCADE, related_name="results")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="sync_results")
    outcome = models.CharField(max_length=20, choices=SyncOutcome.choices)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    new_videos = models.PositiveIntegerField(default=0)
    updated_videos = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    checked_at = models.DateTimeField()
    settled = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["group_sync", "channel"], name="one_result_per_channel")]

    def __str__(self) -> str:
        return f"{self.channel}: {self.get_outcome_display()}"
