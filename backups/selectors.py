"""Reads for the /backups page, the API and the commands."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.core.paginator import Paginator
from django.db.models import Count, Max, Q, QuerySet

from backups import conf, files, offsite, retention, tasks
from backups.errors import BackupError, NoBackupFile
from backups.models import Backup, BackupStatus, DrillOutcome
from backups.tasks import JOB_TYPE, TASK_TYPE
from jobs.models import ACTIVE_STATUSES, Job
from scheduling import recurrence
from scheduling.models import AuditAction, ScheduleAuditEntry, ScheduledTask, ScheduleRun

PAGE_SIZE = 50
# The newest good backup is stale once it is older than this many of the schedule's intervals, i.e.
# at least one scheduled backup in a row did not give a good one.
STALE_INTERVALS = 2
# The interval is the longest gap among this many coming runs: for "Mon and Fri" it is the 4 days
# from Fri to Mon, not the 3 the next two runs may happen to be apart.
INTERVAL_RUNS = 8
POLL_FOR = timedelta(minutes=30)  # the page refreshes itself this long after a backup job was queued


def backup_list(*, include_skipped: bool = True) -> QuerySet[Backup]:
    """Every backup, newest first (the skipped ones say why a run made no file)."""
    backups = Backup.objects.select_related("job", "offsite_job")
    if not include_skipped:
        backups = backups.exclude(status=BackupStatus.SKIPPED)
    return backups.order_by("-started_at", "-id")


def backup_api_list(*, status: str | None = None, purpose: str | None = None) -> QuerySet[Backup]:
    """Backups as the API lists them (by id, a page at a time), filtered by status and purpose, with the
    jobs their off-site state reads (so a page costs the same queries whatever its length)."""
    backups = Backup.objects.select_related("offsite_job")
    if status is not None:
        backups = backups.filter(status=status)
    if purpose is not None:
        backups = backups.filter(purpose=purpose)
    return backups


def running_backup() -> Backup | None:
    """The backup being made now, if one is (there is at most one: the one_running_backup constraint)."""
    return Backup.objects.filter(status=BackupStatus.RUNNING).first()


def newest_good_backup() -> Backup | None:
    """The newest completed backup that was verified and failed no later verification."""
    return Backup.objects.good().order_by("-started_at", "-id").first()


def newest_good_backup_of(*, vendor: str) -> Backup | None:
    """The newest good backup of one database engine's: what a restore drill on that engine tests."""
    return Backup.objects.good().filter(database_vendor=vendor).order_by("-started_at", "-id").first()


def last_backup_attempt() -> Backup | None:
    """The newest backup that was tried (not skipped): the "last result" of the page."""
    return Backup.objects.exclude(status=BackupStatus.SKIPPED).order_by("-started_at", "-id").first()


def backup_schedule():
    """The schedule that runs the backups (the default one the migration created, unless replaced)."""
    return ScheduledTask.objects.filter(task_type=TASK_TYPE).order_by("-enabled", "id").first()


def jobs_with_backup_files(job_ids: list[int]) -> list[int]:
    """Of these jobs, those that made a backup whose file still exists, or copy one off-site: the history prune
    keeps them and their runs (registered with jobs.history in BackupsConfig.ready())."""
    wanted = set(job_ids)
    rows = (Backup.objects.filter(status=BackupStatus.COMPLETED)
            .filter(Q(job_id__in=job_ids) | Q(offsite_job_id__in=job_ids)).values_list("job_id", "offsite_job_id"))
    return sorted({job_id for pair in rows for job_id in pair if job_id in wanted})


def backup_deletion_facts(*, backup: Backup) -> dict:
    """What the delete confirmation says first: whether this is the newest good backup, and how many other
    good backups there are."""
    newest_good = newest_good_backup()
    return {"is_newest_good": newest_good is not None and newest_good.pk == backup.pk,
            "other_good": Backup.objects.good().exclude(pk=backup.pk).count()}


def backup_dir_usage() -> dict:
    """BACKUP_DIR: bytes used by its files, and the free and total space of its disk."""
    return files.folder_usage(conf.backup_dir())


def backup_file_path(*, backup: Backup) -> Path:
    """The backup's file, only if the app made it: a completed backup, its exact name, in BACKUP_DIR."""
    if not backup.has_file:
        raise NoBackupFile(backup.no_file_reason())
    if not files.is_ours(backup.file_name, backup.pk):
        raise BackupError(f"Backup #{backup.pk} names the file {backup.file_name!r}, which is not a name the app "
                          "gives; it is not opened.")
    # The name pattern has no separators; a symbolic link or a special file under the name is refused.
    path = files.regular_file(conf.backup_dir(), backup.file_name)
    if not path.is_file():
        raise BackupError(f"The file of backup #{backup.pk} is missing: {path}.")
    return path


