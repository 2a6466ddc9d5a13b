from django.contrib import admin, messages
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import ngettext

from common.actors import admin_actor
from common.admin import ReadOnlyAdmin
from scheduling import registry, services
from scheduling.forms import ScheduleForm
from scheduling.messages import run_now_message
from scheduling.models import RunOutcome, ScheduleAuditEntry, ScheduledTask, SchedulerHeartbeat, ScheduleRun


class TaskTypeFilter(admin.SimpleListFilter):
    """By task type, named in words (the field stores the code)."""

    title = "task"
    parameter_name = "task_type"

    def lookups(self, request, model_admin):
        return registry.choices()

    def queryset(self, request, queryset):
        return queryset.filter(task_type=self.value()) if self.value() else queryset


@admin.register(ScheduledTask)
class ScheduledTaskAdmin(admin.ModelAdmin):
    form = ScheduleForm
    list_display = ("name", "task", "schedule_description", "enabled", "next_run_at", "last_run_at", "last_outcome")
    list_display_links = ("name",)
    list_filter = ("enabled", TaskTypeFilter, "schedule_kind", "last_outcome")
    search_fields = ("name", "task_type", "cron_expr")
    readonly_fields = ("schedule_description", "last_run_at", "last_outcome", "next_run_at", "created_at",
                       "updated_at", "recent_runs")
    actions = ("enable_schedules", "disable_schedules", "run_now", "run_now_forced")

    class Media:
        js = ("scheduling/schedule_form.js",)

    def get_fieldsets(self, request, obj=None):
        form = self.get_form(request, obj)(instance=obj)
        params = [
            (f"Settings: {registry.label(name)}",
             {"fields": fields, "classes": ("params-fieldset",), "description": ""})
            for name, fields in form.params_fields.items() if fields
        ]
        fieldsets = [
            (None, {"fields": ("name", "task_type", "enabled")}),
            *params,
            ("When", {"fields": ("schedule_kind", "schedule_time", "schedule_days", "interval_minutes",
                                 "anchor_at", "cron_expr", "timezone", "schedule_description")}),
            ("Advanced", {"fields": ("grace_minutes", "overlap_policy"), "classes": ("collapse",)}),
        ]
        if obj is not None:
            fieldsets.append(("State", {"fields": ("next_run_at", "last_run_at", "last_outcome", "created_at",
                                                    "updated_at", "recent_runs")}))
        return fieldsets

    def get_form(self, request, obj=None, change=False, **kwargs):
        # The params fields are added by the form itself; the admin must not ask for them by name.
        kwargs["fields"] = ScheduleForm.Meta.fields
        return super().get_form(request, obj, change, **kwargs)

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        for schedule, summary in zip(changelist.result_list, registry.params_summaries(changelist.result_list)):
            schedule.params_summary = summary
        return changelist

    @admin.display(description="Task", ordering="task_type")
    def task(self, obj: ScheduledTask) -> str:
        summary = getattr(obj, "params_summary", "")
        return f"{registry.label(obj.task_type)}: {summary}" if summary else registry.label(obj.task_type)

    @admin.display(description="Schedule")
    def schedule_description(self, obj: ScheduledTask) -> str:
        return obj.describe() if obj.pk else "-"

    @admin.display(description="Recent runs")
    def recent_runs(self, obj: ScheduledTask):
        runs = list(obj.runs.order_by("-pk")[:10]) if obj.pk else []
        if not runs:
            return "No runs yet"
        return format_html_join(
            mark_safe("<br>"), '<a href="{}">Run #{}</a>: {} ({}, due {} UTC)',
            ((reverse("admin:scheduling_schedulerun_change", args=[run.pk]), run.pk, run.get_outcome_display(),
              run.get_trigger_display().lower(), f"{run.due_at:%Y-%m-%d %H:%M}") for run in runs),
        )

    def save_model(self, request, obj, form, change):
        services.schedule_save(schedule=obj, now=timezone.now(), actor=admin_actor(request))

    def delete_model(self, request, obj):
        services.schedule_delete(schedule=obj, now=timezone.now(), actor=admin_actor(request))

    def delete_queryset(self, request, queryset):
        for schedule in queryset:
            services.schedule_delete(schedule=schedule, now=timezone.now(), actor=admin_actor(request))

    @admin.action(description="Enable selected schedules", permissions=["change"])
    def enable_schedules(self, request, queryset):
        count, refused = services.schedule_set_enabled_many(schedules=queryset, enabled=True, now=timezone.now(),
                                                            actor=admin_actor(request))
        if count:
            self.message_user(request, ngettext("%d schedule enabled.", "%d schedules enabled.", count) % count)
        for schedule, error in refused.items():
            self.message_user(request, f"{schedule.name} was not enabled: {' '.join(error.messages)}",
                              level=messages.ERROR)

    @admin.action(description="Disable selected schedules", permissions=["change"])
    def disable_schedules(self, request, queryset):
        count, _ = services.schedule_set_enabled_many(schedules=queryset, enabled=False, now=timezone.now(),
                                                      actor=admin_actor(request))
        self.message_user(request, ngettext("%d schedule disabled.", "%d schedules disabled.", count) % count)

    def _run_now(self, request, queryset, *, force: bool) -> None:
        for schedule in queryset:
            try:
                run = services.schedule_run_now(schedule=schedule, now=timezone.now(), force=force,
                                                actor=admin_actor(request))
            except services.RunActiveError as exc:
                self.message_user(request, f"{exc} To start another run anyway, use “Run selected schedules now, "
                                           "even if a run is still active”.", level=messages.WARNING)
                continue
            level = messages.ERROR if run.outcome == RunOutcome.DISPATCH_FAILED else messages.SUCCESS
            self.message_user(request, run_now_message(run), level=level)

    @admin.action(description="Run selected schedules now", permissions=["change"])
    def run_now(self, request, queryset):
        self._run_now(request, queryset, force=False)

    @admin.action(description="Run selected schedules now, even if a run is still active", permissions=["change"])
    def run_now_forced(self, request, queryset):
        self._run_now(request, queryset, force=True)


