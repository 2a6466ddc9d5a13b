"""The JSON API for channel groups, channels, their videos and Sync now: `/api/channels...`.

The same frame as `/api/schedules` (core.api assembles it): model permissions, the error shape,
keyset pages. Input is checked by the forms the /channels pages use, so every entrance gives the
same message, and every write goes through channels.services.

- Groups need `channels.*_channelgroup`; channels `channels.*_channel`; a channel's videos
  `channels.view_video`. Sync now, of a group or of one channel, needs `channels.change_channelgroup`,
  as on the pages: it starts the jobs a group's schedule would.
- A channel's groups are the PATCH field `groups` (the whole list, as the page's "Member of" boxes):
  the field a GET shows is the one a PATCH sends back, and one PATCH changes the title, the switch
  and the groups together or not at all.
- Sync now answers 409 when it has nothing to do (the pages' warning toast, in the same words), and
  while jobs of an earlier sync of the same group or channel are unfinished: a script that asks
  twice would otherwise check every channel twice. `{"force": true}` syncs anyway. (The pages let
  a person click again: the group's card shows the sync at work.)
- Videos come newest first by publication (a keyset on `published_at` and `id`, the order of
  the (channel, -published_at) index): a page boundary holds while newer videos arrive.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from typing import Annotated
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from ninja import Field, Path, Query, Router, Schema, Status
from pydantic import ConfigDict, StrictBool, StrictInt

from channels import selectors, services
from channels.forms import ChannelAddForm, ChannelGroupForm, ChannelGroupsForm
from channels.identity import ACCEPTED_FORMS
from channels.messages import sync_now_message
from channels.models import Channel, ChannelGroup, GroupSync, SyncOutcome, Video
from channels.sync import sync_jobs
from common.actors import api_actor
from common.api import (
    MAX_ID,
    ApiError,
    Instant,
    PageLinks,
    PageQuery,
    Text,
    error_responses,
    errors_of,
    paginate,
    refuse_unknown_query,
    require_permission,
)
from jobs.selectors import no_worker_note

UTC = dt.timezone.utc

router = Router(tags=["channels"])

VIEW_GROUP = "channels.view_channelgroup"
ADD_GROUP = "channels.add_channelgroup"
CHANGE_GROUP = "channels.change_channelgroup"
DELETE_GROUP = "channels.delete_channelgroup"
SYNC = CHANGE_GROUP  # as on the pages (channels.views.SYNC)
VIEW_CHANNEL = "channels.view_channel"
ADD_CHANNEL = "channels.add_channel"
CHANGE_CHANNEL = "channels.change_channel"
DELETE_CHANNEL = "channels.delete_channel"
VIEW_VIDEO = "channels.view_video"

MAX_GROUPS = 1000  # ids in one `groups` list: more than anyone has, few enough to check in one query

GroupId = Annotated[int, Path(ge=1, le=MAX_ID)]
ChannelId = Annotated[int, Path(ge=1, le=MAX_ID)]
AnId = Annotated[StrictInt, Field(ge=1, le=MAX_ID)]


def _enum(values) -> dict:
    return {"enum": list(values)}


# --- schemas: groups ---------------------------------------------------------------------------------

class GroupFields(Schema):
    """A group's editable fields; PATCH changes only those it sends."""

    model_config = ConfigDict(extra="forbid")

    name: Text = Field(None, description="Unique; at most 100 characters.", examples=["News"])
    description: Text = Field(None, description="What the group is for (optional).", examples=["Daily news"])


class GroupCreate(GroupFields):
    name: Text = Field(description="Unique; at most 100 characters.", examples=["News"])


class GroupScheduleOut(Schema):
    id: int
    name: str
    description: str = Field(description="The schedule in words, e.g. “Every day at 05:30 (UTC)”.")
    enabled: bool
    next_run_at: dt.datetime | None
    url: str = Field(description="The schedule in the API.")


class SyncOut(Schema):
    id: int
    created_at: dt.datetime
    finished_at: dt.datetime | None = Field(description="Null while its jobs are still queued or running.")
    origin: str = Field(description="What started it, e.g. “Sync now by alice”.")
    summary: str = Field(description="What it did, in words: “3 synced, 1 failed, 5 new videos.”")
    jobs_created: int
    channels_total: int
    synced: int
    failed: int
    skipped: int = Field(description="Channels left out: waiting after failures, or the group's cool-down.")
    new_videos: int
    outage: bool = Field(description="Judged a YouTube feed outage: failures not counted against the channels.")


