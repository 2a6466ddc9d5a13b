"""scheduling.alerts: a failed run, missed and skipped windows, stopped processes: one alert each, one "back to normal".

Alerts are really sent: Apprise posts to a local endpoint (`webhook`); the runs fail and succeed
through the runner's own steps and the pass.
"""

import datetime as dt

import pytest
import time_machine
from django.core.cache import cache

from jobs import runner
from jobs import services as job_services
from jobs.maintenance import jobs_release_due_retries
from jobs.models import Job, JobStatus
from notifications import services as notify
from notifications.models import Incident
from scheduling import alerts, tick
from scheduling.models import HeartbeatSource, ScheduledTask, SchedulerHeartbeat, ScheduleRun
from tests.factories import NotificationChannelFactory
from tests.notifications.conftest import send_all
from tests.scheduling.conftest import at

pytestmark = pytest.mark.django_db

TRACEBACK = 'Traceback (most recent call last):\n  File "backups/handlers.py", line 3, in run\nOSError: disk full\n'


@pytest.fixture
def hook(webhook):
    NotificationChannelFactory(name="Ops", target=webhook.url)
    return webhook


def fail_for_good(job: Job, *, now: dt.datetime, capture) -> None:
    """Every attempt fails, each retry released when due, as the worker and the scheduler's step do.
    The receivers of finished jobs read the clock (as every entrance does): it shows `now`."""

    while True:
        with time_machine.travel(now, tick=False), capture(execute=True):
            attempt = runner.claim(job.pk, worker="test:1", now=now)
            job_services.job_attempt_failed(job=attempt, error=TRACEBACK, now=now)
        job.refresh_from_db()
        if job.status == JobStatus.FAILED:
            return
        assert send_all(now=now) == 0  # a failed attempt that will be retried is no incident
        now = job.available_at
        jobs_release_due_retries(now=now)


def succeed(job: Job, *, now: dt.datetime, capture) -> None:
    with time_machine.travel(now, tick=False), capture(execute=True):
        attempt = runner.claim(job.pk, worker="test:1", now=now)
        job_services.job_attempt_succeeded(job=attempt, result={}, now=now)


def run_of(schedule, due: str) -> ScheduleRun:
    return ScheduleRun.objects.get(schedule=schedule, due_at=at(due))


def test_a_run_failed_after_its_last_retry_alerts_once_and_a_later_success_says_back_to_normal(
        make_schedule, hook, django_capture_on_commit_callbacks, settings):
    settings.SITE_URL = "https://archive.example.lan"
    schedule = make_schedule(now=at("2026-05-01 12:00"))
    for day in (2, 3):  # two nights in a row: one incident
        tick.run_pass(now=at(f"2026-05-0{day} 02:00"))
        run = run_of(schedule, f"2026-05-0{day} 02:00")
        fail_for_good(run.jobs.get(), now=at(f"2026-05-0{day} 02:01"), capture=django_capture_on_commit_callbacks)
        send_all(now=at(f"2026-05-0{day} 03:00"))
    first = run_of(schedule, "2026-05-02 02:00")

    assert hook.titles == ["Channel archive: Schedule “Nightly backup” failed"]
    body = hook.messages[0]["message"]
    assert f"Run #{first.pk} (window 2026-05-02 02:00 UTC): 1 of 1 job failed after the last retry." in body
    assert "OSError: disk full" in body
    assert f"Details: https://archive.example.lan/schedules/runs/{first.pk}" in body

    tick.run_pass(now=at("2026-05-04 02:00"))
    succeed(run_of(schedule, "2026-05-04 02:00").jobs.get(), now=at("2026-05-04 02:01"),
            capture=django_capture_on_commit_callbacks)
    send_all(now=at("2026-05-04 02:02"))

    assert hook.titles[1:] == ["Channel archive: back to normal: Schedule “Nightly backup” failed"]
    assert f"Run #{run_of(schedule, '2026-05-04 02:00').pk} succeeded." in hook.messages[1]["message"]
    assert Incident.objects.get().schedule_id == schedule.pk


