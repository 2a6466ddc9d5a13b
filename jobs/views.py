"""The /jobs pages: thin views over jobs.selectors and jobs.services."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from common import live
from common.access import view_permission
from common.pages import Toast, action_done, next_url
from jobs import registry, selectors, services
from jobs.forms import JobFilterForm
from jobs.messages import job_finished
from jobs.models import Job, JobStatus

PAGE_SIZE = 50
# Reading jobs: their params, results, tracebacks and workers are not for every logged-in user.
VIEW_PERMISSION = "jobs.view_job"
# Cancel and retry, here as in the admin's actions.
OPERATE_PERMISSION = "jobs.change_job"
FINAL = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)


def _finished_jobs(ids: list[int]) -> dict[int, Toast | None]:
    """The retried jobs (common.live) that have ended, each with its toast; gone ones without."""
    found = {job.pk: job for job in Job.objects.filter(pk__in=ids)}
    done: dict[int, Toast | None] = {pk: None for pk in ids if pk not in found}
    for job in found.values():
        if job.status in FINAL:
            done[job.pk] = Toast(job_finished(job), "success" if job.status == JobStatus.COMPLETED else "error")
    return done


def _live(request, *, active: bool, now) -> dict:
    """The page keeps asking while a job it shows is live (jobs.selectors.live_jobs) or one the user
    retried has not ended; the ended ones' toasts come with it."""
    toasts, pending = live.settle(request, {"job": _finished_jobs}, now=now)
    return live.context(request, active=active or pending, toasts=toasts)


@require_GET
@view_permission(VIEW_PERMISSION)
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
    now = timezone.now()
    context = {
        "title": "Jobs",
        "form": form,
        "page": page,
        "filtered": bool(keep),
        "keep": keep,
        "now": now,
        **_live(request, active=any(selectors.is_live(job, now=now) for job in page.jobs), now=now),
    }
    template = "jobs/_table.html" if request.htmx else "jobs/list.html"
    return render(request, template, context)


@require_GET
@view_permission(VIEW_PERMISSION)
def job_detail(request, pk: int):
    job = get_object_or_404(Job, pk=pk)
    selectors.jobs_describe([job])
    waiting = job.status in (JobStatus.QUEUED, JobStatus.RETRY_WAIT)
    now = timezone.now()
    context = {
        "title": f"Job #{job.pk}",
        "job": job,
        "result_links": registry.links(job.result),
        # A waiting job with no worker cluster to take it waits for one to start: the page says so.
        "no_worker": waiting and selectors.workers_missing(),
        "can_operate": request.user.has_perm(OPERATE_PERMISSION),
        "now": now,
        **_live(request, active=selectors.is_live(job, now=now), now=now),
    }
    template = "jobs/_detail.html" if request.htmx else "jobs/detail.html"
    return render(request, template, context)


@require_POST
@view_permission(OPERATE_PERMISSION)
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
@view_permission(OPERATE_PERMISSION)
def job_retry(request, pk: int):
    job = get_object_or_404(Job, pk=pk)
    now = timezone.now()
    try:
        services.job_retry(job=job, now=now)
    except services.JobStateError as exc:
        toast = Toast(str(exc), "error")
    else:
        toast = Toast(f"Job #{job.pk} queued again.")
        live.follow(request, "job", job.pk, now=now)  # its end is toasted (common.live)
    # With htmx the page stays (its job region refreshes on jobs-changed); without, back to where it was.
    return action_done(request, toast, event="jobs-changed", redirect_to=next_url(request, reverse("job_detail",
                                                                                                  args=[pk])))