# --- retention ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetentionPlan:
    """A rule's plan (backups.retention.Plan) over the completed backups, with their rows."""

    plan: retention.Plan
    backups: dict[int, Backup]

    def _rows(self, ids) -> list[Backup]:
        return sorted((self.backups[pk] for pk in ids if pk is not None), key=lambda b: (b.started_at, b.pk))

    @property
    def deleted(self) -> list[Backup]:
        """The backups it deletes, oldest first."""
        return self._rows(self.plan.deleted)

    @property
    def left_alone(self) -> list[Backup]:
        return self._rows(self.plan.left_alone)

    @property
    def kept(self) -> list[Backup]:
        """The existing backups it keeps, newest first (not the one a run is about to make)."""
        return self._rows(self.plan.kept)[::-1]


def retention_plan(*, rule: retention.Rule, now: datetime, new_backup: bool = False) -> RetentionPlan:
    """What `rule` does at `now` to the completed backups (the only ones with a file). With `new_backup`,
    as a run would apply it: after the good backup it makes at `now` (id None in the plan)."""
    backups = {b.pk: b for b in Backup.objects.filter(status=BackupStatus.COMPLETED).order_by("-started_at", "-id")}
    items = [retention.Item(b.pk, b.started_at, good=b.verified_at is not None and not b.verify_error,
                            ours=files.is_ours(b.file_name, b.pk)) for b in backups.values()]
    if new_backup:
        items.append(retention.Item(None, now))
    return RetentionPlan(retention.plan(items, rule, now=now), backups)


def _rule_key(params) -> tuple | None:
    """What decides what a schedule's params delete (clean-up, and the rule without its zone)."""
    if not isinstance(params, dict):
        return None
    try:
        rule = tasks.retention_rule(params)
    except (TypeError, ValueError, KeyError):
        return None
    return tasks.cleans_up(params), rule


def retention_rule_set_by(schedule: ScheduledTask) -> str:
    """Who last set the schedule's retention rule, from its audit trail: "alice", "the system", "a command"
    ("" when no entry says: the schedule predates its audit trail). The newest creation or change whose
    params differ in the rule, or, for a calendar rule, whose time zone changed (it moves the days)."""
    calendar = isinstance(schedule.params, dict) and schedule.params.get("retention_mode") == retention.CALENDAR
    entries = ScheduleAuditEntry.objects.filter(schedule=schedule, action__in=(AuditAction.CREATE, AuditAction.UPDATE))
    for entry in entries.order_by("-at", "-pk").iterator():
        changes = entry.changes or {}
        params = changes.get("params")
        changed = isinstance(params, list) and len(params) == 2 and _rule_key(params[0]) != _rule_key(params[1])
        if changed or (calendar and "timezone" in changes):
            return entry.actor_name or ("a command" if entry.via == "command" else "the system")
    return ""


def retention_by(*, job: Job | None, backup: Backup) -> str:
    """Who deletes, in the words of a deleted backup's note: "retention of “Daily database backup” after
    backup #12, rule set by alice" (the schedule whose run made the job; its rule's author)."""
    run = ScheduleRun.objects.filter(jobs=job).select_related("schedule").order_by("-id").first() if job else None
    if run is None:
        return f"retention after backup #{backup.pk}"
    by = f"retention of “{run.schedule_name}” after backup #{backup.pk}"
    set_by = retention_rule_set_by(run.schedule) if run.schedule is not None else ""
    return f"{by}, rule set by {set_by}" if set_by else by


@dataclass(frozen=True)
class Unlisted:
    """The backup files in BACKUP_DIR that the database does not know (by name), found without reading them:
    `adopt_backups` then checks each one's manifest and checksum."""

    count: int
    without_manifest: int


def folder_unlisted() -> Unlisted:
    """Backup files in the folder the list does not have: a listing of the folder and one query."""
    directory = conf.backup_dir()
    names = files.backup_file_names(directory)
    if not names:
        return Unlisted(0, 0)
    known = set(Backup.objects.filter(file_name__in=names).values_list("file_name", flat=True))
    unlisted = [name for name in names if name not in known]
    without = sum(1 for name in unlisted if not (directory / files.manifest_name(name)).is_file())
    return Unlisted(len(unlisted), without)


