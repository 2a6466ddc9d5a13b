from django.contrib import admin

from jobs.models import Job


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    """Jobs are written by the system; the record is read-only here."""

    list_display = ("id", "job_type", "status", "priority", "retries_display", "created_at", "started_at", "finished_at", "worker")
    list_filter = ("status", "job_type", "priority")
    search_fields = ("=id", "job_type", "worker", "error")
    date_hierarchy = "created_at"
    # Counting a million rows per page view is the slow part of a big changelist.
    show_full_result_count = False
    readonly_fields = [f.name for f in Job._meta.fields]

    @admin.display(description="Retries")
    def retries_display(self, job: Job) -> str:
        return f"{job.retries}/{job.max_retries}"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