def test_a_run_that_partly_failed_says_so(make_schedule, news_group, hook, django_capture_on_commit_callbacks):
    schedule = make_schedule(now=at("2026-05-01 12:00"), name="Sync News", task_type="QUICK_SYNC_GROUP",
                             params={"group_id": news_group.pk}, schedule_time="05:30")
    tick.run_pass(now=at("2026-05-02 05:30"))
    first, *others = run_of(schedule, "2026-05-02 05:30").jobs.order_by("pk")
    fail_for_good(first, now=at("2026-05-02 05:31"), capture=django_capture_on_commit_callbacks)
    for job in others:
        succeed(job, now=at("2026-05-02 05:40"), capture=django_capture_on_commit_callbacks)
    send_all(now=at("2026-05-02 06:00"))

    assert hook.titles == ["Channel archive: Schedule “Sync News” partly failed"]
    assert "1 of 3 jobs failed after the last retry. OSError: disk full" in hook.messages[0]["message"]


def test_a_manual_run_that_fails_is_no_incident(make_schedule, hook, django_capture_on_commit_callbacks):
    from scheduling import services

    schedule = make_schedule(now=at("2026-05-01 12:00"))
    run = services.schedule_run_now(schedule=schedule, now=at("2026-05-01 12:05"))
    fail_for_good(run.jobs.get(), now=at("2026-05-01 12:06"), capture=django_capture_on_commit_callbacks)

    assert send_all(now=at("2026-05-01 13:00")) == 0
    assert not Incident.objects.exists()


def test_the_alert_goes_only_to_the_channels_the_schedule_chose(make_schedule, webhook, smtp,
                                                                 django_capture_on_commit_callbacks):
    NotificationChannelFactory(name="Ops", target=webhook.url)
    mail = NotificationChannelFactory(name="Mail", target="ops@example.com")
    schedule = make_schedule(now=at("2026-05-01 12:00"), notify_channels=[mail.pk])
    tick.run_pass(now=at("2026-05-02 02:00"))
    fail_for_good(run_of(schedule, "2026-05-02 02:00").jobs.get(), now=at("2026-05-02 02:01"),
                  capture=django_capture_on_commit_callbacks)
    send_all(now=at("2026-05-02 03:00"))

    assert webhook.messages == []
    assert smtp.subjects == ["Channel archive: Schedule “Nightly backup” failed"]


def test_a_window_missed_past_its_grace_alerts_once_and_the_next_dispatched_window_resolves_it(make_schedule, hook):
    schedule = make_schedule(now=at("2026-05-01 12:00"), grace_minutes=60)
    tick.run_pass(now=at("2026-05-02 05:00"))  # three hours late: after downtime
    send_all(now=at("2026-05-02 05:00"))

    assert hook.titles == ["Channel archive: Schedule “Nightly backup” missed a window"]
    missed = run_of(schedule, "2026-05-02 02:00")
    assert f"Run #{missed.pk} (window 2026-05-02 02:00 UTC): Missed: 3 h 0 min late, past the grace period of 60 min." \
        in hook.messages[0]["message"]

    ScheduleRun.objects.update(outcome="succeeded")  # nothing still active
    tick.run_pass(now=at("2026-05-03 02:00"))
    send_all(now=at("2026-05-03 02:00"))

    assert hook.titles[1:] == ["Channel archive: back to normal: Schedule “Nightly backup” missed a window"]
    assert run_of(schedule, "2026-05-03 02:00").outcome == "dispatched"


def test_windows_skipped_three_times_in_a_row_alert_once(make_schedule, hook, django_capture_on_commit_callbacks):
    schedule = make_schedule(now=at("2026-05-01 12:00"), schedule_kind="interval", interval_minutes=5,
                             anchor_at=at("2026-05-01 12:00"), overlap_policy="skip")
    tick.run_pass(now=at("2026-05-01 12:05"))  # dispatched; its job stays queued (no worker)
    for minute in (10, 15):
        tick.run_pass(now=at(f"2026-05-01 12:{minute}"))
    assert send_all(now=at("2026-05-01 12:16")) == 0  # two skips: not yet

    tick.run_pass(now=at("2026-05-01 12:20"))
    tick.run_pass(now=at("2026-05-01 12:25"))
    send_all(now=at("2026-05-01 12:26"))
    assert hook.titles == ["Channel archive: Schedule “Nightly backup” skipped 3 windows in a row"]

    succeed(run_of(schedule, "2026-05-01 12:05").jobs.get(), now=at("2026-05-01 12:27"),
            capture=django_capture_on_commit_callbacks)
    tick.run_pass(now=at("2026-05-01 12:30"))
    send_all(now=at("2026-05-01 12:31"))
    assert hook.titles[1:] == ["Channel archive: back to normal: Schedule “Nightly backup” skipped 3 windows in a row"]


