from django.contrib import admin
from django.db.models import Count, Q
from django.utils.translation import ngettext

from channels.models import Channel, ChannelGroup, Video


class ChannelInline(admin.TabularInline):
    model = Channel
    fields = ("title", "youtube_id", "enabled", "last_synced_at", "last_sync_error")
    readonly_fields = ("last_synced_at", "last_sync_error")
    extra = 1
    show_change_link = True


@admin.register(ChannelGroup)
class ChannelGroupAdmin(admin.ModelAdmin):
    list_display = ("name", "channel_count", "enabled_channel_count", "created_at")
    search_fields = ("name", "description")
    inlines = [ChannelInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(
            channel_total=Count("channels"),
            channel_enabled=Count("channels", filter=Q(channels__enabled=True)),
        )

    @admin.display(description="Channels", ordering="channel_total")
    def channel_count(self, group) -> int:
        return group.channel_total

    @admin.display(description="Enabled", ordering="channel_enabled")
    def enabled_channel_count(self, group) -> int:
        return group.channel_enabled


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    list_display = ("title", "youtube_id", "group", "enabled", "last_synced_at", "has_error")
    list_filter = ("enabled", "group")
    list_select_related = ("group",)
    list_editable = ("enabled",)
    search_fields = ("title", "youtube_id")
    readonly_fields = ("last_synced_at", "last_sync_error", "feed_etag", "feed_last_modified", "created_at")
    actions = ("enable_channels", "disable_channels")

    @admin.display(boolean=True, description="Last sync failed")
    def has_error(self, channel) -> bool:
        return bool(channel.last_sync_error)

    @admin.action(description="Enable selected channels", permissions=["change"])
    def enable_channels(self, request, queryset):
        count = queryset.update(enabled=True)
        self.message_user(request, ngettext("%d channel enabled.", "%d channels enabled.", count) % count)

    @admin.action(description="Disable selected channels (left out of group syncs)", permissions=["change"])
    def disable_channels(self, request, queryset):
        count = queryset.update(enabled=False)
        self.message_user(request, ngettext("%d channel disabled.", "%d channels disabled.", count) % count)


@admin.register(Video)
class VideoAdmin(admin.ModelAdmin):
    list_display = ("title", "channel", "published_at", "first_seen_at")
    list_filter = ("channel__group",)
    list_select_related = ("channel",)
    search_fields = ("title", "youtube_id", "channel__title")
    date_hierarchy = "published_at"
    show_full_result_count = False
    raw_id_fields = ("channel",)
