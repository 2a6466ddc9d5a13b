"""QUICK_SYNC when this server cannot reach the feed at all: a host name that does not resolve (the
reserved `.invalid` top-level domain) and a port nobody listens on. Real sockets, no mocks: the
words say which host was tried and that this server could not get there, never that YouTube's feed
is down, and never that a retry will come once none will.
"""

import datetime as dt

import pytest
from django.utils import timezone

from channels import services
from channels.models import Channel, GroupSync, SyncOutcome
from jobs.models import Job, JobStatus
from jobs.services import job_enqueue
from tests.channels.conftest import FIXTURE_CHANNEL, release_retries
from tests.factories import ChannelFactory, ChannelGroupFactory
from tests.servers import free_port

pytestmark = pytest.mark.django_db

UTC = dt.timezone.utc
NO_WAY_OUT = "(no DNS or no internet?)"


@pytest.fixture
def no_dns(settings):
    """The feed at a name no resolver knows (RFC 6761 reserves `.invalid`)."""
    settings.YOUTUBE_FEED_URL = "http://feeds.archive-test.invalid/feeds/videos.xml?channel_id={channel_id}"
    settings.CHANNEL_FEED_CONNECT_TIMEOUT_SECONDS = 2
    return "feeds.archive-test.invalid"


@pytest.fixture
def refused(settings):
    """The feed on a local port nothing listens on: the connection is refused at once."""
    port = free_port()
    settings.YOUTUBE_FEED_URL = f"http://127.0.0.1:{port}/feeds/videos.xml?channel_id={{channel_id}}"
    return f"127.0.0.1:{port}"


@pytest.fixture
def group(db):
    return ChannelGroupFactory(name="News")


