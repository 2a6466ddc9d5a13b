from django.contrib import admin
from django.utils import timezone

from common.admin import ReadOnlyAdmin
from notifications import services
from notifications.forms import NotificationChannelForm
from notifications.models import Delivery, Incident, NotificationChannel

# What sending has said about a channel: shown, never edited.
_STATE = ("kind", "source", "created_at", "updated_at", "last_sent_at", "last_error", "last_error_at",
          "consecutive_failures")


@admin.register(NotificationChannel)
class NotificationChannelAdmin(admin.ModelAdmin):
    """The page's form (an Apprise URL is never shown back, only masked); channels from NOTIFY_URLS
    are read-only here as on the page."""

    form = NotificationChannelForm
    list_display = ("name", "kind", "masked_target", "enabled", "source", "last_sent_at", "consecutive_failures",
                    "last_error")
    list_filter = ("enabled", "kind", "source")
    search_fields = ("name",)
    readonly_fields = ("masked_target", *_STATE)

    @admin.display(description="Sends to")
    def masked_target(self, channel: NotificationChannel) -> str:
        return channel.masked_target if channel.pk else "-"

    def get_fields(self, request, obj=None):
        if obj is not None and obj.from_environment:
            return ("name", "masked_target", "enabled", *_STATE)
        return ("name", "target", "enabled", *(("masked_target", *_STATE) if obj is not None else ()))

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.from_environment:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.from_environment and obj.enabled:
            return False
        return super().has_delete_permission(request, obj)

    def save_model(self, request, obj, form, change):
        services.channel_save(channel=obj, now=timezone.now())

    def delete_model(self, request, obj):
        services.channel_delete(channel=obj)

    def delete_queryset(self, request, queryset):
        for channel in queryset:
            if not (channel.from_environment and channel.enabled):
                services.channel_delete(channel=channel)


@admin.register(Incident)
class IncidentAdmin(ReadOnlyAdmin):
    list_display = ("title", "key", "opened_at", "resolved_at")
    list_filter = ("kind", ("resolved_at", admin.EmptyFieldListFilter))
    search_fields = ("key", "title", "detail")
    date_hierarchy = "opened_at"


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "event", "incident", "channel_name", "status", "attempts", "sent_at", "error")
    list_filter = ("status", "event")
    list_select_related = ("incident",)
    search_fields = ("channel_name", "title", "error")
    date_hierarchy = "created_at"
