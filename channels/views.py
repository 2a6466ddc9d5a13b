"""The /channels pages: groups with their channels, last syncs and quick-sync schedules, and one channel's
videos. Thin views over the channels selectors and services; the schedule editor is the one /schedules
uses (its dialog loads `/schedules/new` or `/schedules/<id>/edit`, limited to QUICK_SYNC_GROUP with the
group fixed).

Every action works as a plain form post (redirect and a message) and, when htmx sends it, answers with
its toast and a `channels-changed` event that refreshes the page's lists.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from channels import selectors, services
from channels.forms import ChannelAddForm, ChannelGroupForm, ChannelGroupsForm
from channels.identity import parse_channel_reference
from channels.messages import channel_added, sync_finished, sync_now_message
from channels.models import Channel, ChannelGroup, ChannelSync, GroupSync
from common import live
from common.access import view_permission
from common.actors import page_actor
from common.forms import parse_toggle
from common.pages import Toast, action_done
from jobs.selectors import live_jobs, no_worker_note

VIEW = "channels.view_channelgroup"  # the pages: groups, their channels, a channel's videos
ADD_GROUP = "channels.add_channelgroup"
CHANGE_GROUP = "channels.change_channelgroup"
DELETE_GROUP = "channels.delete_channelgroup"
# Sync now starts the jobs a group's schedule would: the same right as changing the group.
SYNC = CHANGE_GROUP
ADD_CHANNEL = "channels.add_channel"
CHANGE_CHANNEL = "channels.change_channel"  # enable/disable, groups it is in
ADD_SCHEDULE = "scheduling.add_scheduledtask"
CHANGE_SCHEDULE = "scheduling.change_scheduledtask"
DELETE_SCHEDULE = "scheduling.delete_scheduledtask"

PARAM = "quick_sync_group-group_id"



def _done(request, toast: Toast, *, redirect_to: str = "") -> HttpResponse:
    return action_done(request, toast, event="channels-changed", redirect_to=redirect_to or reverse("channels"))


def _form(request, template: str, context: dict, *, title: str) -> HttpResponse:
    """A form's fragment for the dialog (htmx), or the same form on a page of its own."""
    if request.htmx:
        return render(request, template, context)
    return render(request, "channels/form_page.html", {**context, "title": title, "fragment": template})


# --- the list ---------------------------------------------------------------------------------

def editor_urls(group: ChannelGroup) -> dict:
    """Where the group's "Schedule Quick Sync" opens the shared editor: a new schedule with the group fixed,
    or its existing one, limited to QUICK_SYNC_GROUP."""
    back = reverse("channels")
    if group.schedules:
        query = urlencode({"task_type": selectors.TASK_TYPE, "fixed": PARAM, "next": back})
        return {"url": f"{reverse('schedule_edit', args=[group.schedules[0].pk])}?{query}", "creates": False}
    query = urlencode({"task_type": selectors.TASK_TYPE, PARAM: group.pk, "fixed": PARAM,
                       "name": f"Quick sync: {group.name}", "next": back})
    return {"url": f"{reverse('schedule_new')}?{query}", "creates": True}


def syncs_finished(sync_ids: list[int]) -> dict[int, Toast | None]:
    """The syncs started here (common.live) that have ended, each with its toast; gone ones without."""
    syncs = {sync.pk: sync for sync in GroupSync.objects.filter(pk__in=sync_ids)}
    done: dict[int, Toast | None] = {pk: None for pk in sync_ids if pk not in syncs}
    ended = [sync for sync in syncs.values() if sync.finished_at is not None]
    # One channel's sync has no group: it is named after its channel.
    titles = dict(ChannelSync.objects.filter(group_sync__in=[s for s in ended if not s.group_name])
                  .values_list("group_sync_id", "channel__title"))
    for sync in ended:
        name = sync.group_name or titles.get(sync.pk) or "the channel"
        done[sync.pk] = Toast(sync_finished(sync, name=name), "warning" if sync.failed else "success")
    return done


def _live(request, *, active: bool, now) -> dict:
    toasts, pending = live.settle(request, {"group_sync": syncs_finished}, now=now)
    return live.context(request, active=active or pending, toasts=toasts)


