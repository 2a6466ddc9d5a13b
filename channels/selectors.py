"""Reading groups, channels and syncs for the /channels pages, the admin and the API."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Count, IntegerField, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils.translation import ngettext

from channels.models import SKIPPED_OUTCOMES, Channel, ChannelGroup, ChannelSync, GroupSync, SyncOutcome, Video
from channels.sync import JOB_TYPE as SYNC_JOB_TYPE
from common.formatting import format_instant
from jobs.models import ACTIVE_STATUSES, Job
from scheduling.models import ScheduledTask

TASK_TYPE = "QUICK_SYNC_GROUP"
# The pages count a group's videos published this many days back as new. By publication, not by when
# a sync first saw them: a group's first sync finds up to 15 older videos per channel, which are not news.
NEW_VIDEOS_DAYS = 7
# A group's card names this many of its channels checked apart from its own syncs, then "and N more".
CHECKED_APART_SHOWN = 3
# A running sync keeps the page refreshing itself this long: one whose jobs wait for a worker
# that never comes stays unfinished, and the page stops asking after a while.
POLL_FOR = timedelta(minutes=30)


def schedules_of_group(group: ChannelGroup):
    """The quick-sync schedules that sync this group (params hold its id; older rows may hold it as text)."""
    return ScheduledTask.objects.filter(task_type=TASK_TYPE, params__group_id__in=[group.pk, str(group.pk)])


def groups_overview(*, since: datetime) -> QuerySet[ChannelGroup]:
    """Every group with `channel_count`, `enabled_count`, `new_videos_since` (videos published at or
    after `since`) and its last sync (`last_sync`, whose `.summary` says it in words)."""
    new_videos = (Video.objects.filter(channel__groups=OuterRef("pk"), published_at__gte=since)
                  .order_by().values("channel__groups").annotate(n=Count("pk")).values("n"))
    return (ChannelGroup.objects.select_related("last_sync")
            .annotate(channel_count=Count("channels", distinct=True),
                      enabled_count=Count("channels", filter=Q(channels__enabled=True), distinct=True),
                      new_videos_since=Coalesce(Subquery(new_videos, output_field=IntegerField()), 0))
            .order_by("name"))


def channel_rows() -> QuerySet[Channel]:
    """Channels with `video_count`, `newest_video_title` and `newest_video_at`, as subqueries: one query
    for every channel of every group, whatever their number (the page prefetches it per group).
    `channel_status(channel, now=...)` puts each one's state in words.

    Also which sync made the channel's latest check (a skip is no check): `last_check_group_id`,
    `last_check_group_name` ("" for a Sync now of the channel alone) and `last_check_origin`.
    """
    videos = Video.objects.filter(channel=OuterRef("pk"))
    count = videos.order_by().values("channel").annotate(n=Count("pk")).values("n")
    newest = videos.order_by("-published_at", "-pk")
    last_check = (ChannelSync.objects.filter(channel=OuterRef("pk")).exclude(outcome__in=SKIPPED_OUTCOMES)
                  .order_by("-checked_at", "-pk"))
    return Channel.objects.annotate(
        video_count=Coalesce(Subquery(count, output_field=IntegerField()), 0),
        newest_video_title=Subquery(newest.values("title")[:1]),
        newest_video_at=Subquery(newest.values("published_at")[:1]),
        last_check_group_id=Subquery(last_check.values("group_sync__group_id")[:1]),
        last_check_group_name=Subquery(last_check.values("group_sync__group_name")[:1]),
        last_check_origin=Subquery(last_check.values("group_sync__origin_label")[:1]),
    ).order_by("title", "pk")


def channel_newest_videos(*, channel: Channel, limit: int = 30) -> QuerySet[Video]:
    return channel.videos.order_by("-published_at")[:limit]


def channel_status(channel: Channel, *, now: datetime) -> str:
    """A channel's state in words, for the pages: never disabled automatically, so it says why it waits."""
    if not channel.enabled:
        return "Disabled (left out of group syncs)"
    if channel.last_checked_at is None:
        return "Not synced yet"
    text = SyncOutcome(channel.last_outcome).label if channel.last_outcome else "Checked"
    if channel.last_outcome == SyncOutcome.SYNCED:
        text = f"Synced: {channel.last_new_count} new, {channel.last_updated_count} updated"
    if channel.consecutive_failures:
        failures = channel.consecutive_failures
        text += "; " + ngettext("%d failure in a row", "%d failures in a row", failures) % failures
    if channel.in_backoff(now):
        text += f"; next try after {format_instant(channel.next_attempt_at)}"
    return text


def channel_syncing(*, channel: Channel, live: Q) -> bool:
    """A sync job of this channel is live (`live`: jobs.selectors.live_jobs): its page keeps watching."""
    return Job.objects.filter(live, job_type=SYNC_JOB_TYPE, params__channel_id=channel.pk).exists()


