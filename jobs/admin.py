from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.translation import ngettext

from common.admin import ReadOnlyAdmin
from jobs import services
from jobs.models import Job


class CappedCountPaginator(Paginator):
    """Counts at most CAP rows: the admin's page links need a count, and COUNT(*) over a million
    jobs costs more than the page itself. Past the cap the last page links lead nowhere new."""

    CAP = 10_000

    @cached_property
    def count(self) -> int:
        return self.object_list.values("pk")[: self.CAP].count()


@admin.register(Job)
class JobAdmin(ReadOnlyAdmin):
    """Jobs are written by the system; the record is read-only here, cancel and retry are actions."""

    list_display = ("id", "job_type_label", "status", "priority", "attempts_display", "origin", "created_at",
                    "started_at", "finished_at", "worker")
    list_filter = ("status", "job_type", "priority", "failed_permanently")
    search_fields = ("=id", "job_type", "worker", "error", "origin_label")
    date_hierarchy = "created_at"
    paginator = CappedCountPaginator
    # Counting a million rows per page view is the slow part of a big changelist.
    show_full_result_count = False
    readonly_fields = ("origin",)
    actions = ("cancel_jobs", "retry_jobs")

    @admin.display(description="Type", ordering="job_type")
    def job_type_label(self, job: Job) -> str:
        return job.label

    @admin.display(description="Attempts")
    def attempts_display(self, job: Job) -> str:
        return job.attempts_text

    @admin.display(description="Caused by")
    def origin(self, job: Job):
        if job.origin_url:
            return format_html('<a href="{}">{}</a>', job.origin_url, job.origin_label or job.origin_url)
        return job.origin_label or "-"

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
