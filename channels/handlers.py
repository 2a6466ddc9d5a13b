"""The QUICK_SYNC job handler: parse the job's params and sync that one channel."""

from __future__ import annotations

from django.utils import timezone

from channels import sync
from jobs.registry import JobHandler, PermanentJobError, register


def run_quick_sync(job) -> dict:
    params = job.params if isinstance(job.params, dict) else {}
    channel_id, group_sync_id = params.get("channel_id"), params.get("group_sync_id")
    if not isinstance(channel_id, int) or isinstance(channel_id, bool):
        raise PermanentJobError(f"channel_id: expected a channel's numeric id, got {channel_id!r}.")
    if group_sync_id is not None and (not isinstance(group_sync_id, int) or isinstance(group_sync_id, bool)):
        raise PermanentJobError(f"group_sync_id: expected a number or nothing, got {group_sync_id!r}.")
    return sync.channel_sync(channel_id=channel_id, group_sync_id=group_sync_id, now=timezone.now(), job=job,
                             clock=timezone.now)


def register_handlers() -> None:
    # Retries wait 30 s, 60 s, 120 s by default: long enough for a brief 5xx spell to pass.
    register(JobHandler(sync.JOB_TYPE, "Quick sync of a channel", run_quick_sync, time_limit_seconds=120,
                        max_retries=3))
