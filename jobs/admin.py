from django.contrib import admin, messages
from django.utils import timezone
from django.utils.translation import ngettext

from jobs import services
from jobs.models import Job


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    """Jobs are written by the system; the record is read-only here, cancel and retry are actions."""

    list_display = ("id", "job_type", "status", "priority", "retries_display", "created_at", "started_at", "finished_at", "worker")
    list_filter = ("status", "job_type", "priority")
    search_fields = ("=id", "job_type", "worker", "error")
    date_hierarchy = "created_at"
    # Counting a million rows per page view is the slow part of a big changelist.
    show_full_result_count = False
    readonly_fields = [f.name for f in Job._meta.fields]
    actions = ("cancel_jobs", "retry_jobs")

    @admin.display(description="Retries")
    def retries_display(self, job: Job) -> str:
        return f"{job.retries}/{job.max_retries}"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_operate_permission(self, request):
        # has_change_permission is False only to keep the form read-only; whether someone may
        # cancel or retry still follows the change permission. Without this check every staff
        # user who can view the list could run the actions. Django asks it both when it lists
        # the actions and when a POST names one, so a forged POST is refused too.
        return request.user.has_perm(f"{self.opts.app_label}.change_{self.opts.model_name}")

    @admin.action(description="Cancel selected jobs (queued or waiting to retry)", permissions=["operate"])
    def cancel_jobs(self, request, queryset):
        done, refused = self._apply(queryset, lambda job: services.job_cancel(
            job=job, now=timezone.now(), by=request.user.get_username()))
        if done:
            self.message_user(request, ngettext("%d job cancelled.", "%d jobs cancelled.", done) % done,
                              messages.SUCCESS)
        if refused:
            self.message_user(request, ngettext(
                "%d job was not cancelled: only queued jobs and jobs waiting to retry can be.",
                "%d jobs were not cancelled: only queued jobs and jobs waiting to retry can be.", refused) % refused,
                messages.WARNING)

    @admin.action(description="Retry selected jobs (failed or cancelled)", permissions=["operate"])
    def retry_jobs(self, request, queryset):
        done, refused = self._apply(queryset, lambda job: services.job_retry(job=job, now=timezone.now()))
        if done:
            self.message_user(request, ngettext("%d job queued again.", "%d jobs queued again.", done) % done,
                              messages.SUCCESS)
        if refused:
            self.message_user(request, ngettext(
                "%d job was not retried: only failed or cancelled jobs can be.",
                "%d jobs were not retried: only failed or cancelled jobs can be.", refused) % refused,
                messages.WARNING)

    @staticmethod
    def _apply(queryset, action) -> tuple[int, int]:
        done = refused = 0
        for job in queryset.order_by("pk"):
            try:
                action(job)
            except services.JobStateError:
                refused += 1
            else:
                done += 1
        return done, refused