class GroupOut(Schema):
    id: int
    name: str
    description: str
    created_at: dt.datetime
    channel_count: int
    enabled_count: int = Field(description="Channels a sync of the group checks.")
    schedules: list[GroupScheduleOut] = Field(description="The quick-sync schedules that sync this group.")
    last_sync: SyncOut | None = Field(description="Its newest finished sync.")
    running_sync: SyncOut | None = Field(description="Its newest sync still running, if any.")
    cooldown_until: dt.datetime | None = Field(description="YouTube refused (403/429): its syncs skip every "
                                               "channel until then.")
    cooldown_reason: str


class GroupPage(PageLinks):
    items: list[GroupOut]


class GroupFilters(PageQuery):
    name: Text | None = Field(None, description="The group of this name (case-insensitive).")


# --- schemas: channels -------------------------------------------------------------------------------

GroupIds = Annotated[list[AnId], Field(max_length=MAX_GROUPS)]


class ChannelCreate(Schema):
    model_config = ConfigDict(extra="forbid")

    reference: Text = Field(description=f"Which channel: {ACCEPTED_FORMS}.",
                            examples=["https://www.youtube.com/channel/UCq1w2e3r4t5y6u7i8o9p0aZ"])
    title: Text = Field("", description="Optional, at most 200 characters: the first sync fills in "
                        "the channel's own title.")
    groups: GroupIds = Field([], description="Ids of the groups it joins. A channel already in the archive is not "
                             "added again: it joins these groups (HTTP 200 instead of 201).", examples=[[1]])


class ChannelFields(Schema):
    """A channel's editable fields; PATCH changes only those it sends, all of them or none."""

    model_config = ConfigDict(extra="forbid")

    title: Text = Field(None, description="At most 200 characters; empty: the channel id, until a "
                        "sync fills in the channel's own title.")
    enabled: StrictBool = Field(None, description="A disabled channel is left out of group syncs.")
    groups: GroupIds = Field(None, description="The groups it is in, as a whole: it joins those listed and leaves "
                             "the others (it stays in the archive with its videos either way).", examples=[[1, 3]])


class ChannelOut(Schema):
    id: int
    youtube_id: str
    title: str
    youtube_url: str
    enabled: bool
    groups: list[int] = Field(description="Ids of its groups.")
    group_names: list[str]
    status: str = Field(description="; ".join(f"“{key}”: {text}" for key, text in selectors.CHANNEL_STATES.items()),
                        json_schema_extra=_enum(selectors.CHANNEL_STATES))
    status_text: str = Field(description="Its state in words, as the pages say it: “Feed not found (HTTP 404); "
                             "1 failure in a row; next try after 2026-03-26 13:00 UTC”.")
    created_at: dt.datetime
    last_checked_at: dt.datetime | None
    last_success_at: dt.datetime | None
    last_outcome: str | None = Field(json_schema_extra=_enum([*SyncOutcome.values, None]))
    last_http_status: int | None
    last_new_count: int
    last_error: str
    consecutive_failures: int
    next_attempt_at: dt.datetime | None = Field(description="While it backs off: group syncs skip it until then.")
    video_count: int
    newest_video_at: dt.datetime | None


class ChannelPage(PageLinks):
    items: list[ChannelOut]


class ChannelFilters(PageQuery):
    group: int | None = Field(None, ge=1, le=MAX_ID, description="Only the channels of this group (its id).")
    status: Text | None = Field(None, json_schema_extra=_enum(selectors.CHANNEL_STATES),
                                description="Only channels with this `status`.")
    last_outcome: Text | None = Field(None, json_schema_extra=_enum([*SyncOutcome.values, "none"]),
                                      description="Only channels whose last check went so; `none`: never checked.")
    youtube_id: Text | None = Field(None, description="The channel with this YouTube id.")


class VideoOut(Schema):
    id: int
    youtube_id: str
    title: str
    description: str
    url: str
    thumbnail_url: str
    published_at: dt.datetime
    is_short: bool | None = Field(description="A Short; null when the feed does not say.")
    view_count: int | None
    first_seen_at: dt.datetime


class VideoPage(PageLinks):
    items: list[VideoOut]
    next: str | None = Field(description="The next (older) page's URL; null on the last page.")
    previous: str | None = Field(description="The previous (newer) page's URL; null on the first page.")


