"""Scheduling's pages (thin views over selectors and services)."""

from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from scheduling.models import ScheduleRun


@require_GET
def schedule_run_detail(request, pk: int):
    """One run of a schedule: when it was due, what it decided, and the jobs it created.

    Jobs link here (their origin), so the page stays when the schedule is deleted.
    """
    run = get_object_or_404(ScheduleRun.objects.select_related("schedule"), pk=pk)
    return render(request, "scheduling/run_detail.html", {
        "title": f"Run #{run.pk} of “{run.schedule_name}”",
        "run": run,
        "jobs": list(run.jobs.order_by("pk")),
    })
