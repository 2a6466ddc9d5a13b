from django import forms
from django.contrib import admin, messages
from django.utils import timezone
from django.utils.translation import ngettext

from scheduling import recurrence, registry, services
from scheduling.models import ScheduledTask, SchedulerHeartbeat, ScheduleRun


class ScheduledTaskForm(forms.ModelForm):
    """Friendlier widgets; every rule still lives in ScheduledTask.clean()."""

    task_type = forms.ChoiceField(choices=registry.choices)
    schedule_days = forms.MultipleChoiceField(
        choices=[(day, day.capitalize()) for day in recurrence.WEEKDAYS],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="Weekly schedules only.",
    )

    class Meta:
        model = ScheduledTask
        fields = "__all__"
        widgets = {"schedule_time": forms.TextInput(attrs={"placeholder": "HH:MM", "size": 6})}


@admin.register(ScheduledTask)
class ScheduledTaskAdmin(admin.ModelAdmin):
    form = ScheduledTaskForm
    list_display = ("name", "task_type", "schedule_description", "enabled", "next_run_at", "last_run_at", "last_outcome")
    list_filter = ("enabled", "task_type", "schedule_kind", "last_outcome", "timezone")
    search_fields = ("name", "task_type", "cron_expr")
    readonly_fields = ("schedule_description", "last_run_at", "last_outcome", "next_run_at", "created_at", "updated_at")
    actions = ("enable_schedules", "disable_schedules", "run_now")
    fieldsets = (
        (None, {"fields": ("name", "task_type", "params", "enabled")}),
        (
            "When",
            {
                "fields": (
                    "schedule_kind",
                    "schedule_time",
                    "schedule_days",
                    "interval_minutes",
                    "anchor_at",
                    "cron_expr",
                    "timezone",
                    "schedule_description",
                ),
                "description": "Fields that do not belong to the chosen kind are cleared on save.",
            },
        ),
        ("Reliability", {"fields": ("grace_minutes", "overlap_policy")}),
        ("State", {"fields": ("next_run_at", "last_run_at", "last_outcome", "created_at", "updated_at")}),
    )

    @admin.display(description="Schedule")
    def schedule_description(self, obj: ScheduledTask) -> str:
        return obj.describe() if obj.pk else "-"

    def save_model(self, request, obj, form, change):
        services.schedule_save(schedule=obj, now=timezone.now())

    @admin.action(description="Enable selected schedules", permissions=["change"])
    def enable_schedules(self, request, queryset):
        count, refused = services.schedule_set_enabled_many(schedules=queryset, enabled=True, now=timezone.now())
        if count:
            self.message_user(request, ngettext("%d schedule enabled.", "%d schedules enabled.", count) % count)
        for schedule, error in refused.items():
            self.message_user(request, f"{schedule.name} was not enabled: {' '.join(error.messages)}",
                              level=messages.ERROR)

    @admin.action(description="Disable selected schedules", permissions=["change"])
    def disable_schedules(self, request, queryset):
        count, _ = services.schedule_set_enabled_many(schedules=queryset, enabled=False, now=timezone.now())
        self.message_user(request, ngettext("%d schedule disabled.", "%d schedules disabled.", count) % count)

    @admin.action(description="Run selected schedules now", permissions=["change"])
    def run_now(self, request, queryset):
        started = 0
        for schedule in queryset:
            try:
                run = services.schedule_run_now(schedule=schedule, now=timezone.now())
            except services.RunActiveError as exc:
                self.message_user(request, str(exc), level=messages.WARNING)
                continue
            if run.outcome == "dispatched":
                started += 1
            else:
                self.message_user(request, f"{schedule.name}: {run.message}", level=messages.ERROR)
        if started:
            self.message_user(request, ngettext("%d schedule started.", "%d schedules started.", started) % started)


class ReadOnlyAdmin(admin.ModelAdmin):
    """History is written by the system, never edited by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ScheduleRun)
class ScheduleRunAdmin(ReadOnlyAdmin):
    list_display = ("schedule", "trigger", "due_at", "outcome", "coalesced_windows", "created_at")
    list_filter = ("outcome", "trigger")
    list_select_related = ("schedule",)
    search_fields = ("schedule__name", "message")
    date_hierarchy = "created_at"


@admin.register(SchedulerHeartbeat)
class SchedulerHeartbeatAdmin(ReadOnlyAdmin):
    list_display = ("name", "last_pass_at", "lateness_seconds")
