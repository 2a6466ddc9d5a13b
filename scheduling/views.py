"""Scheduling's pages (thin views over selectors and services).

Every action works as a plain form post (redirect and a message) and, when htmx sends it, answers
with the fragment to swap and its toast, so the pages also work without JavaScript.
"""

from __future__ import annotations

import json
import zoneinfo
from dataclasses import dataclass
from datetime import datetime, timedelta

from django import forms
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from common import live
from common.access import view_permission
from common.actors import page_actor
from common.formatting import format_instant
from common.forms import errors_by_field, parse_toggle
from common.pages import Toast, action_done, client_redirect, htmx_response, message, next_url
from jobs.selectors import jobs_describe
from scheduling import recurrence, registry, selectors, services
from scheduling.forms import KIND_INPUTS, PauseForm, ScheduleFilterForm, ScheduleForm
from scheduling.messages import pause_done, run_finished, run_now_message
from scheduling.models import RunOutcome, RunTrigger, ScheduleAuditEntry, ScheduledTask, ScheduleRun

VIEW = "scheduling.view_scheduledtask"
ADD = "scheduling.add_scheduledtask"
CHANGE = "scheduling.change_scheduledtask"
DELETE = "scheduling.delete_scheduledtask"

PAGE_SIZE = 50
HISTORY_RUNS = 50
HISTORY_AUDIT = 50
# The inputs whose errors the preview shows instead of runs: the kind, what any kind uses, the zone.
TIMING_FIELDS = ("schedule_kind", *sorted(set().union(*ScheduledTask.KIND_FIELDS.values())), "timezone")


def all_zones() -> list[str]:
    return sorted(recurrence.known_zones())


# --- the list ---------------------------------------------------------------------------------

def _with_summaries(schedules: list[ScheduledTask]) -> list[ScheduledTask]:
    """Each schedule's task label and params summary ("News"), for the templates."""
    for schedule, summary in zip(schedules, registry.params_summaries(schedules)):
        schedule.task_label = registry.label(schedule.task_type)
        schedule.params_summary = summary
    return schedules