@require_GET
@view_permission(VIEW)  # noted for links here (common.access.may_open)
def channel_list(request):
    now = timezone.now()
    page = selectors.groups_page(now=now)
    context = {**page, "title": "Channels", **_live(request, active=page["polling"], now=now)}
    for group in context["groups"]:
        group.editor = editor_urls(group)
    if request.htmx and request.htmx.target == "group-list":
        return render(request, "channels/_groups.html", context)
    return render(request, "channels/list.html", context)


# --- groups -----------------------------------------------------------------------------------

@require_http_methods(["GET", "POST"])
@view_permission(ADD_GROUP)
def group_new(request):
    form = ChannelGroupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            group = services.group_create(name=form.cleaned_data["name"],
                                          description=form.cleaned_data["description"], now=timezone.now())
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            return _done(request, Toast(f"Group “{group.name}” created. Add channels to it with “Add channel”."))
    return _form(request, "channels/_group_form.html", {"form": form, "group": None}, title="New group")


@require_http_methods(["GET", "POST"])
@view_permission(CHANGE_GROUP)
def group_edit(request, pk: int):
    group = get_object_or_404(ChannelGroup, pk=pk)
    old_name = group.name
    # The form works on its own copy: a refused rename must not leave `group` half-changed.
    form = ChannelGroupForm(request.POST or None, instance=get_object_or_404(ChannelGroup, pk=pk))
    if request.method == "POST" and form.is_valid():
        try:
            services.group_update(group=group, name=form.cleaned_data["name"],
                                  description=form.cleaned_data["description"])
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            text = (f"Group “{old_name}” renamed to “{group.name}”. Its schedules still sync it."
                    if group.name != old_name else f"Group “{group.name}” saved.")
            return _done(request, Toast(text))
    return _form(request, "channels/_group_form.html", {"form": form, "group": group},
                 title=f"Rename “{group.name}”")


@require_http_methods(["GET", "POST"])
@view_permission(DELETE_GROUP)
def group_delete(request, pk: int):
    group = get_object_or_404(ChannelGroup, pk=pk)
    if request.method == "GET":  # says first what deleting does to its schedules and channels
        return _form(request, "channels/_group_delete.html",
                     {"group": group, "preview": selectors.group_delete_preview(group=group)},
                     title=f"Delete “{group.name}”?")
    name = group.name
    disabled = services.group_delete(group=group, now=timezone.now(), actor=page_actor(request))
    text = f"Group “{name}” deleted. Its channels and their videos stay in the archive."
    if disabled:
        names = ", ".join(f"“{schedule.name}”" for schedule in disabled)
        its = ngettext("its schedule", "its schedules", len(disabled))
        text += f" Disabled {its} {names}: nothing left to sync."
    return _done(request, Toast(text, "warning" if disabled else "success"))


def _sync_toast(group_sync: GroupSync) -> Toast:
    text = sync_now_message(group_sync)
    if not group_sync.jobs_created:
        return Toast(text, "warning")
    return Toast(" ".join(filter(None, [text, no_worker_note()])))


@require_POST
@view_permission(SYNC)
def group_sync(request, pk: int):
    group = get_object_or_404(ChannelGroup, pk=pk)
    now = timezone.now()
    group_sync = services.group_sync_now(group=group, now=now, user=request.user)
    if group_sync.jobs_created:
        live.follow(request, "group_sync", group_sync.pk, now=now)  # its end is toasted (common.live)
    return _done(request, _sync_toast(group_sync))


# --- channels ---------------------------------------------------------------------------------

@require_http_methods(["GET", "POST"])
@view_permission(ADD_CHANNEL)
def channel_add(request):
    initial = {"groups": [pk for pk in request.GET.getlist("group") if pk.isdigit()]}
    form = ChannelAddForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        groups = list(form.cleaned_data["groups"])
        already_in = _groups_of_known_channel(form.cleaned_data["reference"])
        try:
            channel, created = services.channel_add(reference=form.cleaned_data["reference"], now=timezone.now(),
                                                    title=form.cleaned_data["title"], groups=groups)
        except ValidationError as exc:
            for message in exc.message_dict.get("youtube_id", []):
                form.add_error("reference", message)
            for field, errors in exc.message_dict.items():
                if field != "youtube_id":
                    form.add_error(None, errors)
        else:
            text = channel_added(channel=channel, created=created, groups=groups, already_in=already_in)
            return _done(request, Toast(text))
    return _form(request, "channels/_channel_add.html", {"form": form}, title="Add a channel")


