"""Who changed a schedule, through which entrance, and what changed: written by the services only."""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction

from common.actors import Actor
from scheduling.models import AuditAction, ScheduleAuditEntry, ScheduledTask

logger = logging.getLogger(__name__)


def to_json(value):
    return value.isoformat() if isinstance(value, datetime) else value


def snapshot(schedule: ScheduledTask) -> dict:
    return {field: to_json(getattr(schedule, field)) for field in ScheduledTask.EDITABLE_FIELDS}


def diff(before: dict, after: dict) -> dict:
    """{field: [old, new]} for the fields that differ."""
    return {field: [before.get(field), after[field]] for field in ScheduledTask.EDITABLE_FIELDS
            if before.get(field) != after[field]}


def record(*, schedule: ScheduledTask, action: str, actor: Actor, now: datetime, changes: dict | None = None) -> None:
    ScheduleAuditEntry.objects.create(
        schedule=schedule if action != AuditAction.DELETE else None,
        schedule_name=schedule.name,
        action=action,
        actor=actor.user,
        actor_name=actor.name,
        via=actor.via,
        changes=changes or {},
        at=now,
    )
    fields = {"event": "schedule_change", "schedule_id": schedule.pk, "action": action, "via": actor.via,
              "actor": actor.name, "fields": sorted(changes or {})}
    name = schedule.name
    transaction.on_commit(lambda: logger.info("Schedule %s: %s", action, name, extra=fields))