def test_a_run_that_could_not_dispatch_alerts(make_schedule, news_group, hook):
    schedule = make_schedule(now=at("2026-05-01 12:00"), name="Sync News", task_type="QUICK_SYNC_GROUP",
                             params={"group_id": news_group.pk}, schedule_time="05:30")
    news_group.delete()
    tick.run_pass(now=at("2026-05-02 05:30"))
    send_all(now=at("2026-05-02 05:31"))

    assert run_of(schedule, "2026-05-02 05:30").outcome == "dispatch_failed"
    assert hook.titles == ["Channel archive: Schedule “Sync News” could not dispatch"]


def test_an_incident_about_a_deleted_schedule_is_resolved(make_schedule, hook):
    from scheduling import services

    schedule = make_schedule(now=at("2026-05-01 12:00"))
    tick.run_pass(now=at("2026-05-02 05:00"))  # missed
    services.schedule_delete(schedule=schedule, now=at("2026-05-02 06:00"))
    alerts.watch_schedules(now=at("2026-05-02 06:00"), source=HeartbeatSource.LOOP)
    send_all(now=at("2026-05-02 06:00"))

    assert hook.titles[-1] == "Channel archive: back to normal: Schedule “Nightly backup” missed a window"
    assert "The schedule was deleted." in hook.messages[-1]["message"]


def test_a_pass_with_nothing_open_costs_one_more_query_whatever_its_windows(make_schedule,
                                                                           django_assert_num_queries):
    for n in range(5):
        make_schedule(now=at("2026-05-01 12:00"), name=f"Backup {n}")
    tick.run_pass(now=at("2026-05-02 02:00"))
    runs = list(ScheduleRun.objects.select_related("schedule"))

    with django_assert_num_queries(1):
        alerts.windows_decided(runs=runs, now=at("2026-05-02 02:00"))


# --- the processes watch each other ---------------------------------------------------------------

def beat(source: str, at_: dt.datetime, name: str = "host:1") -> None:
    SchedulerHeartbeat.objects.update_or_create(name=name, defaults={"source": source, "last_pass_at": at_})


def test_the_safety_net_alerts_once_when_the_loop_has_been_silent_for_minutes(hook, settings):
    settings.NOTIFY_SCHEDULER_STOPPED_AFTER_SECONDS = 180
    beat(HeartbeatSource.LOOP, at("2026-05-01 12:00"))
    beat(HeartbeatSource.SAFETY_NET, at("2026-05-01 12:05"), name="qcluster safety net")

    alerts.watch_processes(now=at("2026-05-01 12:03"), source=HeartbeatSource.SAFETY_NET)
    assert send_all(now=at("2026-05-01 12:03")) == 0  # three minutes: a restart, not an incident

    for minute in (4, 5, 6):
        alerts.watch_processes(now=at(f"2026-05-01 12:0{minute}"), source=HeartbeatSource.SAFETY_NET)
    send_all(now=at("2026-05-01 12:06"))
    assert hook.titles == ["Channel archive: The scheduler has stopped"]
    assert "schedule_tick has not passed for 4 min" in hook.messages[0]["message"]

    beat(HeartbeatSource.LOOP, at("2026-05-01 12:07"))  # it is back; the safety net sees it
    alerts.watch_processes(now=at("2026-05-01 12:07"), source=HeartbeatSource.SAFETY_NET)
    send_all(now=at("2026-05-01 12:07"))
    assert hook.titles[1:] == ["Channel archive: back to normal: The scheduler has stopped"]


