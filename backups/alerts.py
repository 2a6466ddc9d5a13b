"""Backups' incidents.

- `backups_stale`: no good backup within twice the backup schedule's interval. A watch
  (notifications.registry), run from the scheduler's step: the same freshness the /backups page shows
  (`backups.selectors.backup_freshness`), so the page's warning and the alert agree.
- `restore_drill_failed`: a restore drill found a backup that does not come back as its manifest says
  (backups.services.drilling); resolved by the next drill that passes, whether a schedule or Run now
  started it. A drill that could not look (the disk full, the server down) is not this incident: its
  job retries, and a scheduled run that still fails is the schedule's `run_failed`.
- `backup_offsite_failed`: the newest backup's off-site copy failed after its retries (a watch);
  resolved once a later copy succeeds. The local backup still counts as good.
"""

from __future__ import annotations

import logging
from datetime import datetime

from backups import offsite, selectors
from common.formatting import human_duration
from notifications.services import incident_open, incident_resolve
from scheduling.models import ScheduleRun

BACKUPS_STALE = "backups_stale"
RESTORE_DRILL_FAILED = "restore_drill_failed"

logger = logging.getLogger(__name__)


def _utc(instant: datetime) -> str:
    return f"{instant:%Y-%m-%d %H:%M} UTC"


def watch_freshness(*, now: datetime, source: str) -> None:
    """Open `backups_stale` while the newest good backup is older than the limit (or there has been
    none for that long since the schedule was made); resolve it once a good one is there."""
    schedule = selectors.backup_schedule()
    newest = selectors.newest_good_backup()
    freshness = selectors.backup_freshness(schedule=schedule, newest_good=newest, now=now)
    never = (freshness.no_good_backup and freshness.limit is not None and schedule is not None
             and now - schedule.created_at > freshness.limit)
    if not (freshness.stale or never):
        if newest is not None:
            detail = f"Backup #{newest.pk}, made at {_utc(newest.started_at)}, is good."
        else:
            detail = "There is no backup schedule to measure by any more."
        incident_resolve(key=BACKUPS_STALE, detail=detail, now=now)
        return
    expected = (f"“{schedule.name}” runs every {human_duration(freshness.interval)} or so, so a good backup is "
                f"expected at least every {human_duration(freshness.limit)}")
    if newest is not None:
        title = f"No good backup for {human_duration(freshness.age)}"
        detail = f"The newest good backup is #{newest.pk}, made at {_utc(newest.started_at)}. {expected}."
    else:
        title = "No good backup yet"
        detail = f"There is no good backup at all. {expected}."
    if not schedule.enabled:
        detail += " The schedule is disabled."
    incident_open(key=BACKUPS_STALE, kind=BACKUPS_STALE, title=title, detail=detail,
                  link="/backups", schedule_id=schedule.pk, channel_ids=list(schedule.notify_channels or []), now=now)


BACKUP_OFFSITE_FAILED = "backup_offsite_failed"


def watch_offsite(*, now: datetime, source: str) -> None:
    """Open `backup_offsite_failed` while the newest backup whose off-site copy has an outcome was not copied
    (its job failed after its retries); resolve it once a later copy succeeds. Copies still being tried
    decide nothing yet."""
    newest = offsite.newest_offsite_outcome()
    if newest is None:
        return
    if newest.offsite_copied_at is not None:
        incident_resolve(key=BACKUP_OFFSITE_FAILED, now=now, detail=(
            f"Backup #{newest.pk} was copied to {newest.offsite_remote} at {_utc(newest.offsite_copied_at)} "
            f"({newest.offsite_check})."))
        return
    schedule = selectors.backup_schedule()
    job = newest.offsite_job
    detail = (f"Backup #{newest.pk} ({newest.file_name}, made at {_utc(newest.started_at)}) could not be copied "
              f"off-site after {job.attempts} attempts: {newest.offsite_error or job.error.strip()[-300:]} The "
              "local backup is good; retry the copy on its job's page once the remote is reachable.")
    incident_open(key=BACKUP_OFFSITE_FAILED, kind=BACKUP_OFFSITE_FAILED, title="Off-site copy of a backup failed",
                  detail=detail, link=f"/jobs/{job.pk}", schedule_id=schedule.pk if schedule else None,
                  channel_ids=list(schedule.notify_channels or []) if schedule else None, now=now)


def drills_checked(*, reports, job, now: datetime) -> None:
    """After a drill recorded its outcome: open `restore_drill_failed` if a drill failed (to the drill
    schedule's channels, all when it chose none or Run now started it), resolve it if all passed. Logged,
    never raised: the outcome is recorded already and the job's result must not depend on an alert."""
    try:
        _drills_checked(reports=reports, job=job, now=now)
    except Exception:
        logger.exception("Alerts: the restore drill's incident could not be written; the drill is not affected")


def _drills_checked(*, reports, job, now: datetime) -> None:
    failed = [report for report in reports if not report.passed]
    if not failed:
        drilled = ", ".join(f"#{r.backup.pk} ({r.source}: {r.tables} tables, {r.rows:,} rows)" for r in reports)
        incident_resolve(key=RESTORE_DRILL_FAILED, detail=f"A restore drill passed: backup {drilled}.", now=now)
        return
    run = ScheduleRun.objects.filter(jobs=job).select_related("schedule").order_by("-id").first() if job else None
    schedule = run.schedule if run else None
    first = failed[0]
    detail = " ".join(f"Backup #{r.backup.pk} ({r.backup.file_name}, made {_utc(r.backup.started_at)}), {r.source}: "
                      f"{r.problem}" for r in failed)
    incident_open(key=RESTORE_DRILL_FAILED, kind=RESTORE_DRILL_FAILED,
                  title=f"Restore drill failed: backup #{first.backup.pk} does not restore as its manifest says",
                  detail=detail, link="/backups", schedule_id=schedule.pk if schedule else None,
                  channel_ids=list(schedule.notify_channels or []) if schedule else None, now=now)
