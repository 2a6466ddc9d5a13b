"""The /backups page: the backup schedule in words, the backups with Verify now, download and delete, the
space BACKUP_DIR uses, and how to restore. Thin views over the backups selectors and services and the
scheduling services; the schedule editor is the one /schedules uses (its dialog loads `/schedules/new` or
`/schedules/<id>/edit`, limited to DATABASE_BACKUP).

Every action works as a plain form post (redirect and a message) and, when htmx sends it, answers with
its toast and a `backups-changed` event that refreshes the page's region.

Permissions (Django model permissions, checked by each view and used to hide what a user may not do):
seeing the page needs backups.view_backup; Verify now backups.change_backup (it records its result on
the backup); Adopt (registering the folder's backup files the list does not have) backups.add_backup;
delete backups.delete_backup; download its own backups.download_backup, not just view: a
backup file holds every user's data, password hashes and API tokens included, so seeing that backups
exist must not be enough to take one home. The schedule's buttons need scheduling.add_scheduledtask
(creating it) or scheduling.change_scheduledtask (editing, enabling, Run now), as on /schedules.
"""

from __future__ import annotations

import time
from urllib.parse import urlencode

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from backups import conf, files, selectors
from backups.errors import BackupError, NoBackupFile
from backups.files import RESTORE_GUIDE
from backups.messages import backup_finished
from backups.models import Backup, BackupStatus
from backups.services import adopting, making, restoring
from backups.tasks import DEFAULT_NAME, DEFAULT_PARAMS, DEFAULT_TIME, TASK_TYPE
from common import live
from common.access import for_viewer, view_permission
from common.actors import page_actor
from common.forms import parse_toggle
from common.pages import Toast, action_done
from scheduling import selectors as scheduling_selectors
from scheduling import services as scheduling_services
from scheduling.messages import run_now_message
from scheduling.models import RunOutcome, ScheduledTask
from scheduling.views import runs_finished_toasts

VIEW = "backups.view_backup"
VERIFY = "backups.change_backup"
ADOPT = "backups.add_backup"
DELETE = "backups.delete_backup"
DOWNLOAD = "backups.download_backup"
ADD_SCHEDULE = "scheduling.add_scheduledtask"
CHANGE_SCHEDULE = "scheduling.change_scheduledtask"



def _done(request, toast: Toast) -> HttpResponse:
    return action_done(request, toast, event="backups-changed", redirect_to=reverse("backups"))


# --- the page ---------------------------------------------------------------------------------

def editor_url(schedule: ScheduledTask | None) -> str:
    """Where "Configure Schedule" opens the shared editor, limited to DATABASE_BACKUP: the backup schedule,
    or a new one named and timed as the old nightly backup (its params form starts at the defaults)."""
    back = reverse("backups")
    if schedule is not None:
        query = urlencode({"task_type": TASK_TYPE, "next": back})
        return f"{reverse('schedule_edit', args=[schedule.pk])}?{query}"
    query = urlencode({"task_type": TASK_TYPE, "name": DEFAULT_NAME, "schedule_kind": "daily",
                       "schedule_time": DEFAULT_TIME, "timezone": "UTC", "next": back})
    return f"{reverse('schedule_new')}?{query}"


def backup_runs_finished(run_ids: list[int]) -> dict[int, Toast | None]:
    """The backup runs started here (common.live) that have ended, each with its toast: the backup it
    made ("Backup #6 done: 12.3 MB, verified"), else the run's own words."""
    done = runs_finished_toasts(run_ids)
    ended = [pk for pk, toast in done.items() if toast is not None]
    for backup in Backup.objects.filter(job__schedule_runs__in=ended).order_by("pk"):
        for run_id in backup.job.schedule_runs.filter(pk__in=ended).values_list("pk", flat=True):
            good = backup.status in (BackupStatus.COMPLETED, BackupStatus.SKIPPED)
            done[run_id] = Toast(backup_finished(backup), "success" if good else "error")
    return done


@require_GET
@view_permission(VIEW)  # noted for links here (common.access.may_open)
def backup_list(request):
    now = timezone.now()
    page = selectors.backups_page(now=now, page_number=request.GET.get("page"),
                                  show_skipped=request.GET.get("skipped") == "1")
    toasts, pending = live.settle(request, {"backup_run": backup_runs_finished}, now=now)
    schedule = page["schedule"]
    running = bool(schedule and scheduling_selectors.schedules_live(schedule_ids=[schedule.pk], now=now))
    context = {**page, "editor_url": editor_url(page["schedule"]), "defaults": {"time": DEFAULT_TIME, **DEFAULT_PARAMS},
               "title": "Backups", "region_url": f"{reverse('backups')}?{'skipped=1&' if page['show_skipped'] else ''}"
                                                   f"page={page['page'].number}",
               **live.context(request, active=page["polling"] or running or pending, toasts=toasts)}
    if request.htmx and request.htmx.target == "backups-region":
        return render(request, "backups/_region.html", context)
    return render(request, "backups/list.html", context)


@require_GET
@view_permission(VIEW)
def restore_guide(request):
    """docs/restore.md as plain text: the restore help links here (it is Markdown, written to be read as is)."""
    path = settings.BASE_DIR / RESTORE_GUIDE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise Http404(f"{RESTORE_GUIDE} is not in this installation.") from None
    return HttpResponse(text, content_type="text/plain; charset=utf-8")


# Adopt answers within a request: files are read (hashed) for at most this long, the rest on the next press.
ADOPT_BUDGET_SECONDS = 15.0


