"""The QUICK_SYNC_GROUP task type: one run creates a QUICK_SYNC job per enabled channel of a group."""

import re

from django.core.exceptions import ValidationError

from channels.models import Channel, ChannelGroup
from jobs.services import JobRequest
from scheduling import registry

TASK_TYPE = "QUICK_SYNC_GROUP"
JOB_TYPE = "QUICK_SYNC"


def clean_params(params: dict) -> dict:
    registry.reject_unknown_params(params, {"group_id"})
    group_id = params.get("group_id")
    if group_id in (None, ""):
        raise ValidationError("group_id: choose the channel group to sync.")
    if isinstance(group_id, str) and re.fullmatch(r"[0-9]{1,18}", group_id.strip()):
        group_id = int(group_id)  # form and query-string input (ASCII digits only: int("²") fails)
    if isinstance(group_id, bool) or not isinstance(group_id, int):
        raise ValidationError("group_id: must be the numeric id of a channel group.")
    if not ChannelGroup.objects.filter(pk=group_id).exists():
        raise ValidationError(f"group_id: no channel group with id {group_id}.")
    return {"group_id": group_id}


def job_requests(schedule) -> list[JobRequest]:
    group_id = schedule.params["group_id"]
    if not ChannelGroup.objects.filter(pk=group_id).exists():
        raise LookupError(f"Channel group {group_id} no longer exists.")
    channel_ids = Channel.objects.filter(group_id=group_id, enabled=True).values_list("pk", flat=True)
    return [JobRequest(JOB_TYPE, {"channel_id": pk, "group_id": group_id}) for pk in channel_ids]


def register() -> None:
    registry.register(
        registry.TaskType(
            name=TASK_TYPE,
            label="Quick sync of a channel group",
            clean_params=clean_params,
            job_requests=job_requests,
            default_params={"group_id": None},
        )
    )
