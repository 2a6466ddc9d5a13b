import copy

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.text import Truncator
from django.utils.translation import ngettext

from common.actors import admin_actor
from common.admin import ReadOnlyAdmin
from common.formatting import format_instant
from scheduling import recurrence, registry, services
from scheduling.forms import ScheduleForm, WallTimeField
from scheduling.messages import paused_until, run_now_message
from scheduling.models import RunOutcome, ScheduleAuditEntry, ScheduledTask, SchedulerHeartbeat, ScheduleRun


class TaskTypeFilter(admin.SimpleListFilter):
    """By task type, named in words (the field stores the code)."""

    title = "task"
    parameter_name = "task_type"

    def lookups(self, request, model_admin):
        return registry.choices()

    def queryset(self, request, queryset):
        return queryset.filter(task_type=self.value()) if self.value() else queryset


class PausedFilter(admin.SimpleListFilter):
    title = "paused"
    parameter_name = "paused"

    def lookups(self, request, model_admin):
        return [("yes", "Paused"), ("no", "Not paused")]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(paused_until__isnull=self.value() == "no")
        return queryset


class ScheduleAdminForm(ScheduleForm):
    """The schedule editor plus, on a saved schedule, its pause: "Paused until" on the schedule's wall
    clock (empty: not paused) and the reason. The pause services write it (`save_model`), after the
    model's rule for a pause has checked it here, so the admin gives the same messages as the pages."""

    # The pause rule's fields by the names this form gives them.
    PAUSE_FIELDS = {"until": "paused_until", "reason": "pause_reason"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.pause_wanted = None  # (until, reason) to set, (None, "") to lift; None: leave the pause as it is
        if self.instance.pk is None:
            return
        zone = self.instance.timezone if self.instance.timezone in recurrence.known_zones() else "UTC"
        self.fields["paused_until"] = WallTimeField(
            zone=zone, label="Paused until", required=False, initial=self.instance.paused_until,
            help_text=f"Date and time in the schedule's time zone, {zone}. Its windows until then are recorded "
                      "as paused, not run, and the scheduler resumes it then. Empty: not paused.")
        self.fields["pause_reason"] = forms.CharField(label="Reason for the pause", required=False, max_length=200,
                                                      initial=self.instance.pause_reason)

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk is None or "paused_until" in self._errors or "pause_reason" in self._errors:
            return cleaned
        stored = self.instance
        until, reason = cleaned.get("paused_until"), cleaned.get("pause_reason", "")
        same_end = (until is None and stored.paused_until is None) or (
            until is not None and stored.paused_until is not None
            and until == stored.paused_until.replace(second=0, microsecond=0))  # the input shows whole minutes
        if until is None and stored.paused_until is not None:  # emptied: lift the pause (its reason goes too)
            self.pause_wanted = (None, "")
            return cleaned
        if until is None and not reason:
            return cleaned
        if same_end and reason == stored.pause_reason:
            return cleaned
        wanted = copy.copy(stored)  # the rule reads the state being saved, e.g. enabled
        wanted.enabled = cleaned.get("enabled", stored.enabled)
        try:
            reason = wanted.clean_pause(until=stored.paused_until if same_end else until, reason=reason,
                                        now=timezone.now())
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                self.add_error(self.PAUSE_FIELDS.get(field), errors)
            return cleaned
        self.pause_wanted = (stored.paused_until if same_end else until, reason)
        return cleaned


@admin.register(ScheduledTask)
class ScheduledTaskAdmin(admin.ModelAdmin):
    form = ScheduleAdminForm
    list_display = ("name", "task", "schedule_description", "enabled", "pause", "next_run_at", "last_run_at",
                    "last_outcome")
    list_display_links = ("name",)
    list_filter = ("enabled", PausedFilter, TaskTypeFilter, "schedule_kind", "last_outcome")
    search_fields = ("name", "key", "task_type", "cron_expr")
    readonly_fields = ("schedule_description", "last_run_at", "last_outcome", "next_run_at", "created_at",
                       "updated_at", "recent_runs")
    actions = ("enable_schedules", "disable_schedules", "resume_schedules", "run_now", "run_now_forced")

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
            (None, {"fields": ("name", "key", "task_type", "enabled")}),
            *params,
            ("When", {"fields": ("schedule_kind", "schedule_time", "schedule_days", "interval_minutes",
                                 "anchor_at", "cron_expr", "timezone", "schedule_description")}),
            ("Alerts", {"fields": ("notify_channels",)}),
            ("Advanced", {"fields": ("grace_minutes", "overlap_policy"), "classes": ("collapse",)}),
        ]
        if obj is not None:
            fieldsets.append(("Pause", {"fields": ("paused_until", "pause_reason")}))
            fieldsets.append(("State", {"fields": ("next_run_at", "last_run_at", "last_outcome", "created_at",
                                                    "updated_at", "recent_runs")}))
        return fieldsets

    def get_form(self, request, obj=None, change=False, **kwargs):
        # The params fields are added by the form itself; the admin must not ask for them by name. The
        # key is the admin's own (the pages' editor leaves it to be made from the name).
        kwargs["fields"] = (*ScheduleForm.Meta.fields, "key")
        form = super().get_form(request, obj, change, **kwargs)
        # Who saves: the task type may refuse their change, under the param (as on the pages).
        return type(form.__name__, (form,), {"user": request.user})

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

    @admin.display(description="Pause", ordering="paused_until")
    def pause(self, obj: ScheduledTask) -> str:
        return Truncator(paused_until(obj)).chars(80) or "-"

    @admin.display(description="Recent runs")
    def recent_runs(self, obj: ScheduledTask):
        runs = list(obj.runs.order_by("-pk")[:10]) if obj.pk else []
        if not runs:
            return "No runs yet"
        return format_html_join(
            mark_safe("<br>"), '<a href="{}">Run #{}</a>: {} ({}, due {})',
            ((reverse("admin:scheduling_schedulerun_change", args=[run.pk]), run.pk, run.get_outcome_display(),
              run.get_trigger_display().lower(), format_instant(run.due_at)) for run in runs),
        )

    def save_model(self, request, obj, form, change):
        now, actor = timezone.now(), admin_actor(request)
        services.schedule_save(schedule=obj, now=now, actor=actor)
        if form.pause_wanted is None:
            return
        until, reason = form.pause_wanted
        if until is None:
            services.schedule_resume(schedule=obj, now=now, actor=actor)
        else:
            services.schedule_pause(schedule=obj, until=until, reason=reason, now=now, actor=actor)

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

    @admin.action(description="Resume selected schedules now (lift their pause)", permissions=["change"])
    def resume_schedules(self, request, queryset):
        paused = list(queryset.filter(paused_until__isnull=False))
        for schedule in paused:
            services.schedule_resume(schedule=schedule, now=timezone.now(), actor=admin_actor(request))
        self.message_user(request, ngettext("%d schedule resumed.", "%d schedules resumed.", len(paused)) % len(paused)
                          if paused else "None of the selected schedules was paused.",
                          level=messages.SUCCESS if paused else messages.INFO)

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
