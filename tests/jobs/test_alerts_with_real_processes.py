"""The stale-backup and stopped-process alerts from real processes: `schedule_tick --loop` and `qcluster`,
one of them stopped, each watching the other. The alerts go to a local endpoint (Apprise's json://)."""

import datetime as dt
import time
from importlib import import_module

import pytest
from django.apps import apps
from django.utils import timezone

from tests.factories import BackupFactory, NotificationChannelFactory
from tests.servers import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

DAY = dt.timedelta(days=1)


@pytest.fixture
def hook(webhook):
    NotificationChannelFactory(name="Ops", target=webhook.url)
    return webhook


def arrives(hook, title: str, *, timeout: float, process=None) -> None:
    wait_until(lambda: f"Channel archive: {title}" in hook.titles, timeout=timeout, interval=0.2,
               message=f"no alert “{title}”; got {hook.titles}", details=process.log if process else None)


def test_the_scheduler_alerts_stale_backups_and_no_workers_and_says_when_they_are_back(
        hook, make_schedule, start_process, start_cluster):
    now = timezone.now()
    # A daily backup schedule (disabled: this test makes no backup) and a good backup three days old.
    make_schedule(now=now - 30 * DAY, name="Nightly backup", enabled=False)
    BackupFactory(started_at=now - 3 * DAY)

    scheduler = start_process("scheduler", "schedule_tick", "--loop")
    arrives(hook, "No good backup for 3 d", timeout=20, process=scheduler)
    arrives(hook, "No worker is running", timeout=20, process=scheduler)

    start_cluster()
    arrives(hook, "back to normal: No worker is running", timeout=20, process=scheduler)
    BackupFactory(started_at=timezone.now())
    arrives(hook, "back to normal: No good backup for 3 d", timeout=20, process=scheduler)

    time.sleep(3)  # the watches run every second: still one message per incident and event
    assert sorted(hook.titles) == sorted([
        "Channel archive: No good backup for 3 d", "Channel archive: No worker is running",
        "Channel archive: back to normal: No worker is running",
        "Channel archive: back to normal: No good backup for 3 d"])
    assert "Start one: manage.py qcluster." in hook.messages[hook.titles.index("Channel archive: No worker is running")][
        "message"]


def test_the_workers_safety_net_alerts_when_the_scheduler_stopped_and_the_scheduler_says_it_is_back(
        hook, cluster, start_process, scheduler):
    # The cluster starts first (fixture order): a loop started before it would rightly say, under load,
    # that no worker runs.
    import_module("scheduling.migrations.0002_safety_net_schedule").create(apps, None)
    scheduler.popen.kill()  # the loop dies without a word

    # django-q2 looks for due schedules 30 s after the cluster starts, then every 30 s.
    arrives(hook, "The scheduler has stopped", timeout=90)
    stopped = hook.messages[hook.titles.index("Channel archive: The scheduler has stopped")]["message"]
    assert "schedule_tick has not passed for" in stopped and "manage.py schedule_tick --loop" in stopped

    again = start_process("scheduler", "schedule_tick", "--loop")
    arrives(hook, "back to normal: The scheduler has stopped", timeout=20, process=again)
    assert hook.titles.count("Channel archive: The scheduler has stopped") == 1
    assert "No worker is running" not in " ".join(hook.titles)