def group_id_of(schedule: ScheduledTask) -> int | None:
    """The group a quick-sync schedule syncs, as stored in its params (None if they hold no id)."""
    try:
        return int(schedule.params.get("group_id"))
    except (TypeError, ValueError):
        return None


def checked_apart(group: ChannelGroup) -> list[Channel]:
    """The group's channels checked after its last sync finished by something other than a sync of
    this group (a Sync now of the channel alone, a sync of another group it is in), newest first: the
    card's "Last sync" must not read older than the channels it shows. Needs `group.channel_rows`."""
    after = group.last_sync.finished_at if group.last_sync and group.last_sync.finished_at else None
    rows = [channel for channel in group.channel_rows
            if channel.last_checked_at is not None and channel.last_check_group_id != group.pk
            and (after is None or channel.last_checked_at > after)]
    return sorted(rows, key=lambda channel: channel.last_checked_at, reverse=True)


def _with_status(channels, *, now: datetime):
    for channel in channels:
        channel.status_text = channel_status(channel, now=now)
    return channels


def groups_page(*, now: datetime) -> dict:
    """Every group with its channels, schedules and syncs, in a fixed number of queries."""
    since = now - timedelta(days=NEW_VIDEOS_DAYS)
    groups = list(groups_overview(since=since)
                  .prefetch_related(Prefetch("channels", queryset=channel_rows(), to_attr="channel_rows")))
    schedules: dict[int, list[ScheduledTask]] = {}
    for schedule in ScheduledTask.objects.filter(task_type=TASK_TYPE).order_by("name", "pk"):
        schedules.setdefault(group_id_of(schedule), []).append(schedule)
    running: dict[int, GroupSync] = {}
    for group_sync in GroupSync.objects.filter(group__in=groups, finished_at__isnull=True).order_by("created_at", "pk"):
        running[group_sync.group_id] = group_sync  # the newest one wins
    for group in groups:
        group.schedules = schedules.get(group.pk, [])
        group.running_sync = running.get(group.pk)
        group.cooling = group.in_cooldown(now)
        _with_status(group.channel_rows, now=now)
        apart = checked_apart(group)
        group.checked_apart, group.checked_apart_more = apart[:CHECKED_APART_SHOWN], len(apart[CHECKED_APART_SHOWN:])
    ungrouped = _with_status(list(channel_rows().filter(groups=None)), now=now)
    # A sync whose jobs wait for a worker that never comes stays unfinished: stop asking after a while.
    polling = any(group.running_sync and group.running_sync.created_at > now - POLL_FOR for group in groups)
    return {"groups": groups, "ungrouped": ungrouped, "now": now, "new_videos_days": NEW_VIDEOS_DAYS,
            "polling": polling}


def group_delete_preview(*, group: ChannelGroup) -> dict:
    """What deleting the group will do, before it is done: which schedules get disabled, which channels
    are left in no group (they stay in the archive)."""
    schedules = list(schedules_of_group(group).order_by("name"))
    enabled = [s for s in schedules if s.enabled]
    # Counted before the join to this group: annotating group.channels would count only that join.
    alone = Channel.objects.annotate(n=Count("groups")).filter(groups=group, n=1).count()
    parts = []
    if enabled:
        names = ", ".join(f"“{s.name}”" for s in enabled)
        its = ngettext("its schedule", "its schedules", len(enabled))
        parts.append(f"Deleting “{group.name}” disables {its} {names}, which would have nothing to sync.")
    if alone:
        parts.append(ngettext("%d channel will be in no group (kept, with its videos).",
                              "%d channels will be in no group (kept, with their videos).", alone) % alone)
    return {"schedules": schedules, "schedules_disabled": enabled, "message": " ".join(parts)}


# --- /metrics: aggregates in a fixed number of queries, whatever the number of rows ------------------


def channel_counts() -> list[dict]:
    """Channels by enabled and the outcome of their last check ("" before the first): [{enabled, last_outcome,
    count}]."""
    return list(Channel.objects.order_by().values("enabled", "last_outcome").annotate(count=Count("pk")))


def group_counts(*, now: datetime) -> dict[str, int]:
    """Channel groups: how many, how many whose last finished sync was a feed outage, how many cooling down."""
    return ChannelGroup.objects.aggregate(total=Count("pk"), last_sync_outage=Count("pk", filter=Q(last_sync__outage=True)),
                                          cooling_down=Count("pk", filter=Q(cooldown_until__gt=now)))


# --- the JSON API (channels.api): lists with their filters, in a fixed number of queries -------------