def test_the_scheduler_alerts_once_when_no_worker_cluster_has_been_alive_for_minutes(hook, settings):
    settings.NOTIFY_WORKERS_DOWN_AFTER_SECONDS = 120
    cache.delete(alerts.WORKERS_MISSING_SINCE)  # no cluster runs in this test: none is alive

    alerts.watch_processes(now=at("2026-05-01 12:00"), source=HeartbeatSource.LOOP)
    alerts.watch_processes(now=at("2026-05-01 12:01"), source=HeartbeatSource.LOOP)
    assert send_all(now=at("2026-05-01 12:01")) == 0

    alerts.watch_processes(now=at("2026-05-01 12:02"), source=HeartbeatSource.LOOP)
    alerts.watch_processes(now=at("2026-05-01 12:03"), source=HeartbeatSource.ONCE)
    send_all(now=at("2026-05-01 12:03"))
    assert hook.titles == ["Channel archive: No worker is running"]
    assert "since 2026-05-01 12:00 UTC" in hook.messages[0]["message"]

    # A cluster is back: its safety net says so (and sees the scheduler passing).
    beat(HeartbeatSource.LOOP, at("2026-05-01 12:04"))
    alerts.watch_processes(now=at("2026-05-01 12:04"), source=HeartbeatSource.SAFETY_NET)
    send_all(now=at("2026-05-01 12:04"))
    assert hook.titles[1:] == ["Channel archive: back to normal: No worker is running"]
    cache.delete(alerts.WORKERS_MISSING_SINCE)


# --- a deleted channel is forgotten ---------------------------------------------------------------

def test_a_deleted_channel_leaves_the_schedules_that_chose_it(make_schedule, django_capture_on_commit_callbacks):
    kept, deleted = NotificationChannelFactory(name="Kept"), NotificationChannelFactory(name="Deleted")
    deleted_id = deleted.pk
    both = make_schedule(now=at("2026-05-01 12:00"), name="Both", notify_channels=[kept.pk, deleted_id])
    only = make_schedule(now=at("2026-05-01 12:00"), name="Only", notify_channels=[deleted_id])
    other = make_schedule(now=at("2026-05-01 12:00"), name="Other", notify_channels=[kept.pk])

    with django_capture_on_commit_callbacks(execute=True):
        notify.channel_delete(channel=deleted)

    assert ScheduledTask.objects.get(pk=both.pk).notify_channels == [kept.pk]
    assert ScheduledTask.objects.get(pk=only.pk).notify_channels == []  # all channels from now on
    assert ScheduledTask.objects.get(pk=other.pk).notify_channels == [kept.pk]
    entry = both.audit_entries.latest("at")
    assert entry.changes == {"notify_channels": [[kept.pk, deleted_id], [kept.pk]],
                             "reason": f"notification channel #{deleted_id} deleted"}
    assert entry.via == "system"


def test_an_alert_that_cannot_be_written_leaves_the_runs_and_the_schedule_as_they_should_be(
        make_schedule, monkeypatch, caplog, django_capture_on_commit_callbacks):
    def broken(**kwargs):
        raise RuntimeError("the notifications' tables are gone")

    monkeypatch.setattr(alerts, "incident_open", broken)
    schedule = make_schedule(now=at("2026-05-01 12:00"), grace_minutes=60)
    tick.run_pass(now=at("2026-05-02 05:00"))  # missed: the pass goes on
    ScheduleRun.objects.update(outcome="succeeded")
    tick.run_pass(now=at("2026-05-03 02:00"))
    fail_for_good(run_of(schedule, "2026-05-03 02:00").jobs.get(), now=at("2026-05-03 02:01"),
                  capture=django_capture_on_commit_callbacks)

    assert run_of(schedule, "2026-05-03 02:00").outcome == "failed"
    schedule.refresh_from_db()
    assert (schedule.last_outcome, schedule.next_run_at) == ("failed", at("2026-05-04 02:00"))
    assert "Alerts: windows_decided failed" in caplog.text and "Alerts: run_settled failed" in caplog.text


def test_workers_seen_again_by_the_safety_net_start_the_next_count_afresh(hook, settings):
    settings.NOTIFY_WORKERS_DOWN_AFTER_SECONDS = 120
    cache.delete(alerts.WORKERS_MISSING_SINCE)
    alerts.watch_processes(now=at("2026-05-01 12:00"), source=HeartbeatSource.LOOP)  # none alive: counting
    beat(HeartbeatSource.LOOP, at("2026-05-01 12:01"))
    alerts.watch_processes(now=at("2026-05-01 12:01"), source=HeartbeatSource.SAFETY_NET)  # a cluster is alive

    alerts.watch_processes(now=at("2026-05-01 13:00"), source=HeartbeatSource.LOOP)  # gone again: from now
    send_all(now=at("2026-05-01 13:00"))

    assert hook.messages == []
    cache.delete(alerts.WORKERS_MISSING_SINCE)