class VideoFilters(PageQuery):
    is_short: bool | None = None
    published_since: Instant | None = Field(None, description="Only videos published at or after this instant "
                                                  "(ISO-8601 with an offset).")


# --- schemas: Sync now --------------------------------------------------------------------------------

class SyncIn(Schema):
    model_config = ConfigDict(extra="forbid")

    force: StrictBool = Field(False, description="Sync even while jobs of an earlier sync are queued or running.")


class SyncJobOut(Schema):
    id: int
    status: str
    channel_id: int | None
    url: str = Field(description="The job's page.")
    api_url: str = Field(description="The job in the API (GET /api/jobs/<id>).")


class SyncNowOut(Schema):
    message: str = Field(description="What happened, in words.")
    sync: SyncOut
    jobs: list[SyncJobOut] = Field(description="The jobs created: one per channel checked.")


# --- output --------------------------------------------------------------------------------------------

def _utc(value: dt.datetime | None) -> dt.datetime | None:
    return value.astimezone(UTC) if value is not None else None


def sync_out(group_sync: GroupSync | None) -> dict | None:
    if group_sync is None:
        return None
    return {"id": group_sync.pk, "created_at": _utc(group_sync.created_at), "finished_at": _utc(group_sync.finished_at),
            "origin": group_sync.origin_label, "summary": group_sync.summary, "jobs_created": group_sync.jobs_created,
            "channels_total": group_sync.channels_total, "synced": group_sync.synced, "failed": group_sync.failed,
            "skipped": group_sync.skipped, "new_videos": group_sync.new_videos, "outage": group_sync.outage}


def groups_out(request, groups: list[ChannelGroup]) -> list[dict]:
    """Groups from `selectors.groups_api_list`, with their schedules and running syncs (two queries)."""
    return [{
        "id": group.pk, "name": group.name, "description": group.description, "created_at": _utc(group.created_at),
        "channel_count": group.channel_count, "enabled_count": group.enabled_count,
        "schedules": [{"id": s.pk, "name": s.name, "description": s.describe(), "enabled": s.enabled,
                       "next_run_at": _utc(s.next_run_at),
                       "url": request.build_absolute_uri(f"{_api_root()}schedules/{s.pk}")} for s in group.schedules],
        "last_sync": sync_out(group.last_sync), "running_sync": sync_out(group.running_sync),
        "cooldown_until": _utc(group.cooldown_until), "cooldown_reason": group.cooldown_reason,
    } for group in selectors.groups_with_schedules_and_syncs(groups)]


def channel_out(channel: Channel, *, now: dt.datetime) -> dict:
    """A channel from `selectors.channels_api_list` (its counts annotated, its groups prefetched)."""
    groups = list(channel.groups.all())
    return {
        "id": channel.pk, "youtube_id": channel.youtube_id, "title": channel.title,
        "youtube_url": channel.youtube_url, "enabled": channel.enabled,
        "groups": [group.pk for group in groups], "group_names": [group.name for group in groups],
        "status": selectors.channel_state(channel, now=now),
        "status_text": selectors.channel_status(channel, now=now),
        "created_at": _utc(channel.created_at), "last_checked_at": _utc(channel.last_checked_at),
        "last_success_at": _utc(channel.last_success_at), "last_outcome": channel.last_outcome or None,
        "last_http_status": channel.last_http_status, "last_new_count": channel.last_new_count,
        "last_error": channel.last_error, "consecutive_failures": channel.consecutive_failures,
        "next_attempt_at": _utc(channel.next_attempt_at), "video_count": channel.video_count,
        "newest_video_at": _utc(channel.newest_video_at),
    }


def _api_root() -> str:
    return reverse("api:api-root")


# --- input ---------------------------------------------------------------------------------------------

def get_group(group_id: int, groups: QuerySet[ChannelGroup] | None = None) -> ChannelGroup:
    try:
        return (groups if groups is not None else ChannelGroup.objects).get(pk=group_id)
    except ChannelGroup.DoesNotExist:
        raise ApiError(404, {"id": [f"No channel group with id {group_id}."]}) from None


def get_channel(channel_id: int, channels: QuerySet[Channel] | None = None) -> Channel:
    try:
        return (channels if channels is not None else Channel.objects).get(pk=channel_id)
    except Channel.DoesNotExist:
        raise ApiError(404, {"id": [f"No channel with id {channel_id}."]}) from None


def group_answer(request, group_id: int) -> dict:
    """The group as every answer shows it, read again (its counts, schedules and syncs)."""
    return groups_out(request, [get_group(group_id, selectors.groups_api_list())])[0]


