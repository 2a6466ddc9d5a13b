"""History that stays small: the daily prune of runs, finished jobs and django-q2's rows (scheduling/history.py)."""

import datetime as dt
import threading
import uuid

import pytest
from django.db import connection
from django_q.models import OrmQ, Task

from backups.models import BackupStatus
from channels.models import ChannelGroup, ChannelSync, GroupSync, SyncOutcome
from common.models import Chore
from jobs.models import Job, JobStatus
from notifications.models import Delivery, DeliveryStatus, Incident
from scheduling import history, loop
from scheduling.history import history_prune_when_due
from scheduling.models import HeartbeatSource, RunOutcome, ScheduleRun
from tests.factories import (
    BackupFactory,
    ChannelFactory,
    ChannelGroupFactory,
    JobFactory,
    NotificationChannelFactory,
    ScheduledTaskFactory,
)

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 12, 1, 3, 0, tzinfo=UTC)  # HISTORY_DAYS=90: the cutoff is 2026-09-02 03:00
FINISHED = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)


def ago(days: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


def job(days_ago: float, status=JobStatus.COMPLETED) -> Job:
    return JobFactory(status=status, created_at=ago(days_ago),
                      started_at=ago(days_ago) if status != JobStatus.QUEUED else None,
                      finished_at=ago(days_ago) if status in FINISHED else None)


def run(schedule, days_ago: float, *jobs: Job, outcome=RunOutcome.SUCCEEDED) -> ScheduleRun:
    created = ago(days_ago)
    made = ScheduleRun.objects.create(schedule=schedule, schedule_name=schedule.name if schedule else "Gone",
                                      trigger="scheduled", due_at=created, outcome=outcome, created_at=created)
    made.jobs.add(*jobs)
    return made


def q2_task(days_ago: float, *, success=False) -> Task:
    return Task.objects.create(id=uuid.uuid4().hex, name=f"task {days_ago}", func="math.floor",
                               started=ago(days_ago), stopped=ago(days_ago), success=success)


def q2_message(days_ago: float) -> OrmQ:
    return OrmQ.objects.create(key="archive", payload="leftover", lock=ago(days_ago))


def exists(obj) -> bool:
    return type(obj).objects.filter(pk=obj.pk).exists()


@pytest.fixture(autouse=True)
def history_settings(settings):
    settings.HISTORY_DAYS = 90
    settings.HISTORY_PRUNE_BATCH_SIZE = 500
    settings.HISTORY_PRUNE_BATCHES_PER_STEP = 50
    return settings


@pytest.mark.django_db
def test_it_removes_old_history_and_keeps_what_it_must():
    daily, rare, busy = ScheduledTaskFactory(), ScheduledTaskFactory(), ScheduledTaskFactory()
    old_runs = [run(daily, days, j) for days, j in ((200, job(200)), (150, job(150, JobStatus.FAILED)), (100, job(100)))]
    daily_newest = run(daily, 10, job(10))
    rare_old, rare_newest = run(rare, 200, job(200)), run(rare, 120, job(120))  # its newest is old too
    active_job = job(300, JobStatus.RETRY_WAIT)
    still_dispatched = run(busy, 300, active_job, outcome=RunOutcome.DISPATCHED)
    run(busy, 5, outcome=RunOutcome.SKIPPED)
    backup_job, gone_backup_job = job(180), job(170)
    backup_run, gone_backup_run = run(daily, 180, backup_job), run(daily, 170, gone_backup_job)
    backup = BackupFactory(job=backup_job, started_at=ago(180))
    deleted_backup = BackupFactory(job=gone_backup_job, started_at=ago(170), status=BackupStatus.DELETED)
    orphan_run = run(None, 200, job(200))  # its schedule was deleted
    lone_old = [job(100), job(95, JobStatus.FAILED), job(91, JobStatus.CANCELLED)]
    lone_kept = [job(89), job(200, JobStatus.QUEUED), job(200, JobStatus.RUNNING), job(200, JobStatus.RETRY_WAIT)]
    old_q2, kept_q2 = [q2_task(100), q2_task(120, success=True), q2_message(100)], [q2_task(10), q2_message(0)]
    doomed_jobs = [j for r in (*old_runs, rare_old, orphan_run) for j in r.jobs.all()] + [gone_backup_job, *lone_old]

    report = history_prune_when_due(now=NOW)

    assert report.done
    assert report.deleted == {"runs": 6, "jobs": 9, "queue": 3, "group_syncs": 0, "alerts": 0}
    assert not any(exists(r) for r in (*old_runs, rare_old, orphan_run, gone_backup_run))
    assert not any(exists(j) for j in doomed_jobs)
    assert not any(exists(row) for row in old_q2)
    # The newest run of each schedule (with its jobs), however old; a run still dispatched and its active
    # job; the run and job of a backup whose file exists; every active or recent job; recent django-q2 rows.
    assert all(exists(r) and r.jobs.count() == 1 for r in (daily_newest, rare_newest, still_dispatched, backup_run))
    assert all(exists(j) for j in (active_job, backup_job, *lone_kept))
    assert all(exists(row) for row in kept_q2)
    deleted_backup.refresh_from_db()
    assert exists(backup) and deleted_backup.job is None  # the record of a deleted backup stays


@pytest.mark.django_db
def test_it_prunes_in_small_batches_over_several_steps_with_the_cutoff_of_the_round(history_settings):
    history_settings.HISTORY_PRUNE_BATCH_SIZE = 2
    history_settings.HISTORY_PRUNE_BATCHES_PER_STEP = 1
    old = [run(None, 100 + n, job(100 + n)) for n in range(5)]
    almost_old = run(None, 89.9, job(89.9))
    reports, step = [], NOW
    while not reports or not reports[-1].done:
        assert len(reports) < 20, "the round never ends"
        reports.append(history_prune_when_due(now=step))
        step += dt.timedelta(days=1)  # later steps: the round keeps the cutoff it started with

    # runs: 2, 2, 1 (the end); jobs: 2, 2, 1; django-q2, group syncs, alerts: nothing.
    assert [sum(r.deleted.values()) for r in reports] == [2, 2, 1, 2, 2, 1, 0, 0, 0]
    assert not any(exists(r) for r in old)
    assert exists(almost_old) and almost_old.jobs.exists()
    assert Chore.objects.get(name=history.CHORE).state == {}


@pytest.mark.django_db
def test_it_prunes_the_other_apps_history_and_keeps_what_their_pages_show():
    """Group syncs (with their per-channel results) and the alert log, by the pruners the apps register."""
    news, courts = ChannelGroupFactory(name="News"), ChannelGroupFactory(name="Courts")
    channel = ChannelFactory(group=news)

    def group_sync(group, days_ago, *, finished=True):
        made = GroupSync.objects.create(group=group, group_name=group.name, created_at=ago(days_ago),
                                        finished_at=ago(days_ago) if finished else None)
        ChannelSync.objects.create(group_sync=made, channel=channel, outcome=SyncOutcome.SYNCED, checked_at=ago(days_ago))
        return made

    old_syncs = [group_sync(news, 200), group_sync(news, 100)]
    last_of_courts = group_sync(courts, 150)  # old, but its group's card shows it
    ChannelGroup.objects.filter(pk=courts.pk).update(last_sync=last_of_courts)
    recent, running = group_sync(news, 10), group_sync(news, 300, finished=False)
    target = NotificationChannelFactory()

    def incident(key, days_ago, *, resolved=True, pending=False):
        made = Incident.objects.create(key=key, kind="run_failed", title=key, opened_at=ago(days_ago + 1),
                                       resolved_at=ago(days_ago) if resolved else None)
        Delivery.objects.create(incident=made, channel=target, channel_name=target.name, event="opened", title=key,
                                created_at=ago(days_ago), next_attempt_at=ago(days_ago),
                                status=DeliveryStatus.PENDING if pending else DeliveryStatus.SENT)
        return made

    old_incidents = [incident("a", 200), incident("b", 100)]
    kept_incidents = [incident("c", 10), incident("d", 200, resolved=False), incident("e", 150, pending=True)]
    old_test = Delivery.objects.create(channel=target, channel_name=target.name, event="test", title="Test",
                                       created_at=ago(100), next_attempt_at=ago(100), status=DeliveryStatus.FAILED)

    report = history_prune_when_due(now=NOW)

    assert (report.deleted["group_syncs"], report.deleted["alerts"]) == (2, 5)  # 2 incidents + 2 deliveries + 1 test
    assert not any(exists(row) for row in (*old_syncs, *old_incidents, old_test))
    assert all(exists(row) for row in (last_of_courts, recent, running, *kept_incidents))
    assert ChannelSync.objects.filter(group_sync__in=old_syncs).count() == 0
    assert ChannelSync.objects.count() == 3


@pytest.mark.django_db
def test_it_runs_once_a_day():
    assert history_prune_when_due(now=NOW).done

    assert history_prune_when_due(now=NOW) is None
    assert history_prune_when_due(now=NOW + dt.timedelta(hours=23, minutes=59)) is None
    assert history_prune_when_due(now=NOW + dt.timedelta(days=1)).done
    chore = Chore.objects.get(name=history.CHORE)
    assert (chore.last_done_at, chore.next_at) == (NOW + dt.timedelta(days=1), NOW + dt.timedelta(days=2))


@pytest.mark.django_db
def test_the_scheduler_step_prunes():
    old = run(None, 100, job(100))

    loop.scheduler_step(now=NOW, source=HeartbeatSource.ONCE, name="test")

    assert not exists(old)


@pytest.mark.django_db
def test_a_failing_prune_is_logged_and_tried_again_after_its_lease(monkeypatch, caplog):
    old = run(None, 100, job(100))
    monkeypatch.setattr(history, "runs_prune_batch", lambda **kwargs: 1 / 0)

    assert history_prune_when_due(now=NOW) is None
    assert "History prune failed" in caplog.text and exists(old)

    monkeypatch.undo()
    assert history_prune_when_due(now=NOW + history.LEASE - dt.timedelta(seconds=1)) is None
    assert history_prune_when_due(now=NOW + history.LEASE).done
    assert not exists(old)


@pytest.mark.django_db(transaction=True)
def test_two_schedulers_racing_prune_once():
    old = [run(None, 100 + n, job(100 + n)) for n in range(3)]
    start, reports = threading.Barrier(4), []

    def scheduler():
        try:
            start.wait(timeout=10)
            reports.append(history_prune_when_due(now=NOW))
        finally:
            connection.close()

    threads = [threading.Thread(target=scheduler) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    claimed = [report for report in reports if report is not None]
    assert len(reports) == 4 and len(claimed) == 1
    assert claimed[0].deleted["runs"] == 3
    assert not any(exists(r) for r in old)


@pytest.mark.django_db
def test_group_syncs_go_in_batches_and_a_batch_of_kept_ones_does_not_end_the_round():
    """The pruner's contract (see history.register_pruner): how many went, and the last id looked at
    while there may be more; the last sync of each group stays, even when a whole batch is such."""
    from channels.sync import group_syncs_prune_batch

    def finished(group, days_ago):
        return GroupSync.objects.create(group=group, group_name=group.name, created_at=ago(days_ago),
                                        finished_at=ago(days_ago))

    shown = [finished(group, 200) for group in ChannelGroupFactory.create_batch(3)]
    for made in shown:
        ChannelGroup.objects.filter(pk=made.group_id).update(last_sync=made)
    news = ChannelGroupFactory(name="News")
    old = [finished(news, 150 - n) for n in range(4)]
    finished(news, 10)

    batches, after = [], 0
    while after is not None and len(batches) < 5:
        deleted, after = group_syncs_prune_batch(before=ago(90), after_id=after, batch_size=3)
        batches.append((deleted, after))

    assert batches == [(0, shown[-1].pk), (3, old[2].pk), (1, None)]
    assert set(GroupSync.objects.filter(finished_at__lt=ago(90)).values_list("pk", flat=True)) == {
        made.pk for made in shown}