# A channel's state in one word, for scripts: the API's `status` of a channel, and its filter. Exactly
# one applies, tried in this order (a disabled channel is "disabled" whatever its failures).
CHANNEL_STATES = {
    "disabled": "left out of group syncs by a person",
    "never_synced": "enabled, not checked yet",
    "backoff": "its last checks failed; group syncs skip it until next_attempt_at",
    "failing": "its last checks failed; its wait is over, the next sync tries again",
    "ok": "enabled, and its last check was not a failure of its own (a feed outage is not)",
}


def channel_state(channel: Channel, *, now: datetime) -> str:
    """The word of CHANNEL_STATES that applies to the channel (the one `channels_api_list(state=...)` finds it by)."""
    if not channel.enabled:
        return "disabled"
    if channel.last_checked_at is None:
        return "never_synced"
    if channel.in_backoff(now):
        return "backoff"
    if channel.consecutive_failures:
        return "failing"
    return "ok"


def _state_q(state: str, *, now: datetime) -> Q:
    enabled, checked = Q(enabled=True), Q(last_checked_at__isnull=False)
    backoff = Q(next_attempt_at__gt=now)
    return {
        "disabled": Q(enabled=False),
        "never_synced": enabled & Q(last_checked_at__isnull=True),
        "backoff": enabled & checked & backoff,
        "failing": enabled & checked & ~backoff & Q(consecutive_failures__gt=0),
        "ok": enabled & checked & ~backoff & Q(consecutive_failures=0),
    }[state]


def channels_api_list(*, now: datetime, group_id: int | None = None, state: str | None = None,
                      last_outcome: str | None = None, youtube_id: str | None = None) -> QuerySet[Channel]:
    """Channels with their counts (as `channel_rows`) and groups, filtered; the caller orders and pages."""
    channels = channel_rows().prefetch_related(Prefetch("groups", queryset=ChannelGroup.objects.order_by("pk")))
    if group_id is not None:
        channels = channels.filter(groups=group_id)
    if state is not None:
        channels = channels.filter(_state_q(state, now=now))
    if last_outcome is not None:
        channels = channels.filter(last_outcome="" if last_outcome == "none" else last_outcome)
    if youtube_id is not None:
        channels = channels.filter(youtube_id=youtube_id)
    return channels


def groups_api_list(*, name: str | None = None) -> QuerySet[ChannelGroup]:
    """Groups with `channel_count`, `enabled_count` and their last sync; `name` matches case-insensitively."""
    groups = (ChannelGroup.objects.select_related("last_sync")
              .annotate(channel_count=Count("channels", distinct=True),
                        enabled_count=Count("channels", filter=Q(channels__enabled=True), distinct=True)))
    if name is not None:
        groups = groups.filter(name__iexact=name)
    return groups


def groups_with_schedules_and_syncs(groups: list[ChannelGroup]) -> list[ChannelGroup]:
    """Sets `schedules` (the quick-sync schedules that sync each group) and `running_sync` (its newest sync
    not finished yet, or None) on each group: two queries, whatever the number of groups."""
    schedules: dict[int | None, list[ScheduledTask]] = {}
    for schedule in ScheduledTask.objects.filter(task_type=TASK_TYPE).order_by("name", "pk"):
        schedules.setdefault(group_id_of(schedule), []).append(schedule)
    running: dict[int, GroupSync] = {}
    for group_sync in GroupSync.objects.filter(group__in=[g.pk for g in groups], finished_at__isnull=True
                                               ).order_by("created_at", "pk"):
        running[group_sync.group_id] = group_sync  # the newest one wins
    for group in groups:
        group.schedules = schedules.get(group.pk, [])
        group.running_sync = running.get(group.pk)
    return groups


def channel_videos(*, channel: Channel, is_short: bool | None = None,
                   published_since: datetime | None = None) -> QuerySet[Video]:
    """A channel's videos, filtered; the caller orders and pages them (newest first: the
    (channel, -published_at) index serves it)."""
    videos = Video.objects.filter(channel=channel)
    if is_short is not None:
        videos = videos.filter(is_short=is_short)
    if published_since is not None:
        videos = videos.filter(published_at__gte=published_since)
    return videos


def active_sync_jobs_of_group(group: ChannelGroup) -> int:
    """Quick-sync jobs of the group still queued, running or waiting to retry (a schedule's run or Sync now)."""
    return _active_sync_jobs().filter(params__group_id=group.pk).count()


def active_sync_jobs_of_channel(channel: Channel) -> int:
    """Quick-sync jobs of the channel still queued, running or waiting to retry, whichever sync made them."""
    return _active_sync_jobs().filter(params__channel_id=channel.pk).count()


def _active_sync_jobs():
    # The (job_type, status) index narrows this to the few active jobs before the JSON is read.
    return Job.objects.filter(job_type=SYNC_JOB_TYPE, status__in=ACTIVE_STATUSES)