def channel_answer(channel_id: int) -> dict:
    """The channel as every answer shows it, read again (its counts, groups and state now)."""
    now = timezone.now()
    return channel_out(get_channel(channel_id, selectors.channels_api_list(now=now)), now=now)


def _form_errors(form) -> ApiError:
    """A page form's errors as the API's 400: the same messages the page shows."""
    return ApiError(400, {field: list(messages) for field, messages in form.errors.items()})


def _checked(form):
    if not form.is_valid():
        raise _form_errors(form)
    return form.cleaned_data


# --- endpoints: groups -----------------------------------------------------------------------------------
# They come before "/{channel_id}": Django tries the paths in order, and "channel_groups" would
# otherwise be taken for a channel's id.

@router.get("/channel_groups", response={200: GroupPage, **error_responses()})
def group_list(request, filters: Query[GroupFilters]):
    """Channel groups by id, a page at a time (keyset: follow `next`), each with its schedules and syncs."""
    require_permission(request, VIEW_GROUP)
    page = paginate(request, selectors.groups_api_list(name=filters.name), filters)
    return {**page, "items": groups_out(request, page["items"])}


@router.post("/channel_groups", response={201: GroupOut, **error_responses(415)})
def group_create(request, payload: GroupCreate):
    require_permission(request, ADD_GROUP)
    data = _checked(ChannelGroupForm(data={"description": "", **payload.model_dump(exclude_unset=True)}))
    try:
        group = services.group_create(name=data["name"], description=data["description"], now=timezone.now())
    except ValidationError as exc:
        raise errors_of(exc) from exc
    return Status(201, group_answer(request, group.pk))


@router.get("/channel_groups/{group_id}", response={200: GroupOut, **error_responses(404)})
def group_detail(request, group_id: GroupId):
    require_permission(request, VIEW_GROUP)
    return group_answer(request, group_id)


@router.patch("/channel_groups/{group_id}", response={200: GroupOut, **error_responses(404, 415)})
def group_update(request, group_id: GroupId, payload: GroupFields):
    """Rename the group or change its description; its schedules keep syncing it (they hold its id)."""
    require_permission(request, CHANGE_GROUP)
    group = get_group(group_id)
    sent = payload.model_dump(exclude_unset=True)
    # The form checks its own copy: a refused rename leaves `group` as it was.
    form = ChannelGroupForm(data={"name": group.name, "description": group.description, **sent},
                            instance=ChannelGroup.objects.get(pk=group.pk))
    data = _checked(form)
    try:
        services.group_update(group=group, name=data["name"], description=data["description"])
    except ValidationError as exc:
        raise errors_of(exc) from exc
    return group_answer(request, group.pk)


@router.delete("/channel_groups/{group_id}", response={204: None, **error_responses(404)})
def group_delete(request, group_id: GroupId):
    """Delete the group; its channels and their videos stay. Its enabled schedules are disabled (nothing left
    to sync), with the reason in their audit trail."""
    require_permission(request, DELETE_GROUP)
    services.group_delete(group=get_group(group_id), now=timezone.now(), actor=api_actor(request))
    return Status(204, None)


@router.post("/channel_groups/{group_id}/sync", response={200: SyncNowOut, **error_responses(404, 409, 415)})
def group_sync(request, group_id: GroupId, payload: SyncIn | None = None):
    """Sync now: one job per enabled channel of the group, as its schedule's run would. 409 when there is
    nothing to sync (no enabled channel; all waiting after failures or in the group's cool-down), and
    while jobs of an earlier sync of the group are queued or running, unless `{"force": true}`."""
    require_permission(request, SYNC)
    group = get_group(group_id)
    force = payload.force if payload is not None else False
    user, now = api_actor(request).user, timezone.now()
    try:
        group_sync = (services.group_sync_now(group=group, now=now, user=user) if force
                      else services.group_sync_if_idle(group=group, now=now, user=user))
    except services.SyncActiveError as exc:
        raise ApiError(409, {"__all__": [f'{exc} Send {{"force": true}} to sync anyway.']}) from exc
    return _sync_answer(request, group_sync)