@admin.register(ScheduleRun)
class ScheduleRunAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "schedule_link", "trigger", "due_at", "outcome", "coalesced_windows", "created_at")
    list_filter = ("outcome", "trigger")
    list_select_related = ("schedule",)
    search_fields = ("schedule_name", "message")
    date_hierarchy = "created_at"
    readonly_fields = ("schedule_link", "job_links")
    exclude = ("jobs",)

    @admin.display(description="Schedule")
    def schedule_link(self, run: ScheduleRun):
        if run.schedule_id is None:
            return f"{run.schedule_name} (deleted)"
        return format_html('<a href="{}">{}</a>', reverse("admin:scheduling_scheduledtask_change",
                                                        args=[run.schedule_id]), run.schedule_name)

    @admin.display(description="Jobs")
    def job_links(self, run: ScheduleRun):
        jobs = list(run.jobs.order_by("pk"))
        if not jobs:
            return "No jobs"
        return format_html_join(", ", '<a href="{}">#{}</a> ({})',
                                ((job.get_absolute_url(), job.pk, job.get_status_display()) for job in jobs))


@admin.register(ScheduleAuditEntry)
class ScheduleAuditEntryAdmin(ReadOnlyAdmin):
    list_display = ("at", "schedule_name", "action", "actor_name", "via")
    list_filter = ("action", "via")
    search_fields = ("schedule_name", "actor_name")
    date_hierarchy = "at"


@admin.register(SchedulerHeartbeat)
class SchedulerHeartbeatAdmin(ReadOnlyAdmin):
    list_display = ("name", "source", "last_pass_at", "lateness_seconds")
