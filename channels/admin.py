from django.contrib import admin, messages
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import ngettext

from channels import selectors, services
from channels.forms import ChannelAdminForm, ChannelGroupAdminForm
from channels.messages import sync_now_message
from channels.models import Channel, ChannelGroup, ChannelSync, GroupSync, Video
from common.actors import admin_actor
from common.admin import ReadOnlyAdmin, ReadOnlyInline


@admin.register(ChannelGroup)
class ChannelGroupAdmin(admin.ModelAdmin):
    form = ChannelGroupAdminForm
    list_display = ("name", "channel_count", "enabled_channel_count", "last_sync_summary", "cooldown_until",
                    "created_at")
    list_select_related = ("last_sync",)
    search_fields = ("name", "description")
    readonly_fields = ("cooldown_until", "cooldown_reason", "last_outage_at", "last_sync_summary")
    actions = ("sync_now",)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(
            channel_total=Count("channels", distinct=True),
            channel_enabled=Count("channels", filter=Q(channels__enabled=True), distinct=True),
        )

    @admin.display(description="Channels", ordering="channel_total")
    def channel_count(self, group) -> int:
        return group.channel_total

    @admin.display(description="Enabled", ordering="channel_enabled")
    def enabled_channel_count(self, group) -> int:
        return group.channel_enabled

    @admin.display(description="Last sync")
    def last_sync_summary(self, group) -> str:
        return group.last_sync.summary if group.last_sync else "Never synced"

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        form.instance.channels.set(form.cleaned_data["channels"])

    def delete_view(self, request, object_id, extra_context=None):
        group = self.get_object(request, object_id)
        if group is not None and request.method == "GET":
            warning = selectors.group_delete_preview(group=group)["message"]
            if warning:
                self.message_user(request, warning, messages.WARNING)
        return super().delete_view(request, object_id, extra_context)

    def delete_model(self, request, group):
        self._delete(request, [group])

    def delete_queryset(self, request, queryset):
        self._delete(request, list(queryset))

    def _delete(self, request, groups):
        actor = admin_actor(request)
        for group in groups:
            name = group.name
            for schedule in services.group_delete(group=group, now=timezone.now(), actor=actor):
                self.message_user(request, f"Schedule “{schedule.name}” was disabled: its group “{name}” is gone.",
                                  messages.WARNING)

    @admin.action(description="Sync now", permissions=["change"])
    def sync_now(self, request, queryset):
        for group in queryset:
            group_sync = services.group_sync_now(group=group, now=timezone.now(), user=request.user)
            self.message_user(request, sync_now_message(group_sync))


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    form = ChannelAdminForm
    list_display = ("title", "youtube_id", "group_names", "enabled", "last_checked_at", "last_outcome", "has_error")
    list_filter = ("enabled", "groups", "last_outcome")
    list_editable = ("enabled",)
    search_fields = ("title", "youtube_id")
    filter_horizontal = ("groups",)
    readonly_fields = ("last_checked_at", "last_success_at", "last_outcome", "last_http_status", "last_new_count",
                       "last_updated_count", "last_error", "consecutive_failures", "next_attempt_at", "feed_etag",
                       "feed_last_modified", "created_at")
    actions = ("enable_channels", "disable_channels", "sync_now")

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("groups")

    @admin.display(description="Groups")
    def group_names(self, channel) -> str:
        return ", ".join(group.name for group in channel.groups.all()) or "—"

    @admin.display(boolean=True, description="Last sync failed")
    def has_error(self, channel) -> bool:
        return bool(channel.last_error)

    @admin.action(description="Enable selected channels", permissions=["change"])
    def enable_channels(self, request, queryset):
        count = services.channel_set_enabled_many(channels=queryset, enabled=True)
        self.message_user(request, ngettext("%d channel enabled.", "%d channels enabled.", count) % count)

    @admin.action(description="Disable selected channels (left out of group syncs)", permissions=["change"])
    def disable_channels(self, request, queryset):
        count = services.channel_set_enabled_many(channels=queryset, enabled=False)
        self.message_user(request, ngettext("%d channel disabled.", "%d channels disabled.", count) % count)

    @admin.action(description="Sync now", permissions=["change"])
    def sync_now(self, request, queryset):
        for channel in queryset:
            group_sync = services.channel_sync_now(channel=channel, now=timezone.now(), user=request.user)
            self.message_user(request, f"{channel}: {sync_now_message(group_sync)}")


@admin.register(Video)
class VideoAdmin(admin.ModelAdmin):
    list_display = ("title", "channel", "published_at", "is_short", "view_count", "first_seen_at")
    list_filter = ("channel__groups", "is_short")
    list_select_related = ("channel",)
    search_fields = ("title", "youtube_id", "channel__title")
    date_hierarchy = "published_at"
    show_full_result_count = False
    raw_id_fields = ("channel",)


class ChannelSyncInline(ReadOnlyInline):
    model = ChannelSync
    fields = ("channel", "outcome", "http_status", "new_videos", "updated_videos", "error", "checked_at", "settled")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("channel")  # shown by name: one query, not one per row


@admin.register(GroupSync)
class GroupSyncAdmin(ReadOnlyAdmin):
    """Read-only history: what each sync did."""

    list_display = ("__str__", "origin_label", "created_at", "finished_at", "summary", "outage")
    list_filter = ("outage", "group")
    list_select_related = ("group",)
    inlines = [ChannelSyncInline]