# --- the /backups page ------------------------------------------------------------------------------


def schedule_interval(*, schedule: ScheduledTask, now: datetime) -> timedelta | None:
    """The longest gap between the schedule's coming runs (None if its timing does not compute)."""
    try:
        runs = schedule.recurrence().next_runs(now, INTERVAL_RUNS)
    except recurrence.RecurrenceError:
        return None
    return max((later - earlier for earlier, later in zip(runs, runs[1:])), default=None)


@dataclass(frozen=True)
class Freshness:
    """How old the newest good backup is (None: there is none), against the schedule's interval (None:
    no schedule, or its timing does not compute)."""

    age: timedelta | None
    interval: timedelta | None
    intervals: int = STALE_INTERVALS

    @property
    def limit(self) -> timedelta | None:
        """The age after which the newest good backup is stale."""
        return self.interval * self.intervals if self.interval else None

    @property
    def no_good_backup(self) -> bool:
        return self.age is None

    @property
    def stale(self) -> bool:
        """Older than the limit (exactly at it is not yet stale); never without an interval to measure by."""
        return self.age is not None and self.limit is not None and self.age > self.limit


def backup_freshness(*, schedule: ScheduledTask | None, newest_good: Backup | None, now: datetime) -> Freshness:
    """The newest good backup's age against the backup schedule, enabled or not (see Freshness)."""
    return Freshness(age=now - newest_good.started_at if newest_good else None,
                     interval=schedule_interval(schedule=schedule, now=now) if schedule else None)


def _backup_job_waits(*, backups: list[Backup], now: datetime) -> bool:
    """A backup runs or a backup job waits: the page refreshes itself (not forever: the job may wait for a
    worker that never comes)."""
    if any(backup.status == BackupStatus.RUNNING for backup in backups):
        return True
    return Job.objects.filter(job_type__in=(JOB_TYPE, offsite.JOB_TYPE), status__in=ACTIVE_STATUSES,
                              created_at__gt=now - POLL_FOR).exists()


def backups_page(*, now: datetime, page_number=None, show_skipped: bool = False) -> dict:
    """Everything /backups shows, in a fixed number of queries whatever the number of backups."""
    schedule = backup_schedule()
    newest_good = newest_good_backup()
    paginator = Paginator(backup_list(include_skipped=show_skipped), PAGE_SIZE)
    page = paginator.get_page(page_number)
    backups = list(page.object_list)
    usage = backup_dir_usage()
    # A backup needs this much free space (see backups.services.making._check_free_space): the last known size.
    last_size = next((b.database_size_bytes for b in backups if b.database_size_bytes), None)
    needed = int(last_size * float(conf.get("BACKUP_FREE_SPACE_FACTOR"))) if last_size else None
    return {
        "schedule": schedule,
        "other_schedules": ScheduledTask.objects.filter(task_type=TASK_TYPE).exclude(
            pk=schedule.pk if schedule else None).count(),
        "last_attempt": last_backup_attempt(),
        "newest_good": newest_good,
        "freshness": backup_freshness(schedule=schedule, newest_good=newest_good, now=now),
        "page": page,
        "backups": backups,
        "show_skipped": show_skipped,
        "usage": usage,
        "space_needed": needed,
        "space_short": needed is not None and usage["free_bytes"] is not None and usage["free_bytes"] < needed,
        "polling": _backup_job_waits(backups=backups, now=now),
        "offsite": offsite.offsite_summary(),
        "unlisted": folder_unlisted(),
        "now": now,
    }


# --- /metrics -------------------------------------------------------------------------------------


def offsite_counts() -> dict:
    """Completed backups by off-site state, and the newest copy's time (backups.offsite)."""
    return offsite.offsite_counts()


def offsite_summary() -> dict:
    return offsite.offsite_summary()


def backup_counts() -> dict[str, int]:
    """Backups by status."""
    return dict(Backup.objects.order_by().values("status").annotate(count=Count("pk")).values_list("status", "count"))


def restore_drill_summary() -> dict:
    """When a restore drill last passed and last failed (None: never), in one query: the later of the
    two is the last drill's outcome."""
    return Backup.objects.aggregate(
        last_passed=Max("drilled_at", filter=Q(drill_outcome=DrillOutcome.PASSED)),
        last_failed=Max("drilled_at", filter=Q(drill_outcome=DrillOutcome.FAILED)))
