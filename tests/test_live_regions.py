"""The live regions' "active?" decision, view by view (common.live): the watcher that polls is rendered
only while something the region shows may still change, and a run the user started gets its toast once,
with the region's refresh, when it ends."""

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from backups.models import Backup
from channels.models import GroupSync
from jobs import runner
from jobs.models import Job, JobStatus
from jobs.selectors import LIVE_WAIT
from scheduling import services as scheduling_services
from scheduling.models import RunOutcome
from tests.backups.conftest import sqlite_only
from tests.factories import ChannelFactory, ChannelGroupFactory, JobFactory, ScheduledTaskFactory, UserFactory, grant

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def client(db):
    user = grant(UserFactory(), "view_scheduledtask", "change_scheduledtask", "view_backup", "change_backup",
                 "view_channelgroup", "change_channelgroup", "view_channel", "change_channel", "view_job",
                 "change_job")
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def schedule(db, settings, tmp_path):
    settings.BACKUP_DIR = tmp_path / "backups"
    schedule = ScheduledTaskFactory(name="Nightly", params={"backup_type": "full", "retention_days": 30,
                                                            "cleanup_old": False, "force_backup": False,
                                                            "copy_offsite": False})
    return scheduling_services.schedule_save(schedule=schedule, now=timezone.now())


def html(client, path, **headers) -> str:
    response = client.get(path, **headers)
    assert response.status_code == 200
    return response.content.decode()


def watching(client, path, region) -> bool:
    return f'id="{region}-watch"' in html(client, path)


def work_off_queue(capture) -> None:
    """What a worker does with each queued job, its announcements included (they go out after commit)."""
    for job in Job.objects.filter(status=JobStatus.QUEUED).order_by("pk"):
        with capture(execute=True):
            runner.execute(job.pk)


# --- /schedules and /schedules/<id> -------------------------------------------------------------------

def test_schedules_watch_a_dispatched_run_until_it_ends(client, schedule, django_capture_on_commit_callbacks):
    for path, region in (("/schedules", "schedule-list"), (f"/schedules/{schedule.pk}", "schedule-summary")):
        assert not watching(client, path, region), path
    run = scheduling_services.schedule_run_now(schedule=schedule, now=timezone.now())
    assert run.outcome == RunOutcome.DISPATCHED
    for path, region in (("/schedules", "schedule-list"), (f"/schedules/{schedule.pk}", "schedule-summary")):
        assert watching(client, path, region), path

    # A run left dispatched long ago (its jobs wait for a worker that never came) is let go...
    run.__class__.objects.filter(pk=run.pk).update(created_at=timezone.now() - LIVE_WAIT - dt.timedelta(minutes=1))
    assert not watching(client, "/schedules", "schedule-list")
    # ...unless one of its jobs runs.
    run.jobs.update(status=JobStatus.RUNNING)
    assert watching(client, "/schedules", "schedule-list")


@sqlite_only
def test_run_now_from_the_page_is_toasted_once_when_it_ends(client, schedule, django_capture_on_commit_callbacks):
    client.post(f"/schedules/{schedule.pk}/run_now", **HTMX)
    assert "done" not in html(client, "/schedules", HTTP_HX_TARGET="schedule-list", **HTMX)

    work_off_queue(django_capture_on_commit_callbacks)

    refreshed = html(client, "/schedules", HTTP_HX_TARGET="schedule-list", **HTMX)
    assert "“Nightly” done: its job succeeded." in refreshed and 'hx-swap-oob="beforeend:#toasts"' in refreshed
    assert "schedule-list-watch" not in refreshed  # nothing left to watch: the polling ends
    assert "“Nightly” done" not in html(client, "/schedules", HTTP_HX_TARGET="schedule-list", **HTMX)


def test_a_full_page_load_shows_the_toast_as_a_message(client, schedule):
    client.post(f"/schedules/{schedule.pk}/run_now", **HTMX)
    run = schedule.runs.get()
    run.jobs.update(status=JobStatus.FAILED)
    run.__class__.objects.filter(pk=run.pk).update(outcome=RunOutcome.FAILED)

    page = html(client, f"/schedules/{schedule.pk}")
    assert '<div class="toast toast-error" role="alert">' in page and "“Nightly” failed: its job failed." in page


# --- /backups -----------------------------------------------------------------------------------------