def _sync_answer(request, group_sync: GroupSync, *, prefix: str = "") -> dict:
    message = prefix + sync_now_message(group_sync)
    if not group_sync.jobs_created:  # recorded (the page shows it too), but nothing to do
        raise ApiError(409, {"__all__": [message]})
    jobs = list(sync_jobs(group_sync.pk).order_by("pk"))
    return {
        "message": " ".join(filter(None, [message, no_worker_note()])),
        "sync": sync_out(group_sync),
        "jobs": [{"id": job.pk, "status": job.status, "channel_id": job.params.get("channel_id"),
                  "url": request.build_absolute_uri(reverse("job_detail", args=[job.pk])),
                  "api_url": request.build_absolute_uri(f"{_api_root()}jobs/{job.pk}")} for job in jobs],
    }


# --- endpoints: channels ---------------------------------------------------------------------------------

@router.get("", response={200: ChannelPage, **error_responses()})
def channel_list(request, filters: Query[ChannelFilters]):
    """Channels by id, a page at a time, with their status, groups and video counts."""
    require_permission(request, VIEW_CHANNEL)
    now = timezone.now()
    errors = {}
    if filters.status is not None and filters.status not in selectors.CHANNEL_STATES:
        errors["status"] = [f"Choose one of: {', '.join(selectors.CHANNEL_STATES)}."]
    if filters.last_outcome is not None and filters.last_outcome not in [*SyncOutcome.values, "none"]:
        errors["last_outcome"] = [f"Choose one of: {', '.join([*SyncOutcome.values, 'none'])}."]
    if errors:
        raise ApiError(400, errors)
    channels = selectors.channels_api_list(now=now, group_id=filters.group, state=filters.status,
                                           last_outcome=filters.last_outcome, youtube_id=filters.youtube_id)
    page = paginate(request, channels, filters)
    return {**page, "items": [channel_out(channel, now=now) for channel in page["items"]]}


@router.post("", response={200: ChannelOut, 201: ChannelOut, **error_responses(415)})
def channel_add(request, payload: ChannelCreate):
    """Add a channel by its id, channel URL or feed URL (201). One already in the archive only joins the
    groups given (200). Its title and videos come with its first sync."""
    require_permission(request, ADD_CHANNEL)
    data = _checked(ChannelAddForm(data=payload.model_dump()))
    now = timezone.now()
    try:
        channel, created = services.channel_add(reference=data["reference"], now=now, title=data["title"],
                                                groups=list(data["groups"]))
    except ValidationError as exc:
        raise errors_of(exc, rename={"youtube_id": "reference"}) from exc
    return Status(201 if created else 200, channel_answer(channel.pk))


@router.get("/{channel_id}", response={200: ChannelOut, **error_responses(404)})
def channel_detail(request, channel_id: ChannelId):
    require_permission(request, VIEW_CHANNEL)
    return channel_answer(channel_id)


@router.patch("/{channel_id}", response={200: ChannelOut, **error_responses(404, 415)})
def channel_update(request, channel_id: ChannelId, payload: ChannelFields):
    """Change the title, the switch or the groups sent; all of them or, if one is invalid, none."""
    require_permission(request, CHANGE_CHANNEL)
    channel = get_channel(channel_id)
    sent = payload.model_dump(exclude_unset=True)
    groups = None
    if "groups" in sent:
        groups = list(_checked(ChannelGroupsForm(data={"groups": sent["groups"]}))["groups"])
    try:
        services.channel_update(channel=channel, title=sent.get("title"), enabled=sent.get("enabled"), groups=groups)
    except ValidationError as exc:
        raise errors_of(exc) from exc
    return channel_answer(channel.pk)


@router.delete("/{channel_id}", response={204: None, **error_responses(404)})
def channel_delete(request, channel_id: ChannelId):
    """Delete the channel and its videos from the archive (leaving its groups)."""
    require_permission(request, DELETE_CHANNEL)
    services.channel_delete(channel=get_channel(channel_id))
    return Status(204, None)


@router.post("/{channel_id}/sync", response={200: SyncNowOut, **error_responses(404, 409, 415)})
def channel_sync(request, channel_id: ChannelId, payload: SyncIn | None = None):
    """Sync this channel now, even while it waits after failures (a person asked); 409 while one of its
    groups cools down after YouTube refused, and while a job syncing it is queued or running, unless
    `{"force": true}`."""
    require_permission(request, SYNC)
    channel = get_channel(channel_id)
    force = payload.force if payload is not None else False
    user, now = api_actor(request).user, timezone.now()
    try:
        group_sync = (services.channel_sync_now(channel=channel, now=now, user=user) if force
                      else services.channel_sync_if_idle(channel=channel, now=now, user=user))
    except services.SyncActiveError as exc:
        raise ApiError(409, {"__all__": [f'{exc} Send {{"force": true}} to sync anyway.']}) from exc
    return _sync_answer(request, group_sync, prefix=f"{channel.title}: ")


