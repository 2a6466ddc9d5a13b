"""A backup schedule's retention, as a user changes it: whether this user may (every entrance reaches
the check through scheduling.services.schedule_save and the schedule form), and what it would delete
(the editor's live preview). The DATABASE_BACKUP task type's `check_change` and `preview_change` hooks
(see scheduling.registry.TaskType), registered by backups.tasks.register.

The rule: turning clean-up on (creating a backup schedule with it on counts), or changing the rule so
that a run would delete a backup the rule in force keeps, needs `backups.delete_backup`, the
permission to delete backups by hand. Otherwise a user who may edit schedules but not delete backups
could delete them anyway: a retention of one day, then Run now. Turning clean-up off, or keeping
more, needs nothing more than editing the schedule.

"What a run would delete" is the plan of the rule as a run applies it at `now`, right after the good
backup it makes (selectors.retention_plan with `new_backup`): the preview says exactly that, and the
job deletes exactly that if it runs at that moment.
"""

from __future__ import annotations

from datetime import datetime

from django.template.loader import render_to_string

from backups import retention, selectors, tasks
from scheduling.models import ScheduledTask
from scheduling.registry import ParamsChangeRefused

DELETE_PERMISSION = "backups.delete_backup"
PREVIEW_LIMIT = 25  # backups listed by name in the preview; the rest are counted


def _rule(schedule: ScheduledTask) -> retention.Rule | None:
    """The schedule's retention rule in its zone; None when clean-up is off (or its params make none)."""
    if not isinstance(schedule.params, dict) or not tasks.cleans_up(schedule.params):
        return None
    try:
        return tasks.retention_rule(schedule.params, zone=schedule.timezone or "UTC")
    except (TypeError, ValueError, KeyError):
        return None


def _changed(old: ScheduledTask, new: ScheduledTask) -> dict:
    """What the change is about, where the refusal is shown: the first retention param that differs, or
    else the time zone (a calendar rule's days are the zone's)."""
    old_params, new_params = tasks.completed_params(old.params), tasks.completed_params(new.params)
    param = next((key for key in tasks.RETENTION_KEYS if old_params.get(key) != new_params.get(key)), None)
    return {"param": param} if param else {"field": "timezone"}


def refusal(*, old: ScheduledTask | None, new: ScheduledTask, user, now: datetime) -> ParamsChangeRefused | None:
    """Why `user` may not save `new` over `old`, or None if they may."""
    new_rule = _rule(new)
    if new_rule is None or user.has_perm(DELETE_PERMISSION):
        return None
    old_rule = _rule(old) if old is not None else None
    if old_rule is None:
        return ParamsChangeRefused(
            f"Deleting old backups needs the permission “{DELETE_PERMISSION}”, which you do not have: untick "
            "“Delete old backups”, or ask an administrator to grant it.",
            param="cleanup_old", permission=DELETE_PERMISSION)
    if old_rule == new_rule:
        return None
    before = selectors.retention_plan(rule=old_rule, now=now, new_backup=True).plan.deleted
    after = selectors.retention_plan(rule=new_rule, now=now, new_backup=True)
    newly = [backup for backup in after.deleted if backup.pk not in before]
    if not newly:
        return None
    listed = ", ".join(f"#{backup.pk}" for backup in newly[:10]) + (", …" if len(newly) > 10 else "")
    return ParamsChangeRefused(
        f"This retention ({new_rule.describe()}) would delete {len(newly)} backup{'s' if len(newly) != 1 else ''} "
        f"that the current one ({old_rule.describe()}) keeps ({listed}), which needs the permission "
        f"“{DELETE_PERMISSION}”; you do not have it. Keep the retention as it is, or ask an administrator to "
        "grant it.",
        **_changed(old, new), permission=DELETE_PERMISSION)


def check_change(*, old: ScheduledTask | None, new: ScheduledTask, user, now: datetime) -> None:
    refused = refusal(old=old, new=new, user=user, now=now)
    if refused is not None:
        raise refused


def preview(*, schedule: ScheduledTask, now: datetime) -> dict:
    """What the schedule's retention would delete if it ran now (see the module's docstring)."""
    rule = _rule(schedule)
    if rule is None:
        return {"cleanup": False, "zone": schedule.timezone or "UTC"}
    plan = selectors.retention_plan(rule=rule, now=now, new_backup=True)
    deleted, kept = plan.deleted, plan.kept
    return {
        "cleanup": True,
        "rule": rule.describe(),
        "zone": rule.zone if rule.mode == retention.CALENDAR else "UTC",
        "calendar": rule.mode == retention.CALENDAR,
        "deleted": [(backup, plan.plan.deleted[backup.pk]) for backup in deleted[:PREVIEW_LIMIT]],
        "deleted_count": len(deleted),
        "deleted_more": max(0, len(deleted) - PREVIEW_LIMIT),
        "kept": [(backup, "; ".join(plan.plan.kept[backup.pk])) for backup in kept[:PREVIEW_LIMIT]],
        "kept_count": len(kept),
        "kept_more": max(0, len(kept) - PREVIEW_LIMIT),
        "left_alone": [(backup, plan.plan.left_alone[backup.pk]) for backup in plan.left_alone],
    }


def preview_change(*, old: ScheduledTask | None, new: ScheduledTask, user, now: datetime) -> str:
    refused = refusal(old=old, new=new, user=user, now=now) if user is not None else None
    return render_to_string("backups/_retention_preview.html", {
        **preview(schedule=new, now=now), "refused": refused.message if refused else "",
    })