@require_GET
@view_permission(VIEW)
def schedule_list(request):
    form = ScheduleFilterForm(request.GET)
    filters = form.filters()
    paginator = Paginator(selectors.schedule_list(**filters), PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    keep = {key: value for key, value in (("type", filters["task_type"]), ("state", filters["state"])) if value}
    now = timezone.now()
    schedules = _with_summaries(list(page.object_list))
    context = {
        "title": "Schedules",
        "form": form,
        "page": page,
        "schedules": schedules,
        "filtered": bool(keep),
        "keep": keep,
        "now": now,
        **_live(request, schedule_ids=[schedule.pk for schedule in schedules], now=now),
    }
    context["simulated"] = selectors.simulated_runs(now=context["now"])
    if request.htmx and request.htmx.target == "schedule-list":
        return render(request, "scheduling/_list.html", context)
    return render(request, "scheduling/list.html", context)


def runs_finished_toasts(run_ids: list[int]) -> dict[int, Toast | None]:
    """The runs started here (common.live) that have ended, each with its toast."""
    return {pk: None if found is None else
            Toast(run_finished(found[0], jobs_total=found[1], jobs_failed=found[2]),
                  "success" if found[0].outcome == RunOutcome.SUCCEEDED else "error")
            for pk, found in selectors.runs_finished(run_ids).items()}


def _live(request, *, schedule_ids, now) -> dict:
    """Live while a listed schedule has a run in progress or a run the user started has not ended."""
    toasts, pending = live.settle(request, {"run": runs_finished_toasts}, now=now)
    active = pending or bool(selectors.schedules_live(schedule_ids=schedule_ids, now=now))
    return live.context(request, active=active, toasts=toasts)


def _row_response(request, schedule: ScheduledTask, toast: Toast) -> HttpResponse:
    body = render_to_string("scheduling/_row.html", {
        "schedule": _with_summaries([schedule])[0], "now": timezone.now(),
    }, request=request)
    return htmx_response(request, body, toasts=[toast])


# --- the editor -------------------------------------------------------------------------------

def editor_form(*, data=None, schedule: ScheduledTask | None = None, task_types: list[str] | None = None,
                fixed: list[str] = (), initial: dict | None = None, user=None) -> ScheduleForm:
    """The schedule form as the pages lay it out; /backups and /channels build theirs with this too.

    `task_types` limits the task choice (one: no choice shown); `fixed` names fields the page
    decides (e.g. `quick_sync_group-group_id` on a group's card): sent as hidden inputs, still
    validated like every other. `user`, who saves: the task type may refuse their change.
    """
    form = ScheduleForm(data, instance=schedule, task_types=task_types or None, initial=initial, user=user)
    form.fields["schedule_kind"].widget = forms.RadioSelect(choices=form.fields["schedule_kind"].choices)
    zone = form.fields["timezone"].widget
    zone.attrs.update({"list": "timezone-options", "autocomplete": "off", "spellcheck": "false"})
    form.fields["anchor_at"].label = "Starting at (UTC, optional)"
    form.fields["cron_expr"].label = "Cron fields"  # "Cron expression" already names the kind's radio
    form.fields["anchor_at"].widget = forms.DateTimeInput(attrs={"type": "datetime-local"},
                                                          format="%Y-%m-%dT%H:%M")
    if len(form.task_types) == 1:
        fixed = [*fixed, "task_type"]
    form.fixed = [name for name in fixed if name in form.fields]
    for name in form.fixed:
        form.fields[name].widget = forms.HiddenInput()
    return form


def editor_context(request, form: ScheduleForm, *, schedule: ScheduledTask | None = None, next_url: str = "") -> dict:
    """What `scheduling/_editor.html` needs: the form in groups, where it posts, and its preview."""
    chosen = form["task_type"].value() or (form.task_types[0] if form.task_types else "")
    params_groups = [
        {"task_type": name, "label": registry.label(name), "fields": [form[f] for f in fields if f not in form.fixed],
         "hidden": [form[f] for f in fields if f in form.fixed]}
        for name, fields in form.params_fields.items()
    ]
    return {
        "form": form,
        "schedule": schedule,
        "action": reverse("schedule_edit", args=[schedule.pk]) if schedule else reverse("schedule_new"),
        "params_groups": params_groups,
        "chosen_task_type": chosen,
        "kind": form["schedule_kind"].value() or "daily",
        "kind_inputs": KIND_INPUTS,
        "zones": all_zones(),
        "preview": _preview(request, form, bound=form.is_bound, instance=schedule),
        # The live preview posts to this; it names the schedule being edited, whose params it compares with.
        "preview_url": reverse("schedule_preview") + (f"?schedule={schedule.pk}" if schedule else ""),
        "task_types_param": form.task_types if form.task_types != registry.names() else [],
        "next_url": next_url,
    }


def _editor_from_request(request, *, schedule=None, data=None, user=None) -> ScheduleForm:
    source = request.POST if data is not None else request.GET
    task_types = [name for name in source.getlist("_task_types" if data is not None else "task_type")
                  if registry.find(name)]
    fixed = source.getlist("_fixed" if data is not None else "fixed")
    initial = None
    if data is None and schedule is None:
        initial = {key: value for key, value in request.GET.items() if key not in ("task_type", "fixed", "next")}
        if task_types:
            initial["task_type"] = task_types[0]
    return editor_form(data=data, schedule=schedule, task_types=task_types, fixed=fixed, initial=initial, user=user)


def _render_editor(request, form, *, schedule=None, status: int = 200) -> HttpResponse:
    context = editor_context(request, form, schedule=schedule,
                             next_url=next_url(request, "") if request.method == "POST" else request.GET.get("next", ""))
    if request.htmx:
        return render(request, "scheduling/_editor.html", context, status=status)
    title = f"Edit “{schedule.name}”" if schedule else "New schedule"
    return render(request, "scheduling/editor_page.html", {**context, "title": title}, status=status)


def _save(request, form: ScheduleForm, *, schedule: ScheduledTask | None) -> HttpResponse:
    if not form.is_valid():
        return _render_editor(request, form, schedule=schedule)
    try:
        saved = services.schedule_save(schedule=form.instance, now=timezone.now(), actor=page_actor(request))
    except ValidationError as exc:  # changed meanwhile (e.g. its group deleted): the same inline messages
        for field, errors in errors_by_field(exc).items():
            form.add_error(field if field in form.fields else None, errors)
        return _render_editor(request, form, schedule=schedule)
    except registry.ParamsChangeRefused as exc:  # the backups changed meanwhile: the form's own message
        form.add_error(form.refused_field(exc), exc.message)
        return _render_editor(request, form, schedule=schedule)
    toast = Toast(f"Schedule “{saved.name}” {'saved' if schedule else 'created'}. "
                  + (f"Next run: {_local(saved.next_run_at, saved.timezone)}." if saved.next_run_at else
                     "It is disabled, so it has no next run."))
    if request.htmx:
        return htmx_response(request, toasts=[toast], swap=False,
                              events={"schedules-changed": {"id": saved.pk}, "close-dialog": {}})
    message(request, toast)
    return redirect(next_url(request, reverse("schedules")))


def _local(instant: datetime, zone: str) -> str:
    return f"{format_instant(instant, zone)} ({zone})"


@require_http_methods(["GET", "POST"])
@view_permission(ADD)
def schedule_new(request):
    if request.method == "GET":
        return _render_editor(request, _editor_from_request(request))
    return _save(request, _editor_from_request(request, data=request.POST, user=request.user), schedule=None)


@require_http_methods(["GET", "POST"])
@view_permission(CHANGE)
def schedule_edit(request, pk: int):
    schedule = get_object_or_404(ScheduledTask, pk=pk)
    if request.method == "GET":
        return _render_editor(request, _editor_from_request(request, schedule=schedule), schedule=schedule)
    # The form edits its own copy: a refused save must not leave the page's `schedule` half-changed.
    form = _editor_from_request(request, schedule=get_object_or_404(ScheduledTask, pk=pk), data=request.POST,
                                user=request.user)
    return _save(request, form, schedule=schedule)


# --- the live preview -------------------------------------------------------------------------

def _preview(request, form: ScheduleForm, *, bound: bool, instance: ScheduledTask | None,
             stored: ScheduledTask | None = None) -> dict:
    """The description and next runs, or the timing's validation messages instead of runs; and what the
    task type says about saving its params (`params_preview`, see `_params_preview`)."""
    now = timezone.now()
    if not bound:
        stored = instance
        candidate = instance or _unbound_candidate(form)
    else:
        form.is_valid()
        candidate = form.instance
    params_preview = _params_preview(request, form, candidate=candidate, stored=stored, now=now)
    if not bound and instance is None:
        return {"empty": True, "params_preview": params_preview}
    if bound:
        timing_errors = [(form.fields[name].label, error) for name in TIMING_FIELDS
                         for error in form.errors.get(name, [])]
        if timing_errors:
            return {"errors": timing_errors, "params_preview": params_preview}
    try:
        preview = selectors.schedule_preview(schedule=candidate, now=now)
    except recurrence.RecurrenceError as exc:
        return {"errors": [("", exc.message)], "params_preview": params_preview}
    return {**preview, "enabled": candidate.enabled, "params_preview": params_preview}


def _unbound_candidate(form: ScheduleForm) -> ScheduledTask | None:
    """A new schedule as the empty editor shows it: the chosen task type's default params, in the zone shown."""
    name = form["task_type"].value() or (form.task_types[0] if form.task_types else "")
    task_type = registry.find(name)
    if task_type is None:
        return None
    try:
        params = task_type.clean_params({})
    except ValidationError:  # a task type whose params have no defaults (a channel group to choose)
        return None
    return ScheduledTask(task_type=name, params=params, timezone=form["timezone"].value() or "UTC")


def _params_preview(request, form: ScheduleForm, *, candidate: ScheduledTask | None, stored: ScheduledTask | None,
                    now: datetime) -> str:
    """The task type's fragment about saving the candidate's params over the stored schedule's (a backup
    retention: what it would delete), once its params are valid; "" otherwise."""
    if candidate is None or not candidate.task_type or registry.find(candidate.task_type) is None:
        return ""
    if form.is_bound and (any(name in form.errors for name in form.params_fields.get(candidate.task_type, []))
                          or "task_type" in form.errors or "timezone" in form.errors):
        return ""
    return registry.preview_change(old=stored, new=candidate, user=request.user, now=now)


@require_POST
def schedule_preview(request):
    """The editor's live preview (htmx posts the form while the user types); nothing is written.

    `?schedule=<id>` names the schedule being edited: the task type compares the params typed with its
    stored ones (a retention that would newly delete backups).
    """
    user = request.user
    if not (user.has_perm(ADD) or user.has_perm(CHANGE)):
        raise PermissionDenied
    stored = None
    if request.GET.get("schedule"):
        if not user.has_perm(CHANGE):
            raise PermissionDenied
        stored = get_object_or_404(ScheduledTask, pk=_id_or_404(request.GET["schedule"]))
    form = _editor_from_request(request, data=request.POST)
    return render(request, "scheduling/_preview.html",
                  {"preview": _preview(request, form, bound=True, instance=None, stored=stored)})


def _id_or_404(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) < 2**63:
        raise Http404("Not an id.")
    return int(text)


# --- toggle, run now, delete ------------------------------------------------------------------

@require_POST
@view_permission(CHANGE)
def schedule_toggle(request, pk: int):
    schedule = get_object_or_404(ScheduledTask, pk=pk)
    enabled = parse_toggle(request.POST.get("enabled"), current=schedule.enabled)
    try:
        services.schedule_set_enabled(schedule=schedule, enabled=enabled, now=timezone.now(),
                                      actor=page_actor(request))
    except ValidationError as exc:
        schedule.refresh_from_db()
        toast = Toast(f"“{schedule.name}” was not enabled: {' '.join(exc.messages)} Edit it to fix this.", "error")
    else:
        toast = Toast(f"Schedule “{schedule.name}” {'enabled' if enabled else 'disabled'}."
                      + (f" Next run: {_local(schedule.next_run_at, schedule.timezone)}." if schedule.next_run_at
                         else ""))
    if request.htmx:
        return _row_response(request, schedule, toast)
    message(request, toast)
    return redirect(next_url(request, reverse("schedules")))


@require_POST
@view_permission(CHANGE)
def schedule_run_now(request, pk: int):
    schedule = get_object_or_404(ScheduledTask, pk=pk)
    force = request.POST.get("force") in ("1", "true", "on")
    now = timezone.now()
    try:
        run = services.schedule_run_now(schedule=schedule, now=now, force=force, actor=page_actor(request))
    except services.RunActiveError as exc:
        toast = Toast(str(exc), "error", run_anyway_url=reverse("schedule_run_now", args=[pk]))
        if request.htmx:
            return htmx_response(request, toasts=[toast], status=409, swap=False)
        message(request, toast)
        return redirect(next_url(request, reverse("schedule_detail", args=[pk])))
    failed = run.outcome == RunOutcome.DISPATCH_FAILED
    toast = Toast(run_now_message(run), "error" if failed else "success")
    if run.outcome == RunOutcome.DISPATCHED:
        live.follow(request, "run", run.pk, now=now)  # its end is toasted (common.live)
    if request.htmx:
        return htmx_response(request, toasts=[toast], swap=False, events={"schedules-changed": {"id": pk}})
    message(request, toast)
    return redirect(next_url(request, reverse("schedules")))


@require_http_methods(["GET", "POST"])
@view_permission(DELETE)
def schedule_delete(request, pk: int):
    schedule = get_object_or_404(ScheduledTask, pk=pk)
    if request.method == "GET":  # the confirmation (a dialog's content with htmx, a page without)
        template = "scheduling/_delete.html" if request.htmx else "scheduling/delete_page.html"
        return render(request, template, {"schedule": schedule, "title": f"Delete “{schedule.name}”?",
                                          "next_url": request.GET.get("next", "")})
    name = schedule.name
    services.schedule_delete(schedule=schedule, now=timezone.now(), actor=page_actor(request))
    toast = Toast(f"Schedule “{name}” deleted. Its run history and audit trail are kept.")
    if request.htmx and request.POST.get("_next"):  # deleted from its own page: that page is gone
        return client_redirect(request, toast, to=next_url(request, reverse("schedules")))
    if request.htmx:
        return htmx_response(request, toasts=[toast], swap=False,
                              events={"schedules-changed": {"id": pk, "deleted": True}, "close-dialog": {}})
    message(request, toast)
    return redirect(next_url(request, reverse("schedules")))


# --- pause and resume -------------------------------------------------------------------------

@require_http_methods(["GET", "POST"])
@view_permission(CHANGE)
def schedule_pause(request, pk: int):
    """"Pause…": until a date and time on the schedule's wall clock, and why (a dialog's form with
    htmx, a page without)."""
    schedule = get_object_or_404(ScheduledTask, pk=pk)
    now = timezone.now()
    if request.method == "GET":
        return _render_pause(request, PauseForm(schedule=schedule, now=now), schedule, back=request.GET.get("next", ""))
    form = PauseForm(request.POST, schedule=schedule, now=now)
    if form.is_valid():
        try:
            services.schedule_pause(schedule=schedule, until=form.cleaned_data["until"],
                                    reason=form.cleaned_data["reason"], now=now, actor=page_actor(request))
        except ValidationError as exc:
            for field, errors in errors_by_field(exc).items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            return action_done(request, Toast(pause_done(schedule)), event="schedules-changed",
                               redirect_to=next_url(request, reverse("schedules")))
    # htmx 2 swaps only 2xx answers: the form comes back with its messages and a 200.
    return _render_pause(request, form, schedule, back=next_url(request, ""))


def _render_pause(request, form: PauseForm, schedule: ScheduledTask, *, back: str) -> HttpResponse:
    context = {"form": form, "schedule": schedule, "next_url": back, "title": f"Pause “{schedule.name}”"}
    return render(request, "scheduling/_pause.html" if request.htmx else "scheduling/pause_page.html", context)


@require_POST
@view_permission(CHANGE)
def schedule_resume(request, pk: int):
    """"Resume now": lift the pause; the next window runs as usual."""
    schedule = get_object_or_404(ScheduledTask, pk=pk)
    if schedule.paused_until is None:
        toast = Toast(f"“{schedule.name}” is not paused.", "info")
    else:
        services.schedule_resume(schedule=schedule, now=timezone.now(), actor=page_actor(request))
        toast = Toast(f"“{schedule.name}” resumed."
                      + (f" Next run: {_local(schedule.next_run_at, schedule.timezone)}." if schedule.next_run_at
                         else ""))
    if request.htmx:
        return htmx_response(request, toasts=[toast], swap=False, events={"schedules-changed": {"id": pk}})
    message(request, toast)
    return redirect(next_url(request, reverse("schedules")))


# --- history ----------------------------------------------------------------------------------

@require_GET
@view_permission(VIEW)
def schedule_detail(request, pk: int):
    """One schedule: what it is, its recent runs (with their jobs) and its audit trail."""
    schedule = get_object_or_404(ScheduledTask, pk=pk)
    runs = list(schedule.runs.order_by("-created_at", "-pk").prefetch_related("jobs")[:HISTORY_RUNS])
    for run in runs:
        run.lateness = _lateness(run)
    entries = list(ScheduleAuditEntry.objects.filter(schedule=schedule).order_by("-at", "-pk")[:HISTORY_AUDIT])
    for entry in entries:
        entry.change_list = _change_list(entry.changes)
    now = timezone.now()
    return render(request, "scheduling/detail.html", {
        "title": schedule.name,
        "schedule": _with_summaries([schedule])[0],
        "runs": runs,
        "entries": entries,
        "first_run_after_pause": _first_run_after_pause(schedule),
        "now": now,
        **_live(request, schedule_ids=[schedule.pk], now=now),
    })


def _lateness(run: ScheduleRun):
    """How late a scheduled window was dispatched; nothing was dispatched for paused windows (and a
    paused run's due time moves on with its pause, past when the run was written)."""
    if run.trigger != RunTrigger.SCHEDULED or run.outcome == RunOutcome.PAUSED:
        return None
    return run.created_at - run.due_at


def _first_run_after_pause(schedule: ScheduledTask):
    """The first window at or after the pause's end: when the paused schedule runs again."""
    if schedule.paused_until is None or not schedule.enabled:
        return None
    try:
        return schedule.next_after(schedule.paused_until - timedelta(microseconds=1))
    except recurrence.RecurrenceError:
        return None


def _change_list(changes: dict) -> list[tuple[str, str, str]]:
    """{field: [old, new]} as (field, old, new) in words; other entries (forced, reason) as (key, "", value)."""
    rows = []
    for field, change in changes.items():
        if isinstance(change, list) and len(change) == 2:
            if _word(change[0]) != _word(change[1]):  # [] and None read the same
                rows.append((field, _word(change[0]), _word(change[1])))
        else:
            rows.append((field, "", _word(change)))
    return rows


def _word(value) -> str:
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


@require_GET
@view_permission(VIEW)
def schedule_run_detail(request, pk: int):
    """One run of a schedule: when it was due, what it decided, and the jobs it created.

    Jobs link here (their origin), so the page stays when the schedule is deleted. It needs the same
    permission as the schedule's own page: a run shows its schedule's name, timing and jobs.
    """
    run = get_object_or_404(ScheduleRun.objects.select_related("schedule"), pk=pk)
    return render(request, "scheduling/run_detail.html", {
        "title": f"Run #{run.pk} of “{run.schedule_name}”",
        "run": run,
        "lateness": _lateness(run),
        # Each named by what it works on (a quick sync's channel and group), as /jobs names them.
        "jobs": jobs_describe(list(run.jobs.order_by("pk"))),
    })


# --- upcoming runs ----------------------------------------------------------------------------

@dataclass
class UpcomingRun:
    run: recurrence.PreviewRun
    schedule: ScheduledTask
    count: int = 1  # a frequent schedule's runs of one day are one line: its first run, how many, its last
    last: recurrence.PreviewRun | None = None


# More runs than this of one schedule in a day read as one line ("96 runs, 00:12 to 23:57").
COLLAPSE_RUNS_PER_DAY = 6


def _collapsed(items: list[UpcomingRun]) -> list[UpcomingRun]:
    per_schedule: dict[int, list[UpcomingRun]] = {}
    for item in items:
        per_schedule.setdefault(item.schedule.pk, []).append(item)
    lines, seen = [], set()
    for item in items:
        mine = per_schedule[item.schedule.pk]
        if len(mine) <= COLLAPSE_RUNS_PER_DAY:
            lines.append(item)
        elif item.schedule.pk not in seen:
            seen.add(item.schedule.pk)
            first = next((other for other in mine if other.run.note), item)
            lines.append(UpcomingRun(run=first.run, schedule=item.schedule, count=len(mine), last=mine[-1].run))
    return lines


class UpcomingForm(forms.Form):
    tz = forms.CharField(required=False, label="Show times in", initial="UTC",
                         widget=forms.TextInput(attrs={"list": "timezone-options", "autocomplete": "off",
                                                       "spellcheck": "false"}))

    def clean_tz(self):
        name = recurrence.canonical_zone((self.cleaned_data.get("tz") or "").strip() or "UTC")
        try:
            recurrence.parse_zone(name)
        except recurrence.RecurrenceError as exc:
            raise ValidationError(exc.message)
        return name


@require_GET
@view_permission(VIEW)
def schedule_upcoming(request):
    """Every enabled schedule's runs over the next week, one timeline, grouped by day in the viewer's zone."""
    form = UpcomingForm(request.GET)
    zone_name = form.cleaned_data["tz"] if form.is_valid() else "UTC"
    zone = zoneinfo.ZoneInfo(zone_name)
    now = timezone.now()
    runs, truncated, until = selectors.upcoming_runs(now=now)
    _with_summaries(list({schedule.pk: schedule for _, schedule in runs}.values()))
    days: list[dict] = []
    for run, schedule in runs:
        local = run.at.astimezone(zone)
        if not days or days[-1]["date"] != local.date():
            change = recurrence.day_change(zone, local.date())
            days.append({"date": local.date(), "runs": [],
                         "clock_change": "" if not change else "forward" if change > timedelta(0) else "back",
                         "change_minutes": abs(int(change.total_seconds() // 60))})
        days[-1]["runs"].append(UpcomingRun(run=run, schedule=schedule))
    for day in days:
        day["runs"] = _collapsed(day["runs"])
    return render(request, "scheduling/upcoming.html", {
        "title": "Upcoming runs",
        "form": form,
        "zone": zone_name,
        "days": days,
        "count": len(runs),
        "truncated": truncated,
        "until": until,
        "zones": all_zones(),
        "now": now,
        "simulated": selectors.simulated_runs(now=now),
    })
