"""The QUICK_SYNC job handler: parse the job's params and sync that one channel; and how the jobs
pages name such a job (its channel and group, by title and link) and find it by those names."""

from __future__ import annotations

from collections.abc import Sequence

from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from channels import sync
from channels.models import Channel, ChannelGroup
from jobs.registry import JobHandler, PermanentJobError, Subject, register

# A search text naming more channels or groups than this finds their jobs by the first ones only:
# the ids go into the jobs' query as a list.
SEARCH_LIMIT = 500


def run_quick_sync(job) -> dict:
    params = job.params if isinstance(job.params, dict) else {}
    channel_id, group_sync_id = params.get("channel_id"), params.get("group_sync_id")
    if not isinstance(channel_id, int) or isinstance(channel_id, bool):
        raise PermanentJobError(f"channel_id: expected a channel's numeric id, got {channel_id!r}.")
    if group_sync_id is not None and (not isinstance(group_sync_id, int) or isinstance(group_sync_id, bool)):
        raise PermanentJobError(f"group_sync_id: expected a number or nothing, got {group_sync_id!r}.")
    return sync.channel_sync(channel_id=channel_id, group_sync_id=group_sync_id, now=timezone.now(), job=job,
                             clock=timezone.now)


def _id(params, key: str) -> int | None:
    value = params.get(key) if isinstance(params, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def describe_quick_syncs(jobs: Sequence) -> dict[int, list[Subject]]:
    """Each job's channel and group (the group its sync was of; none for Sync now of one channel),
    titled and linked, in two queries for any number of jobs. One deleted since keeps its id."""
    channel_ids = {pk for job in jobs if (pk := _id(job.params, "channel_id")) is not None}
    group_ids = {pk for job in jobs if (pk := _id(job.params, "group_id")) is not None}
    titles = dict(Channel.objects.filter(pk__in=channel_ids).values_list("pk", "title")) if channel_ids else {}
    names = dict(ChannelGroup.objects.filter(pk__in=group_ids).values_list("pk", "name")) if group_ids else {}
    described = {}
    for job in jobs:
        subjects = []
        if (pk := _id(job.params, "channel_id")) is not None:
            subjects.append(Subject("Channel", titles[pk], reverse("channel_detail", args=[pk])) if pk in titles
                            else Subject("Channel", f"#{pk} (deleted)"))
        if (pk := _id(job.params, "group_id")) is not None:
            subjects.append(Subject("Group", names[pk], f"{reverse('channels')}#group-{pk}") if pk in names
                            else Subject("Group", f"#{pk} (deleted)"))
        described[job.pk] = subjects
    return described


def search_quick_syncs(text: str) -> Q | None:
    """The quick syncs of the channels whose title, and of the groups whose name, holds the text."""
    channel_ids = list(Channel.objects.filter(title__icontains=text).order_by("pk")
                       .values_list("pk", flat=True)[:SEARCH_LIMIT])
    group_ids = list(ChannelGroup.objects.filter(name__icontains=text).order_by("pk")
                     .values_list("pk", flat=True)[:SEARCH_LIMIT])
    found = Q()
    if channel_ids:
        found |= Q(params__channel_id__in=channel_ids)
    if group_ids:
        found |= Q(params__group_id__in=group_ids)
    return found or None


def register_handlers() -> None:
    # Retries wait 30 s, 60 s, 120 s by default: long enough for a brief 5xx spell to pass.
    register(JobHandler(sync.JOB_TYPE, "Quick sync of a channel", run_quick_sync, time_limit_seconds=120,
                        max_retries=3, describe=describe_quick_syncs, search=search_quick_syncs))