def page(client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200
    return response.content.decode()


def sync_until_given_up(channel, run_jobs) -> tuple[GroupSync, Job, list[str]]:
    """Sync now of one channel, its retries released until the job fails; the error after each attempt."""
    group_sync = services.channel_sync_now(channel=channel, now=timezone.now())
    [job] = run_jobs(Job.objects.filter(params__group_sync_id=group_sync.pk))
    errors = [job.error]
    while job.status == JobStatus.RETRY_WAIT:
        [job] = release_retries(run_jobs)
        errors.append(job.error)
    group_sync.refresh_from_db()
    channel.refresh_from_db()
    return group_sync, job, errors


def test_it_says_this_server_could_not_look_up_the_host(no_dns, group, run_jobs):
    channel = ChannelFactory(youtube_id=FIXTURE_CHANNEL, title="Legal Eagle", group=group)

    group_sync, job, errors = sync_until_given_up(channel, run_jobs)

    said = f"This server could not reach {no_dns} {NO_WAY_OUT}: its name could not be looked up"
    assert all(said in error for error in errors) and len(errors) == 4  # every attempt: the first and 3 retries
    assert job.status == JobStatus.FAILED
    assert said in channel.last_error and channel.last_outcome == SyncOutcome.UNREACHABLE
    # The network of this server, not the channel: no backoff for it.
    assert (channel.consecutive_failures, channel.next_attempt_at) == (0, None)
    assert "unreachable" == group_sync.results.get().outcome


def test_it_says_the_connection_was_refused_and_names_the_port_it_tried(refused, group, run_jobs):
    channel = ChannelFactory(youtube_id=FIXTURE_CHANNEL, group=group)

    _, job, _ = sync_until_given_up(channel, run_jobs)

    assert (f"This server could not reach {refused} {NO_WAY_OUT}: the connection was refused"
            in job.error)
    assert f"could not reach {refused}" in job.attempt_log[-1]["error"]


def test_no_message_promises_a_retry(refused, group, run_jobs, staff_client):
    """Whether a retry comes is the job's to say (its status, its next attempt); a stored message
    cannot know, so it never says so, and the last attempt's page says none will come."""
    channel = ChannelFactory(youtube_id=FIXTURE_CHANNEL, group=group)

    _, job, errors = sync_until_given_up(channel, run_jobs)

    assert not any("retry" in error.lower() for error in errors)
    assert "retry" not in channel.last_error.lower()
    html = page(staff_client, f"/channels/{channel.pk}")
    assert f"could not reach {refused}" in html and "will retry" not in html.lower()
    html = page(staff_client, f"/jobs/{job.pk}")
    assert "will retry" not in html.lower() and "next attempt" not in html


def test_a_group_this_server_cannot_reach_is_no_youtube_feed_outage(no_dns, group, run_jobs, make_schedule,
                                                                     staff_client):
    channels = [ChannelFactory(youtube_id=f"UC{n:022d}", group=group) for n in range(4)]
    schedule = make_schedule(now=dt.datetime(2026, 5, 1, 12, 0, tzinfo=UTC), name="Sync News",
                             task_type="QUICK_SYNC_GROUP", params={"group_id": group.pk}, schedule_time="05:30")
    from scheduling import tick

    tick.run_pass(now=dt.datetime(2026, 5, 2, 5, 30, tzinfo=UTC))
    run = schedule.runs.get()
    run_jobs(run.jobs.order_by("pk"))
    while Job.objects.filter(status=JobStatus.RETRY_WAIT).exists():
        release_retries(run_jobs)

    group_sync = GroupSync.objects.get(group=group)
    assert (group_sync.synced, group_sync.failed, group_sync.outage) == (0, 4, False)
    said = f"This server could not reach {no_dns} {NO_WAY_OUT}"
    assert group_sync.note.startswith("4 of 4 channels got no answer, not counted against them: " + said)
    assert "outage" not in group_sync.note.lower() and "outage" not in group_sync.summary.lower()
    run.refresh_from_db()
    assert said in run.message and "outage" not in run.message.lower()
    for channel in Channel.objects.filter(pk__in=[c.pk for c in channels]):
        assert channel.last_outcome == SyncOutcome.UNREACHABLE
        assert (channel.consecutive_failures, channel.next_attempt_at) == (0, None)
    group.refresh_from_db()
    assert group.last_outage_at is None
    for path in (f"/channels/{channels[0].pk}", "/channels"):
        html = page(staff_client, path)
        assert said in html and "YouTube feed outage" not in html, path


def test_a_job_made_by_hand_that_cannot_reach_the_feed_does_not_back_the_channel_off(refused, group, run_jobs):
    channel = ChannelFactory(youtube_id=FIXTURE_CHANNEL, group=group)
    job = job_enqueue(job_type="QUICK_SYNC", params={"channel_id": channel.pk}, now=timezone.now())

    [job] = run_jobs([job])

    channel.refresh_from_db()
    assert job.status == JobStatus.RETRY_WAIT and channel.last_outcome == SyncOutcome.UNREACHABLE
    assert (channel.consecutive_failures, channel.next_attempt_at) == (0, None)


@pytest.fixture
def unanswered(settings):
    """A local port whose listening socket never accepts, its queue already full: a new connection's
    handshake is never answered, as with a host that drops packets. Connecting hangs until timed out."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(3):  # the queue holds the backlog + 1; past it the kernel drops the handshake
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    settings.YOUTUBE_FEED_URL = f"http://127.0.0.1:{port}/feeds/videos.xml?channel_id={{channel_id}}"
    settings.CHANNEL_FEED_CONNECT_TIMEOUT_SECONDS = 0.3
    settings.CHANNEL_FEED_READ_TIMEOUT_SECONDS = 5
    yield f"127.0.0.1:{port}"
    for open_socket in (*fillers, listener):
        open_socket.close()


def test_it_says_connecting_took_too_long_after_the_connect_timeout(unanswered, group, run_jobs):
    channel = ChannelFactory(youtube_id=FIXTURE_CHANNEL, group=group)
    started = timezone.now()

    group_sync = services.channel_sync_now(channel=channel, now=timezone.now())
    [job] = run_jobs(Job.objects.filter(params__group_sync_id=group_sync.pk))

    assert timezone.now() - started < dt.timedelta(seconds=2)  # the 0.3 s connect timeout, not the 5 s read one
    assert job.status == JobStatus.RETRY_WAIT
    assert (f"This server could not reach {unanswered} {NO_WAY_OUT}: connecting took longer than 0.3 s."
            in job.error)
