"""Writes to groups and channels, and starting syncs. Views, admin, commands and the task type call these."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction

from channels import messages, selectors, sync
from channels.identity import parse_channel_reference
from channels.models import Channel, ChannelGroup, ChannelSync, GroupSync, SyncOutcome
from channels.selectors import schedules_of_group
from common.actors import SYSTEM, Actor
from jobs.services import JobRequest, job_create_many
from scheduling.models import ScheduledTask, ScheduleRun
from scheduling.services import schedule_set_enabled

TASK_TYPE = selectors.TASK_TYPE


# --------------------------------------------------------------------------- groups


def group_create(*, name: str, description: str = "", now: datetime) -> ChannelGroup:
    group = ChannelGroup(name=name.strip(), description=description.strip(), created_at=now)
    group.full_clean()
    group.save()
    return group


def group_update(*, group: ChannelGroup, name: str, description: str | None = None) -> ChannelGroup:
    """Rename a group (and change its description). Its schedules keep pointing at it: they store its id."""
    group.name = name.strip()
    if description is not None:
        group.description = description.strip()
    group.full_clean()
    group.save(update_fields=["name", "description"])
    return group


def group_delete(*, group: ChannelGroup, now: datetime, actor: Actor = SYSTEM) -> list[ScheduledTask]:
    """Delete a group; its channels stay. Each enabled schedule that synced it is disabled, with the reason
    in its audit trail, rather than left failing at every window. Returns those schedules."""
    reason = messages.group_deleted_reason(group)
    with transaction.atomic():
        disabled = [schedule_set_enabled(schedule=schedule, enabled=False, now=now, actor=actor, reason=reason)
                    for schedule in schedules_of_group(group).filter(enabled=True)]
        group.delete()
    return disabled


# --------------------------------------------------------------------------- channels


def channel_add(*, reference: str, now: datetime, title: str = "",
                groups: Iterable[ChannelGroup] = ()) -> tuple[Channel, bool]:
    """Add a channel by id, channel URL or feed URL; a channel already there only joins the groups.

    Returns the channel and whether it was created. Raises ValidationError naming `youtube_id`.
    """
    try:
        youtube_id = parse_channel_reference(reference)
    except ValidationError as exc:
        raise ValidationError({"youtube_id": exc.messages}) from None
    with transaction.atomic():
        channel = Channel.objects.filter(youtube_id=youtube_id).first()
        created = channel is None
        if created:
            channel = Channel(youtube_id=youtube_id, title=title.strip() or youtube_id, created_at=now)
            channel.full_clean()
            channel.save()
        channel.groups.add(*groups)
    return channel, created


def channel_add_to_groups(*, channel: Channel, groups: Iterable[ChannelGroup]) -> None:
    channel.groups.add(*groups)


def channel_remove_from_groups(*, channel: Channel, groups: Iterable[ChannelGroup]) -> None:
    """Leave the groups; the channel and its videos stay in the archive."""
    channel.groups.remove(*groups)


def channel_set_enabled(*, channel: Channel, enabled: bool) -> Channel:
    """Only a person enables or disables a channel; a disabled one is left out of group syncs."""
    Channel.objects.filter(pk=channel.pk).update(enabled=enabled)
    channel.enabled = enabled
    return channel


def channel_set_enabled_many(*, channels, enabled: bool) -> int:
    return channels.exclude(enabled=enabled).update(enabled=enabled)


# --------------------------------------------------------------------------- syncs


def group_sync_plan(*, group: ChannelGroup, now: datetime, origin_label: str = "",
                    schedule_run: ScheduleRun | None = None) -> tuple[GroupSync, list[JobRequest]]:
    """Record a sync of the group and say its jobs: one QUICK_SYNC per enabled channel, except those
    waiting after failures (backoff) and all of them while the group cools down after a 403/429.

    The skipped channels are part of the sync's record at once; a sync with no job is finished at once.
    `schedule_run` is the run that makes it, if a schedule's does. Must run in the transaction that
    creates the jobs (the scheduler's, or Sync now's).
    """
    channels = list(group.channels.filter(enabled=True).order_by("pk"))
    cooling = group.in_cooldown(now)
    skipped, to_sync = [], []
    for channel in channels:
        if cooling:
            skipped.append(ChannelSync(channel=channel, outcome=SyncOutcome.SKIPPED_COOLDOWN, checked_at=now,
                                       settled=True, error=group.cooldown_reason))
        elif channel.in_backoff(now):
            skipped.append(ChannelSync(
                channel=channel, outcome=SyncOutcome.SKIPPED_BACKOFF, checked_at=now, settled=True,
                error=f"Waiting until {channel.next_attempt_at:%Y-%m-%d %H:%M} UTC after "
                      f"{channel.consecutive_failures} failure(s)."))
        else:
            to_sync.append(channel)
    group_sync = GroupSync.objects.create(
        group=group, group_name=group.name, origin_label=origin_label, schedule_run=schedule_run, created_at=now,
        channels_total=len(channels), jobs_created=len(to_sync),
        skipped_backoff=sum(s.outcome == SyncOutcome.SKIPPED_BACKOFF for s in skipped),
        skipped_cooldown=sum(s.outcome == SyncOutcome.SKIPPED_COOLDOWN for s in skipped),
    )
    for result in skipped:
        result.group_sync = group_sync
    ChannelSync.objects.bulk_create(skipped)
    if not to_sync:
        sync.group_sync_finish(group_sync_id=group_sync.pk, now=now)
    # followed: the group sync waits for them (sync.group_syncs_follow_jobs).
    requests = [JobRequest(sync.JOB_TYPE, {"channel_id": c.pk, "group_id": group.pk, "group_sync_id": group_sync.pk},
                           origin_label=origin_label, followed=True)
                for c in to_sync]
    return group_sync, requests


def _by(user) -> str:
    name = user.get_username() if user is not None else ""
    return f"Sync now by {name}" if name else "Sync now"


def group_sync_now(*, group: ChannelGroup, now: datetime, user=None) -> GroupSync:
    """Sync now, with or without a schedule: the group's channels, as a scheduled run would."""
    with transaction.atomic():
        group_sync, requests = group_sync_plan(group=group, now=now, origin_label=_by(user))
        job_create_many(requests=requests, now=now)
    group_sync.refresh_from_db()
    return group_sync


