"""The QUICK_SYNC job handler through the real runner: the params it refuses at once, naming them; a
job made by hand or by an older version (no group sync) synced all the same; and how long a hung
sync holds its job before the maintenance pass takes it back."""

import datetime as dt

import pytest
from django.utils import timezone

from channels import feed
from channels.models import Video
from jobs import maintenance, runner
from jobs.models import JobStatus
from jobs.services import job_enqueue
from tests.channels.conftest import FIXTURE_CHANNEL, feed_for
from tests.factories import ChannelFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def channel(db):
    return ChannelFactory(youtube_id=FIXTURE_CHANNEL, title="Legal Eagle")


def run_quick_sync(params, run_jobs):
    [job] = run_jobs([job_enqueue(job_type="QUICK_SYNC", params=params, now=timezone.now())])
    return job


@pytest.mark.parametrize(("params", "error"), [
    ({}, "channel_id: expected a channel's numeric id, got None."),
    ({"channel_id": "7"}, "channel_id: expected a channel's numeric id, got '7'."),
    ({"channel_id": True}, "channel_id: expected a channel's numeric id, got True."),
    (["channel_id", 7], "channel_id: expected a channel's numeric id, got None."),
    ({"channel_id": "CHANNEL", "group_sync_id": "3"}, "group_sync_id: expected a number or nothing, got '3'."),
    ({"channel_id": "CHANNEL", "group_sync_id": True}, "group_sync_id: expected a number or nothing, got True."),
])
@pytest.mark.feed_server  # were a param let through, its sync would ask the local server, not YouTube
def test_a_job_with_params_it_cannot_use_fails_at_once_naming_the_param(params, error, feeds, channel, run_jobs):
    if isinstance(params, dict) and params.get("channel_id") == "CHANNEL":
        params = {**params, "channel_id": channel.pk}  # a channel that exists: only group_sync_id is wrong

    job = run_quick_sync(params, run_jobs)

    assert (job.status, job.failed_permanently, job.attempts, job.error) == (JobStatus.FAILED, True, 1, error)
    channel.refresh_from_db()
    assert channel.last_checked_at is None and not Video.objects.exists()


@pytest.mark.feed_server
def test_a_job_without_a_group_sync_syncs_its_channel(feeds, channel, run_jobs):
    feeds.serve(FIXTURE_CHANNEL, feed_for())

    job = run_quick_sync({"channel_id": channel.pk}, run_jobs)

    assert job.status == JobStatus.COMPLETED, job.error
    assert Video.objects.filter(channel=channel).count() == 15


def test_a_hung_sync_is_taken_back_within_minutes_but_not_before_its_feed_could_arrive(channel,
                                                                                      quick_sync_handler):
    job = job_enqueue(job_type="QUICK_SYNC", params={"channel_id": channel.pk}, now=timezone.now())
    started = runner.claim(job.pk, worker="gone:1", now=timezone.now()).started_at
    whole_feed = dt.timedelta(seconds=feed.SETTINGS.get("CHANNEL_FEED_TOTAL_SECONDS"))

    # Still within the time a feed may take to arrive in full (plus the reaper's margin): left alone.
    assert maintenance.jobs_reap_lost(now=started + 2 * whole_feed) == 0
    # A worker killed mid-sync holds the channel's job for minutes, not the hour a backup may take.
    assert maintenance.jobs_reap_lost(now=started + dt.timedelta(minutes=5)) == 1
    job.refresh_from_db()
    assert job.status == JobStatus.RETRY_WAIT and "past its time limit" in job.error