@require_POST
@view_permission(ADOPT)
def backups_adopt(request):
    """Register the backup files of BACKUP_DIR the list does not have (as `manage.py adopt_backups`)."""
    report = adopting.backups_adopt(directory=conf.backup_dir(), now=timezone.now(), by=request.user.get_username(),
                                    budget_seconds=ADOPT_BUDGET_SECONDS)
    lines = report.lines()
    text = " ".join([report.summary(), *lines[:5], f"(and {len(lines) - 5} more)" if len(lines) > 5 else ""]).strip()
    return _done(request, Toast(text, "warning" if report.left_alone or report.not_checked else "success"))


# --- the schedule: enable/disable, Run now ----------------------------------------------------

def _backup_schedule_or_404(pk: int) -> ScheduledTask:
    return get_object_or_404(ScheduledTask, pk=pk, task_type=TASK_TYPE)


@require_POST
@view_permission(CHANGE_SCHEDULE)
def schedule_toggle(request, pk: int):
    schedule = _backup_schedule_or_404(pk)
    enabled = parse_toggle(request.POST.get("enabled"), current=schedule.enabled)
    try:
        scheduling_services.schedule_set_enabled(schedule=schedule, enabled=enabled, now=timezone.now(),
                                                 actor=page_actor(request))
    except ValidationError as exc:  # its timing or params no longer validate
        return _done(request, Toast(f"“{schedule.name}” was not enabled: {' '.join(exc.messages)} "
                                    "Configure it to fix this.", "error"))
    if enabled:
        text = f"Backups on: “{schedule.name}” runs {schedule.describe()}."
    else:
        text = f"Backups off: “{schedule.name}” is disabled and makes no backups until it is enabled again."
    return _done(request, Toast(text, "success" if enabled else "warning"))


@require_POST
@view_permission(CHANGE_SCHEDULE)
def schedule_run_now(request, pk: int):
    """Run now: the schedule's manual run, which always backs up (force_backup, see backups.tasks)."""
    schedule = _backup_schedule_or_404(pk)
    force = request.POST.get("force") in ("1", "true", "on")
    try:
        run = scheduling_services.schedule_run_now(schedule=schedule, now=timezone.now(), force=force,
                                                   actor=page_actor(request))
    except scheduling_services.RunActiveError as exc:
        return _done(request, Toast(f"{exc} A second backup would be skipped anyway: backups never overlap.",
                                    "error", run_anyway_url=reverse("backup_schedule_run_now", args=[pk])))
    failed = run.outcome == RunOutcome.DISPATCH_FAILED
    if run.outcome == RunOutcome.DISPATCHED:
        live.follow(request, "backup_run", run.pk, now=run.created_at)  # its end is toasted (common.live)
    return _done(request, Toast(run_now_message(run), "error" if failed else "success"))


# --- one backup: verify, download, delete -----------------------------------------------------

@require_POST
@view_permission(VERIFY)
def backup_verify(request, pk: int):
    """Check the file again, here and now (checksum, then integrity) and record the result.

    Done in the request, not as a job: it takes seconds (about 3 s for a 500 MB SQLite database,
    see docs/benchmarks.md), the person who clicked waits for exactly that answer, and a job would
    queue behind a running backup or wait for a worker that may not run.
    """
    backup = get_object_or_404(Backup, pk=pk)
    started = time.monotonic()
    try:
        restoring.backup_verify(backup=backup, now=timezone.now())
    except NoBackupFile as exc:
        return _done(request, Toast(for_viewer(str(exc), request.user), "error"))
    except BackupError as exc:
        return _done(request, Toast(for_viewer(f"Backup #{backup.pk} failed its verification: {exc}", request.user),
                                    "error"))
    return _done(request, Toast(f"Backup #{backup.pk} verified: its checksum matches and the copy passes its "
                                f"integrity check ({time.monotonic() - started:.1f} s)."))


def _file_of(backup: Backup):
    try:
        return selectors.backup_file_path(backup=backup)
    except BackupError as exc:
        raise Http404(str(exc)) from None


@require_GET
@view_permission(DOWNLOAD)
def backup_download(request, pk: int):
    path = _file_of(get_object_or_404(Backup, pk=pk))
    try:
        opened = files.open_regular(path)  # never through a link swapped in since the check
    except (BackupError, OSError) as exc:
        raise Http404(f"{path.name} is not opened: {getattr(exc, 'strerror', None) or exc}") from None
    # Streamed in blocks by FileResponse (never read into memory), under its own name.
    return FileResponse(opened, as_attachment=True, filename=path.name, content_type="application/octet-stream")


@require_http_methods(["GET", "POST"])
@view_permission(DELETE)
def backup_delete(request, pk: int):
    backup = get_object_or_404(Backup, pk=pk)
    if request.method == "GET":  # the confirmation says first whether this is the newest good backup
        if not backup.has_file:
            raise Http404(backup.no_file_reason(to="delete"))
        context = {"backup": backup, **selectors.backup_deletion_facts(backup=backup),
                   "title": f"Delete backup #{backup.pk}?", "now": timezone.now()}
        template = "backups/_delete.html" if request.htmx else "backups/delete_page.html"
        return render(request, template, context)
    try:
        making.backup_delete(backup=backup, now=timezone.now(), by=request.user.get_username(),
                             reason="from /backups")
    except BackupError as exc:
        return _done(request, Toast(f"Not deleted: {exc}", "error"))
    return _done(request, Toast(f"Backup #{backup.pk} deleted ({backup.file_name}). Its record stays in the list."))
