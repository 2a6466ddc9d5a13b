"""History that stays small: once a day the scheduler prunes schedule runs, finished jobs and django-q2's
own rows older than `HISTORY_DAYS` (settings; 90 days unless set).

Never pruned: a schedule's newest run (its page and its last outcome say what happened last, however
long ago), a run still dispatched, an active job, a job while a run of its stays, and whatever the apps'
keepers name (jobs.history: backups keeps the job that made a backup whose file still exists, and so
its run here).

Other apps' history is pruned in the same round, by pruners they register (`register_pruner`, in an
app's `ready()`; scheduling registers the notifications' alert log for it, since notifications imports
no app): channels' group syncs and their per-channel results, the alerts' deliveries and incidents.
Each keeps what its pages still need.

"Once a day" is a chore in the database (common.chores): the first scheduler step to find it due claims
it with a compare-and-set, so two schedulers never both prune, and restarts do not prune again. A round
deletes in batches (one short transaction each) and does at most a few batches per step, so the step
still turns windows into runs on time; an unfinished round keeps its cutoff and where it got to, and
the next step (of any scheduler) goes on with it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import OuterRef, Subquery

from common.chores import chore_claim, chore_release
from jobs import history as jobs_history
from scheduling import conf
from scheduling.models import RunOutcome, ScheduleRun

logger = logging.getLogger(__name__)

CHORE = "history prune"
EVERY = timedelta(days=1)
# A process that dies mid-round holds the chore this long; then another takes the round up.
LEASE = timedelta(minutes=10)
PHASES = ("runs", "jobs", "queue")

# pruner(*, before, after_id, batch_size) -> (deleted, last id looked at or None when done): like
# runs_prune_batch, for another app's history. Run after the phases above, in the order registered.
Pruner = Callable[..., tuple[int, int | None]]
_pruners: dict[str, Pruner] = {}


def register_pruner(name: str, pruner: Pruner) -> None:
    """Prune another app's history in the daily round (call in its AppConfig.ready())."""
    if name in PHASES or _pruners.get(name, pruner) is not pruner:
        raise ValueError(f"A history pruner named {name!r} is registered already.")
    _pruners[name] = pruner


def phases() -> tuple[str, ...]:
    return (*PHASES, *_pruners)

RunJob = ScheduleRun.jobs.through


@dataclass
class PruneReport:
    deleted: dict[str, int] = field(default_factory=lambda: dict.fromkeys(phases(), 0))
    batches: int = 0
    done: bool = False


def history_prune_when_due(*, now: datetime) -> PruneReport | None:
    """A step of the daily prune if it is due and this process claims it; None otherwise.

    A failure is logged, not raised: the scheduler step must go on turning windows into runs. The
    chore stays claimed for its lease, so the round is tried again then.
    """
    try:
        claim = chore_claim(name=CHORE, now=now, lease=LEASE)
        if claim is None:
            return None
        state = claim.state
        state.setdefault("before", (now - timedelta(days=int(conf.get("HISTORY_DAYS")))).isoformat())
        report = history_prune(state=state, batch_size=int(conf.get("HISTORY_PRUNE_BATCH_SIZE")),
                               max_batches=int(conf.get("HISTORY_PRUNE_BATCHES_PER_STEP")))
        totals = state.setdefault("deleted", dict.fromkeys(phases(), 0))
        for phase, count in report.deleted.items():
            totals[phase] = totals.get(phase, 0) + count
        chore_release(claim=claim, now=now, next_at=now + EVERY if report.done else now, done=report.done)
    except Exception:
        logger.exception("History prune failed; it is tried again in %s", LEASE)
        return None
    if report.done:
        others = {f"{name}_deleted": totals.get(name, 0) for name in _pruners}
        logger.info("History pruned: %s runs, %s jobs, %s of django-q2's rows older than %s; %s", totals["runs"],
                    totals["jobs"], totals["queue"], state["before"],
                    ", ".join(f"{count} {name.removesuffix('_deleted')}" for name, count in others.items()) or "-",
                    extra={"event": "history_prune", "before": state["before"], "runs_deleted": totals["runs"],
                           "jobs_deleted": totals["jobs"], "queue_rows_deleted": totals["queue"], **others})
    return report


def history_prune(*, state: dict, batch_size: int, max_batches: int) -> PruneReport:
    """Up to `max_batches` batches of a round from where `state` says it got to (updated in place):
    `before` (the cutoff), `phase` and `after` (the last id looked at)."""
    before = datetime.fromisoformat(state["before"])
    report = PruneReport()
    while report.batches < max_batches:
        order = phases()
        phase = state.setdefault("phase", order[0])
        if phase not in order:  # a pruner no longer installed: take the round again from the start
            phase, state["phase"], state["after"] = order[0], order[0], 0
        after = state.get("after", 0)
        if phase == "runs":
            batch = runs_prune_batch(before=before, after_id=after, batch_size=batch_size)
        elif phase == "jobs":
            batch = jobs_history.jobs_prune_batch(before=before, after_id=after, batch_size=batch_size,
                                                  also_keep=jobs_with_runs)
        elif phase == "queue":
            batch = jobs_history.queue_history_prune_batch(before=before, batch_size=batch_size)
        else:
            batch = jobs_history.Batch(*_pruners[phase](before=before, after_id=after, batch_size=batch_size))
        report.batches += 1
        report.deleted[phase] = report.deleted.get(phase, 0) + batch.deleted
        if batch.last_id is not None:
            state["after"] = batch.last_id
            continue
        state["after"] = 0
        if phase == order[-1]:
            report.done = True
            break
        state["phase"] = order[order.index(phase) + 1]
    return report


def jobs_with_runs(job_ids: list[int]) -> set[int]:
    """Of these jobs, those a run still links to: a job goes with its run, not before."""
    return set(RunJob.objects.filter(job_id__in=job_ids).values_list("job_id", flat=True))


def runs_prune_batch(*, before: datetime, after_id: int, batch_size: int) -> jobs_history.Batch:
    """Delete up to `batch_size` runs created before `before`, with ids above `after_id`, but those kept:
    a schedule's newest run, a run still dispatched, a run whose job a keeper names."""
    old = ScheduleRun.objects.filter(created_at__lt=before).exclude(outcome=RunOutcome.DISPATCHED)
    ids = list(old.filter(pk__gt=after_id).order_by("pk").values_list("pk", flat=True)[:batch_size])
    if not ids:
        return jobs_history.Batch(0, None)
    newest = ScheduleRun.objects.filter(schedule=OuterRef("schedule")).order_by("-created_at", "-pk").values("pk")[:1]
    keep = set(ScheduleRun.objects.filter(pk__in=ids, schedule__isnull=False, pk=Subquery(newest))
               .values_list("pk", flat=True))
    links = list(RunJob.objects.filter(schedulerun_id__in=ids).values_list("schedulerun_id", "job_id"))
    kept_jobs = jobs_history.kept_jobs([job for _, job in links])
    keep.update(run for run, job in links if job in kept_jobs)
    doomed = [pk for pk in ids if pk not in keep]
    deleted = 0
    if doomed:
        with transaction.atomic():
            # Still not dispatched: a retry by hand since it was read reopens a run, and it stays.
            deleted = old.filter(pk__in=doomed).delete()[1].get(ScheduleRun._meta.label, 0)
    return jobs_history.Batch(deleted, ids[-1] if len(ids) == batch_size else None)