def _groups_of_known_channel(reference: str) -> list[ChannelGroup]:
    """The groups a channel already in the archive is in, before adding it (to say what adding changed);
    none for a new channel or a reference the service will refuse."""
    try:
        youtube_id = parse_channel_reference(reference)
    except ValidationError:
        return []
    return list(ChannelGroup.objects.filter(channels__youtube_id=youtube_id))


def _channel_detail_context(request, channel: Channel) -> dict:
    now = timezone.now()
    channel.status_text = selectors.channel_status(channel, now=now)
    syncing = selectors.channel_syncing(channel=channel, live=live_jobs(now=now))
    groups = list(channel.groups.order_by("name"))
    return {
        "title": channel.title,
        "channel": channel,
        "groups": groups,
        "groups_form": ChannelGroupsForm(initial={"groups": groups}),
        "videos": list(selectors.channel_newest_videos(channel=channel)),
        "video_count": channel.videos.count(),
        "now": now,
        **_live(request, active=syncing, now=now),
    }


@require_GET
@view_permission(VIEW)  # noted for links here (common.access.may_open)
def channel_detail(request, pk: int):
    channel = get_object_or_404(Channel, pk=pk)
    return render(request, "channels/detail.html", _channel_detail_context(request, channel))


@require_POST
@view_permission(CHANGE_CHANNEL)
def channel_toggle(request, pk: int):
    channel = get_object_or_404(Channel, pk=pk)
    enabled = parse_toggle(request.POST.get("enabled"), current=channel.enabled)
    services.channel_set_enabled(channel=channel, enabled=enabled)
    text = (f"“{channel.title}” enabled: group syncs include it again." if enabled
            else f"“{channel.title}” disabled: group syncs leave it out until it is enabled again.")
    return _done(request, Toast(text), redirect_to=_back(request, channel))


@require_POST
@view_permission(SYNC)
def channel_sync(request, pk: int):
    channel = get_object_or_404(Channel, pk=pk)
    now = timezone.now()
    group_sync = services.channel_sync_now(channel=channel, now=now, user=request.user)
    if group_sync.jobs_created:
        live.follow(request, "group_sync", group_sync.pk, now=now)  # its end is toasted (common.live)
    toast = _sync_toast(group_sync)
    toast.message = f"{channel.title}: {toast.message}"
    return _done(request, toast, redirect_to=_back(request, channel))


@require_POST
@view_permission(CHANGE_CHANNEL)
def channel_groups(request, pk: int):
    """Join the groups ticked, leave the others; the channel and its videos stay either way."""
    channel = get_object_or_404(Channel, pk=pk)
    form = ChannelGroupsForm(request.POST)
    if not form.is_valid():
        context = {**_channel_detail_context(request, channel), "groups_form": form}
        if request.htmx:
            return render(request, "channels/_channel_groups.html", context)
        return render(request, "channels/detail.html", context)
    wanted = set(form.cleaned_data["groups"])
    current = set(channel.groups.all())
    services.channel_add_to_groups(channel=channel, groups=wanted - current)
    services.channel_remove_from_groups(channel=channel, groups=current - wanted)
    names = ", ".join(f"“{g.name}”" for g in sorted(wanted, key=lambda g: g.name))
    text = f"“{channel.title}” is now in {names}." if wanted else f"“{channel.title}” is now in no group (kept in the archive)."
    return _done(request, Toast(text), redirect_to=reverse("channel_detail", args=[pk]))


def _back(request, channel: Channel) -> str:
    """Without JavaScript, back to the page the form was on (the list or the channel's page)."""
    if request.POST.get("_from") == "detail":
        return reverse("channel_detail", args=[channel.pk])
    return reverse("channels")