@router.get("/{channel_id}/videos", response={200: VideoPage, **error_responses(404)})
def channel_videos(request, channel_id: ChannelId, filters: Query[VideoFilters]):
    """The channel's videos, newest first by publication, a page at a time (keyset: follow `next`)."""
    require_permission(request, VIEW_VIDEO)
    videos = selectors.channel_videos(channel=get_channel(channel_id), is_short=filters.is_short,
                                      published_since=filters.published_since)
    page = newest_first_page(request, videos, filters)
    return {**page, "items": [video_out(video) for video in page["items"]]}


def video_out(video: Video) -> dict:
    return {"id": video.pk, "youtube_id": video.youtube_id, "title": video.title, "description": video.description,
            "url": video.safe_url, "thumbnail_url": video.safe_thumbnail_url, "published_at": _utc(video.published_at),
            "is_short": video.is_short, "view_count": video.view_count, "first_seen_at": _utc(video.first_seen_at)}


# --- a keyset page, newest first ---------------------------------------------------------------------------

def _bad_cursor() -> ApiError:
    return ApiError(400, {"cursor": ["Not a cursor of this list: follow the `next` or `previous` link as given, "
                                     "or leave `cursor` out for the first page."]})


def newest_first_page(request, queryset: QuerySet, page: PageQuery, *, field: str = "published_at") -> dict:
    """One page of `queryset` ordered by (`field`, id), newest first: the shape of `common.api.paginate`.

    `common.api.paginate` keys on the id alone; a video's id says when the archive found it, not when it
    was published (one sync inserts a feed's 15 videos together), so this keys on both: a cursor holds the
    (instant, id) of the row it follows, and the next page is what comes strictly after it in that order.
    No count, no offset: a page boundary holds while rows are added or removed.
    """
    refuse_unknown_query(request, [field.alias or name for name, field in type(page).model_fields.items()])
    position = _decode(page.cursor)
    newest_first = (f"-{field}", "-id")
    if position is None:
        rows, backwards = queryset.order_by(*newest_first), False
    else:
        at, pk, backwards = position
        older = Q(**{f"{field}__lt": at}) | Q(**{field: at, "id__lt": pk})
        newer = Q(**{f"{field}__gt": at}) | Q(**{field: at, "id__gt": pk})
        rows = (queryset.filter(newer).order_by(field, "id") if backwards
                else queryset.filter(older).order_by(*newest_first))
    items = list(rows[:page.limit + 1])
    more = len(items) > page.limit
    items = items[:page.limit]
    if backwards:
        items.reverse()
    has_next = bool(items) and (more if not backwards else True)
    has_previous = bool(items) and (position is not None if not backwards else more)
    url = request.build_absolute_uri()
    return {
        "items": items,
        "next": _link(url, items[-1], field, backwards=False) if has_next else None,
        "previous": _link(url, items[0], field, backwards=True) if has_previous else None,
    }


def _link(url: str, row, field: str, *, backwards: bool) -> str:
    cursor = urlencode({"t": getattr(row, field).astimezone(UTC).isoformat(), "i": row.pk, "r": int(backwards)})
    scheme, netloc, path, query, fragment = urlsplit(url)
    params = {key: values for key, values in parse_qs(query, keep_blank_values=True).items() if key != "cursor"}
    params["cursor"] = [base64.urlsafe_b64encode(cursor.encode()).decode()]
    return urlunsplit((scheme, netloc, path, urlencode(sorted(params.items()), doseq=True), fragment))


def _decode(cursor: str | None) -> tuple[dt.datetime, int, bool] | None:
    if not cursor:
        return None
    try:
        fields = parse_qs(base64.urlsafe_b64decode(cursor.encode("ascii")).decode("ascii"), strict_parsing=True)
        [at], [pk], [backwards] = fields["t"], fields["i"], fields["r"]
        instant = dt.datetime.fromisoformat(at)
    except (ValueError, KeyError, UnicodeError, binascii.Error):
        raise _bad_cursor() from None
    if (set(fields) != {"t", "i", "r"} or instant.tzinfo is None or not (pk.isascii() and pk.isdigit())
            or not 1 <= int(pk) <= MAX_ID or backwards not in ("0", "1")):
        raise _bad_cursor()
    return instant, int(pk), backwards == "1"
