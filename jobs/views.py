"""The /jobs pages: thin views over jobs.selectors and jobs.services."""

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from jobs import registry, selectors, services
from jobs.forms import JobFilterForm
from jobs.models import Job, JobStatus

PAGE_SIZE = 50
# Refresh quickly while something on the page can still change, slowly otherwise.
REFRESH_ACTIVE_SECONDS = 5
REFRESH_IDLE_SECONDS = 30
# Cancel and retry, here as in the admin's actions.
OPERATE_PERMISSION = "jobs.change_job"


@require_GET
def job_list(request):
    form = JobFilterForm(request.GET)
    filters = form.filters()
    page = selectors.job_list_page(**filters, page_size=PAGE_SIZE)
    selectors.jobs_describe(page.jobs)
    keep = {key: filters[key] for key in ("q",) if filters[key]}
    if filters["job_type"]:
        keep["type"] = filters["job_type"]
    if filters["status"]:
        keep["status"] = filters["status"]
    context = {
        "title": "Jobs",
        "form": form,
        "page": page,
        "filtered": bool(keep),
        "keep": keep,
        "refresh_seconds": REFRESH_ACTIVE_SECONDS if any(job.is_active for job in page.jobs) else REFRESH_IDLE_SECONDS,
        "now": timezone.now(),
    }
    template = "jobs/_table.html" if request.htmx else "jobs/list.html"
    return render(request, template, context)


@require_GET
def job_detail(request, pk: int):
    job = get_object_or_404(Job, pk=pk)
    selectors.jobs_describe([job])
    waiting = job.status in (JobStatus.QUEUED, JobStatus.RETRY_WAIT)
    context = {
        "title": f"Job #{job.pk}",
        "job": job,
        "result_links": registry.links(job.result),
        # A waiting job with no worker cluster to take it waits for one to start: the page says so.
        "no_worker": waiting and selectors.workers_missing(),
        "can_operate": request.user.has_perm(OPERATE_PERMISSION),
        "refresh_seconds": REFRESH_ACTIVE_SECONDS,
        "now": timezone.now(),
    }
    template = "jobs/_detail.html" if request.htmx else "jobs/detail.html"
    return render(request, template, context)


@require_POST
@permission_required(OPERATE_PERMISSION, raise_exception=True)
def job_cancel(request, pk: int):
    job = get_object_or_404(Job, pk=pk)
    try:
        services.job_cancel(job=job, now=timezone.now(), by=request.user.get_username())
    except services.JobStateError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Job #{job.pk} cancelled.")
    return redirect(job)


@require_POST
@permission_required(OPERATE_PERMISSION, raise_exception=True)
def job_retry(request, pk: int):
    job = get_object_or_404(Job, pk=pk)
    try:
        services.job_retry(job=job, now=timezone.now())
    except services.JobStateError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Job #{job.pk} queued again.")
    return redirect(job)
