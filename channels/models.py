from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone

youtube_channel_id = RegexValidator(
    r"^UC[A-Za-z0-9_-]{22}$", "A YouTube channel id looks like UC followed by 22 letters, digits, - or _."
)


class ChannelGroup(models.Model):
    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Channel(models.Model):
    group = models.ForeignKey(
        ChannelGroup, on_delete=models.SET_NULL, null=True, blank=True, related_name="channels"
    )
    youtube_id = models.CharField("YouTube id", max_length=24, unique=True, validators=[youtube_channel_id])
    title = models.CharField(max_length=200)
    # Disabled channels stay in their group but are left out of group syncs. Only a person
    # disables a channel: the feed is down for hours on some days, so failures never do.
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    last_synced_at = models.DateTimeField(null=True, blank=True)
    last_sync_error = models.TextField(blank=True)
    # Validators for a conditional GET, kept for when the feed server offers them.
    feed_etag = models.CharField(max_length=200, blank=True)
    feed_last_modified = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title


class Video(models.Model):
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="videos")
    youtube_id = models.CharField("YouTube id", max_length=16, unique=True)
    title = models.CharField(max_length=500)
    description = models.TextField(blank=True)
    url = models.URLField(max_length=500)
    thumbnail_url = models.URLField(max_length=500, blank=True)
    published_at = models.DateTimeField()
    feed_updated_at = models.DateTimeField(null=True, blank=True)
    first_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-published_at"]
        indexes = [models.Index(fields=["channel", "-published_at"], name="video_channel_recent_idx")]

    def __str__(self) -> str:
        return self.title