def channel_sync_now(*, channel: Channel, now: datetime, user=None) -> GroupSync:
    """Sync one channel now. A person asked, so its backoff is not waited for; a cool-down of one of its
    groups is (YouTube refused us; asking again only prolongs it)."""
    with transaction.atomic():
        cooling = channel.group_in_cooldown(now)
        group_sync = GroupSync.objects.create(origin_label=_by(user), created_at=now, channels_total=1, group_name="",
                                              jobs_created=0 if cooling else 1)
        if cooling is not None:
            ChannelSync.objects.create(group_sync=group_sync, channel=channel, outcome=SyncOutcome.SKIPPED_COOLDOWN,
                                       checked_at=now, settled=True, error=cooling.cooldown_reason)
            sync.group_sync_finish(group_sync_id=group_sync.pk, now=now)
        else:
            job_create_many(requests=[JobRequest(sync.JOB_TYPE, {"channel_id": channel.pk, "group_id": None,
                                                                 "group_sync_id": group_sync.pk},
                                                 origin_label=_by(user), followed=True)], now=now)
    group_sync.refresh_from_db()
    return group_sync


# --------------------------------------------------------------------------- the JSON API's writes


class SyncActiveError(Exception):
    """Sync now refused: an earlier sync of the same group or channel still has jobs queued or running."""


def group_sync_if_idle(*, group: ChannelGroup, now: datetime, user=None) -> GroupSync:
    """Sync now, unless jobs of an earlier sync of the group (Sync now or a schedule's run) are still active:
    a script that asks twice would otherwise check every channel twice. The pages leave that to the
    person, who sees the running sync on the group's card."""
    if active := selectors.active_sync_jobs_of_group(group):
        raise SyncActiveError(messages.sync_active_message(f"“{group.name}”", active))
    return group_sync_now(group=group, now=now, user=user)


def channel_sync_if_idle(*, channel: Channel, now: datetime, user=None) -> GroupSync:
    """Sync one channel now, unless a job syncing it (of any sync) is still active."""
    if active := selectors.active_sync_jobs_of_channel(channel):
        raise SyncActiveError(messages.sync_active_message(f"“{channel.title}”", active))
    return channel_sync_now(channel=channel, now=now, user=user)


def channel_update(*, channel: Channel, title: str | None = None, enabled: bool | None = None,
                   groups: Iterable[ChannelGroup] | None = None) -> Channel:
    """Change what is given, all of it or nothing: the title (empty: the id, until a sync fills in the
    channel's own, as when added), enabled, and the groups it is in (joined or left to match; the channel
    and its videos stay either way)."""
    with transaction.atomic():
        if title is not None:
            channel.title = title.strip() or channel.youtube_id
            channel.full_clean()
            Channel.objects.filter(pk=channel.pk).update(title=channel.title)
        if enabled is not None:
            channel_set_enabled(channel=channel, enabled=enabled)
        if groups is not None:
            wanted, current = set(groups), set(channel.groups.all())
            channel_add_to_groups(channel=channel, groups=wanted - current)
            channel_remove_from_groups(channel=channel, groups=current - wanted)
    return channel


def channel_delete(*, channel: Channel) -> None:
    """Delete a channel and its videos from the archive. Its jobs still queued end as failed ("no longer
    exists"); the records of past group syncs keep their counts."""
    channel.delete()