@sqlite_only
def test_backups_watch_a_run_and_toast_the_backup_it_made(client, schedule, django_capture_on_commit_callbacks):
    assert "backups-region-watch" not in html(client, "/backups")
    client.post(f"/backups/schedule/{schedule.pk}/run_now", **HTMX)
    assert 'id="backups-region-watch"' in html(client, "/backups", HTTP_HX_TARGET="backups-region", **HTMX)

    work_off_queue(django_capture_on_commit_callbacks)

    backup = Backup.objects.get()
    refreshed = html(client, "/backups", HTTP_HX_TARGET="backups-region", **HTMX)
    assert f"Backup #{backup.pk} done: " in refreshed and ", verified." in refreshed
    assert "backups-region-watch" not in refreshed


# --- /channels and /channels/<id> -------------------------------------------------------------------

def test_channels_toast_a_sync_started_here_when_it_ends(client):
    group = ChannelGroupFactory(name="News")
    for _ in range(3):
        ChannelFactory(group=group)
    client.post(f"/channels/groups/{group.pk}/sync", **HTMX)
    assert 'id="group-list-watch"' in html(client, "/channels", HTTP_HX_TARGET="group-list", **HTMX)

    GroupSync.objects.update(finished_at=timezone.now(), synced=2, failed=1, new_videos=5)

    refreshed = html(client, "/channels", HTTP_HX_TARGET="group-list", **HTMX)
    assert "Sync of News: 3 channels, 5 new videos, 1 failed." in refreshed
    assert "group-list-watch" not in refreshed


def test_a_channels_page_watches_only_its_own_sync_jobs(client):
    channel, other = ChannelFactory(title="Tagesschau"), ChannelFactory()
    path = f"/channels/{channel.pk}"
    assert not watching(client, path, "channel-summary")
    job = JobFactory(job_type="QUICK_SYNC", status=JobStatus.QUEUED, params={"channel_id": other.pk})
    assert not watching(client, path, "channel-summary")
    Job.objects.filter(pk=job.pk).update(params={"channel_id": channel.pk, "group_id": None})
    assert watching(client, path, "channel-summary")
    Job.objects.filter(pk=job.pk).update(status=JobStatus.COMPLETED)
    assert not watching(client, path, "channel-summary")


# --- /jobs and /jobs/<id> ------------------------------------------------------------------------------

@pytest.mark.parametrize(("status", "available", "live"), [
    (JobStatus.RUNNING, dt.timedelta(hours=-5), True),
    (JobStatus.QUEUED, dt.timedelta(minutes=-1), True),
    (JobStatus.QUEUED, -LIVE_WAIT - dt.timedelta(minutes=1), False),  # waits for a worker that is not coming
    (JobStatus.RETRY_WAIT, dt.timedelta(minutes=2), True),
    (JobStatus.COMPLETED, dt.timedelta(0), False),
    (JobStatus.FAILED, dt.timedelta(0), False),
    (JobStatus.CANCELLED, dt.timedelta(0), False),
])
def test_jobs_pages_watch_live_jobs_only(client, status, available, live):
    job = JobFactory(job_type="TEST_OK", status=status, available_at=timezone.now() + available)

    assert watching(client, "/jobs", "jobs-region") is live
    assert watching(client, f"/jobs/{job.pk}", "job-detail") is live


def test_a_retry_from_the_page_is_followed_until_the_job_ends(client):
    job = JobFactory(job_type="TEST_OK", status=JobStatus.FAILED, attempts=1, max_retries=3,
                     available_at=timezone.now() - dt.timedelta(hours=2))
    response = client.post(f"/jobs/{job.pk}/retry", **HTMX)
    assert response.headers["HX-Reswap"] == "none" and "jobs-changed" in response.headers["HX-Trigger"]
    assert f"Job #{job.pk} queued again." in response.content.decode()

    Job.objects.filter(pk=job.pk).update(status=JobStatus.FAILED, error="Traceback (most recent call last):\n"
                                         "  File x\nValueError: the feed is gone")
    # It failed again: not live by itself, but the user who retried hears how it ended, once.
    refreshed = html(client, "/jobs", **HTMX)
    assert f"Job #{job.pk} (Test: succeeds) failed: ValueError: the feed is gone" in refreshed
    assert "jobs-region-watch" not in html(client, "/jobs", **HTMX)


def test_a_retry_without_javascript_goes_back_to_the_page(client):
    job = JobFactory(job_type="TEST_OK", status=JobStatus.FAILED)

    response = client.post(f"/jobs/{job.pk}/retry", {"_next": "/jobs?status=failed"})

    assert response.status_code == 302 and response.url == "/jobs?status=failed"
