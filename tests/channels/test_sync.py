"""QUICK_SYNC against a real local feed server: creating, updating, keeping, and every way a feed fails."""

import datetime as dt
import time

import pytest
from django.utils import timezone
from werkzeug import Response

from channels import services, sync
from channels.messages import sync_now_message
from channels.models import Channel, ChannelGroup, ChannelSync, GroupSync, SyncOutcome, Video
from channels.selectors import channel_status
from jobs import runner
from jobs.models import Job, JobStatus
from jobs.services import job_enqueue
from tests.channels.conftest import FIXTURE_CHANNEL, feed_for, fixture, release_retries, video_ids, writes_to
from tests.factories import ChannelFactory, ChannelGroupFactory

pytestmark = [pytest.mark.django_db, pytest.mark.feed_server]

UTC = dt.timezone.utc


@pytest.fixture
def group(db):
    return ChannelGroupFactory(name="News")


@pytest.fixture
def channel(group):
    return ChannelFactory(youtube_id=FIXTURE_CHANNEL, title=FIXTURE_CHANNEL, group=group)


def sync_one(channel, run_jobs) -> tuple[GroupSync, Job]:
    group_sync = services.channel_sync_now(channel=channel, now=timezone.now())
    [job] = run_jobs(Job.objects.filter(params__group_sync_id=group_sync.pk))
    group_sync.refresh_from_db()
    channel.refresh_from_db()
    return group_sync, job


def ids(n_channels: int, group) -> list[Channel]:
    return [ChannelFactory(youtube_id=f"UC{'x' * 19}{n:03d}", group=group) for n in range(n_channels)]


# --------------------------------------------------------------------------- the happy paths


def test_it_creates_the_videos_of_a_first_sync(feeds, channel, run_jobs):
    feeds.serve(FIXTURE_CHANNEL, feed_for())

    group_sync, job = sync_one(channel, run_jobs)

    assert job.status == JobStatus.COMPLETED, job.error
    assert job.result["new"] == 15 and job.result["updated"] == 0
    assert Video.objects.filter(channel=channel).count() == 15
    assert set(Video.objects.values_list("youtube_id", flat=True)) == set(video_ids())
    shorts = set(Video.objects.filter(is_short=True).values_list("youtube_id", flat=True))
    assert shorts == {"Xk3vP9qLm05", "Xk3vP9qLm09", "Xk3vP9qLm13"}
    assert Video.objects.filter(is_short__isnull=True).count() == 12  # a watch link does not say
    video = Video.objects.get(youtube_id="Xk3vP9qLm03")
    assert video.title == "東京からの報告: 新しい鉄道路線"
    assert video.published_at == dt.datetime(2026, 11, 30, 4, 0, tzinfo=UTC)
    assert video.feed_updated_at == dt.datetime(2026, 11, 30, 4, 42, tzinfo=UTC)
    assert video.url == "https://www.youtube.com/watch?v=Xk3vP9qLm03"
    assert video.thumbnail_url == "https://i3.ytimg.com/vi/Xk3vP9qLm03/hqdefault.jpg"
    assert video.view_count == 1000 * 13 + 2 * 7
    assert 'Sources & links: https://example.org/?a=1&b=2' in video.description
    assert 'Quote: "facts first" — the editors <3 📰' in video.description
    assert Video.objects.get(youtube_id="Xk3vP9qLm04").title == 'Why courts say "no" to <cameras> in the courtroom'
    assert channel.title == "Fixture News — Weltnachrichten"  # filled in from the feed
    assert (channel.last_outcome, channel.last_http_status, channel.last_new_count) == ("synced", 200, 15)
    assert channel.last_success_at == channel.last_checked_at and channel.feed_sha256
    assert (group_sync.synced, group_sync.failed, group_sync.new_videos) == (1, 0, 15)
    [request] = feeds.requests_for(FIXTURE_CHANNEL)
    assert request.headers["User-Agent"].startswith("archive-scheduler/")


def test_it_writes_no_video_when_the_same_feed_comes_again(feeds, channel, run_jobs):
    feeds.serve(FIXTURE_CHANNEL, feed_for())
    sync_one(channel, run_jobs)
    before = list(Video.objects.order_by("pk").values())

    with writes_to("channels_video") as writes:
        group_sync, job = sync_one(channel, run_jobs)

    assert writes.count == 0
    # The body's hash matched: not parsed, and the videos not even read.
    assert not [q for q in writes.captured_queries if '"channels_video"' in q["sql"]]
    assert list(Video.objects.order_by("pk").values()) == before
    assert {k: job.result[k] for k in ("outcome", "http_status", "new", "updated")} == {
        "outcome": "unchanged", "http_status": 200, "new": 0, "updated": 0}
    assert channel.last_outcome == SyncOutcome.UNCHANGED
    assert (group_sync.synced, group_sync.new_videos) == (1, 0)


def test_a_sync_records_its_jobs_success_with_its_own_writes(feeds, channel, run_jobs, monkeypatch):
    # The runner's own success write must not be needed: channels.sync calls the function it imported,
    # this replaces the one the runner calls.
    def runner_records_it(**kwargs):
        raise AssertionError("the runner had to record the success: the sync's last transaction did not")

    monkeypatch.setattr(runner.services, "job_attempt_succeeded", runner_records_it)
    feeds.serve(FIXTURE_CHANNEL, feed_for())

    _, first = sync_one(channel, run_jobs)
    _, again = sync_one(channel, run_jobs)

    assert (first.status, first.result["outcome"], first.result["new"]) == (JobStatus.COMPLETED, "synced", 15)
    assert (again.status, again.result["outcome"]) == (JobStatus.COMPLETED, "unchanged")
    assert first.started_at <= first.finished_at <= again.started_at <= again.finished_at
    assert [entry["outcome"] for entry in again.attempt_log] == ["completed"]


def test_it_updates_a_changed_entry_instead_of_duplicating_it(feeds, channel, run_jobs):
    feeds.serve(FIXTURE_CHANNEL, feed_for(), oneshot=True)
    sync_one(channel, run_jobs)
    changed = feed_for().replace(b"<title>Live Q&amp;A with our correspondents</title>",
                                 b"<title>Live Q&amp;A with our correspondents (replay)</title>")
    assert changed != feed_for()
    feeds.serve(FIXTURE_CHANNEL, changed, oneshot=True)

    _, job = sync_one(channel, run_jobs)

    assert (job.result["new"], job.result["updated"]) == (0, 1)
    assert Video.objects.count() == 15
    assert Video.objects.get(youtube_id="Xk3vP9qLm07").title == "Live Q&A with our correspondents (replay)"


def test_it_keeps_a_video_that_a_later_feed_no_longer_lists(feeds, channel, run_jobs):
    feeds.serve(FIXTURE_CHANNEL, feed_for(), oneshot=True)
    sync_one(channel, run_jobs)
    # The feed lists the newest 15: a new video pushes the oldest out.
    body = feed_for().decode()
    oldest = body.rindex(" <entry>")
    later = (body[:oldest] + "</feed>\n").replace("Xk3vP9qLm01", "NewVideo001")
    feeds.serve(FIXTURE_CHANNEL, later.encode(), oneshot=True)

    _, job = sync_one(channel, run_jobs)

    assert job.status == JobStatus.COMPLETED, job.error
    assert (job.result["new"], job.result["entries"]) == (1, 14)
    assert Video.objects.count() == 16
    assert Video.objects.filter(youtube_id="Xk3vP9qLm15").exists()  # gone from the feed, kept here


def test_it_asks_conditionally_when_the_server_sends_validators_and_a_304_changes_nothing(feeds, channel, run_jobs):
    etag, modified = '"feed-v1"', "Mon, 30 Nov 2026 18:00:00 GMT"

    def handler(request):
        if request.headers.get("If-None-Match") == etag:
            return Response(status=304, headers={"ETag": etag})
        return Response(feed_for(), status=200, headers={"ETag": etag, "Last-Modified": modified},
                        content_type="application/atom+xml")

    feeds.serve_handler(FIXTURE_CHANNEL, handler)
    sync_one(channel, run_jobs)
    assert (channel.feed_etag, channel.feed_last_modified) == (etag, modified)
    before = list(Video.objects.order_by("pk").values())

    with writes_to("channels_video") as writes:
        group_sync, job = sync_one(channel, run_jobs)

    first, second = feeds.requests_for(FIXTURE_CHANNEL)
    assert "If-None-Match" not in first.headers
    assert (second.headers["If-None-Match"], second.headers["If-Modified-Since"]) == (etag, modified)
    assert job.result["http_status"] == 304 and job.result["outcome"] == "unchanged"
    assert writes.count == 0 and list(Video.objects.order_by("pk").values()) == before
    assert channel.feed_etag == etag and group_sync.synced == 1


def test_it_skips_entries_of_another_channel_and_repeated_entries(feeds, channel, run_jobs):
    body = feed_for().decode()
    first_entry = body[body.index(" <entry>"):body.index("</entry>") + len("</entry>")]
    stranger = first_entry.replace("Xk3vP9qLm01", "Stranger001").replace(
        f"<yt:channelId>{FIXTURE_CHANNEL}</yt:channelId>", "<yt:channelId>UCsomeoneElse0000000000a</yt:channelId>")
    body = body.replace("</feed>", first_entry + "\n" + stranger + "\n</feed>")
    feeds.serve(FIXTURE_CHANNEL, body.encode())

    _, job = sync_one(channel, run_jobs)

    assert (job.result["new"], job.result["entries_skipped"]) == (15, 2)
    assert not Video.objects.filter(youtube_id="Stranger001").exists()


# --------------------------------------------------------------------------- failures of one channel


def test_it_fails_a_channel_whose_feed_is_404_and_backs_it_off(feeds, group, run_jobs):
    healthy = ids(3, group)
    gone = ChannelFactory(youtube_id="UCgone0000000000000000aa", group=group)
    for n, channel in enumerate(healthy):
        feeds.serve(channel.youtube_id, feed_for(channel.youtube_id, prefix=f"Ch{n}aaaaaa"))
    feeds.serve(gone.youtube_id, b"Not Found", status=404, content_type="text/plain")

    group_sync = services.group_sync_now(group=group, now=timezone.now())
    jobs = run_jobs()

    failed = [job for job in jobs if job.status == JobStatus.FAILED]
    assert [job.params["channel_id"] for job in failed] == [gone.pk]
    assert failed[0].failed_permanently and "404" in failed[0].error
    gone.refresh_from_db()
    assert (gone.last_outcome, gone.last_http_status, gone.consecutive_failures) == ("not_found", 404, 1)
    assert gone.next_attempt_at > gone.last_checked_at
    assert gone.enabled  # never disabled automatically
    group_sync.refresh_from_db()
    assert (group_sync.synced, group_sync.failed, group_sync.outage) == (3, 1, False)
    assert group_sync.new_videos == 45


@pytest.mark.parametrize("status", [404, 503])
def test_it_calls_most_of_a_group_failing_a_feed_outage_and_blames_no_channel(feeds, group, run_jobs, make_schedule,
                                                                               status):
    channels = ids(5, group)
    feeds.serve(channels[0].youtube_id, feed_for(channels[0].youtube_id, prefix="Ch0aaaaaa"))
    for channel in channels[1:]:
        feeds.serve(channel.youtube_id, b"", status=status)
    schedule = make_schedule(now=dt.datetime(2026, 5, 1, 12, 0, tzinfo=UTC), name="Sync News",
                             task_type="QUICK_SYNC_GROUP", params={"group_id": group.pk}, schedule_time="05:30")
    from scheduling import tick

    tick.run_pass(now=dt.datetime(2026, 5, 2, 5, 30, tzinfo=UTC))
    run = schedule.runs.get()
    run_jobs(run.jobs.order_by("pk"))
    while Job.objects.filter(status=JobStatus.RETRY_WAIT).exists():  # a 5xx is retried first
        release_retries(run_jobs)

    group_sync = GroupSync.objects.get(group=group)
    assert group_sync.schedule_run == run
    assert (group_sync.synced, group_sync.failed, group_sync.outage) == (1, 4, True)
    assert "Feed outage: 4 of 5 channels" in group_sync.note
    for channel in Channel.objects.filter(pk__in=[c.pk for c in channels[1:]]):
        assert (channel.consecutive_failures, channel.next_attempt_at) == (0, None)
        assert channel.last_outcome == SyncOutcome.FEED_OUTAGE and channel.enabled
    run.refresh_from_db()
    assert "Feed outage: 4 of 5 channels" in run.message
    group.refresh_from_db()
    assert group.last_outage_at is not None and group.last_sync == group_sync


@pytest.mark.parametrize("status", [403, 429])
def test_it_stops_the_group_run_and_cools_down_on_403_or_429(feeds, group, run_jobs, status):
    first, *rest = ids(3, group)
    feeds.serve(first.youtube_id, b"slow down", status=status, headers={"Retry-After": "600"})
    for channel in rest:
        feeds.serve(channel.youtube_id, feed_for(channel.youtube_id))
    now = timezone.now()

    group_sync = services.group_sync_now(group=group, now=now)
    jobs = run_jobs()

    assert [job.status for job in jobs] == [JobStatus.FAILED, JobStatus.COMPLETED, JobStatus.COMPLETED]
    assert [job.result["outcome"] for job in jobs[1:]] == ["skipped_cooldown"] * 2
    assert all(not feeds.requests_for(channel.youtube_id) for channel in rest)  # not asked at all
    group.refresh_from_db()
    assert dt.timedelta(seconds=590) < group.cooldown_until - now < dt.timedelta(seconds=700)
    assert str(status) in group.cooldown_reason
    group_sync.refresh_from_db()
    assert (group_sync.failed, group_sync.skipped_cooldown, group_sync.synced) == (1, 2, 0)
    first.refresh_from_db()
    assert first.consecutive_failures == 1 and first.last_outcome == SyncOutcome.THROTTLED

    later = services.group_sync_now(group=group, now=now + dt.timedelta(minutes=5))
    assert later.jobs_created == 0 and later.skipped_cooldown == 3
    assert "cools down until" in sync_now_message(later)


@pytest.mark.parametrize(("retry_after", "cooldown"), [
    ("²", dt.timedelta(minutes=30)),  # str.isdigit() says yes, int() says no: the default for a 429
    ("9" * 30, dt.timedelta(hours=6)),  # past any timedelta: the longest cool-down
])
def test_a_retry_after_that_is_no_number_of_seconds_still_cools_down(feeds, channel, run_jobs, retry_after, cooldown):
    group = channel.groups.get()
    feeds.serve(FIXTURE_CHANNEL, b"slow down", status=429, headers={"Retry-After": retry_after})
    before = timezone.now()

    _, job = sync_one(channel, run_jobs)

    group.refresh_from_db()
    assert job.status == JobStatus.FAILED and channel.last_outcome == SyncOutcome.THROTTLED
    assert before + cooldown <= group.cooldown_until <= timezone.now() + cooldown


def test_a_view_count_that_is_no_plain_number_is_stored_as_unknown(feeds, channel, run_jobs):
    body = feed_for().replace(b'views="15000"', 'views="²"'.encode()).replace(b'views="14007"', b'views="' + b"9" * 25 + b'"')
    feeds.serve(FIXTURE_CHANNEL, body)

    _, job = sync_one(channel, run_jobs)

    assert job.status == JobStatus.COMPLETED, job.error
    assert Video.objects.filter(view_count__isnull=True).count() == 2 and Video.objects.count() == 15


def test_it_retries_a_5xx_and_counts_the_failure_only_when_the_sync_is_done(feeds, channel, run_jobs):
    feeds.serve(FIXTURE_CHANNEL, b"oops", status=503, oneshot=True)
    group_sync, job = sync_one(channel, run_jobs)

    assert job.status == JobStatus.RETRY_WAIT and "The feed server answered HTTP 503." in job.error
    assert (channel.last_outcome, channel.last_http_status, channel.consecutive_failures) == ("server_error", 503, 0)
    assert group_sync.finished_at is None and not Video.objects.exists()

    feeds.serve(FIXTURE_CHANNEL, feed_for())
    [job] = release_retries(run_jobs)

    assert job.status == JobStatus.COMPLETED and job.attempts == 2
    group_sync.refresh_from_db()
    channel.refresh_from_db()
    assert (group_sync.synced, group_sync.failed) == (1, 0) and channel.consecutive_failures == 0
    assert Video.objects.count() == 15


def test_it_backs_off_a_channel_whose_5xx_outlasts_the_retries(feeds, channel, run_jobs):
    feeds.serve(FIXTURE_CHANNEL, b"oops", status=500)
    group_sync, job = sync_one(channel, run_jobs)
    while job.status == JobStatus.RETRY_WAIT:
        [job] = release_retries(run_jobs)

    assert job.status == JobStatus.FAILED and job.attempts == 4
    channel.refresh_from_db()
    assert channel.consecutive_failures == 1 and channel.next_attempt_at is not None
    group_sync.refresh_from_db()
    assert (group_sync.failed, group_sync.outage) == (1, False)


def test_it_retries_after_a_timeout(feeds, channel, run_jobs):
    def slow(request):
        time.sleep(1.0)
        return Response(feed_for(), content_type="application/atom+xml")

    feeds.serve_handler(FIXTURE_CHANNEL, slow)
    started = time.monotonic()
    _, job = sync_one(channel, run_jobs)

    assert time.monotonic() - started < 0.95
    assert job.status == JobStatus.RETRY_WAIT and "did not answer in time: nothing came for 0.5 s" in job.error
    assert channel.last_outcome == SyncOutcome.UNREACHABLE and not Video.objects.exists()


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "streamed"])
def test_it_refuses_an_oversized_body(feeds, channel, run_jobs, settings, chunked):
    settings.CHANNEL_FEED_MAX_BYTES = 10_000
    body = feed_for()
    if chunked:
        feeds.serve_handler(FIXTURE_CHANNEL, lambda request: Response(
            (body[i:i + 1000] for i in range(0, len(body), 1000)), content_type="application/atom+xml"))
    else:
        feeds.serve(FIXTURE_CHANNEL, body)

    _, job = sync_one(channel, run_jobs)

    assert job.status == JobStatus.FAILED and job.failed_permanently
    assert "over the limit of 10,000 bytes" in job.error
    assert not Video.objects.exists() and channel.feed_sha256 == ""
    row = result_row(channel)  # the sync's row says so too (the admin lists them under the sync)
    assert (row.outcome, row.error) == ("bad_feed", channel.last_error) and "over the limit" in row.error


def test_a_body_cut_off_in_transit_is_retried_and_writes_nothing(feeds, channel, run_jobs):
    """The connection ends before the bytes its Content-Length promised: the network's fault, not the
    feed's, so the job's retry policy tries again; what arrived is never parsed."""
    body = feed_for()
    feeds.serve_handler(FIXTURE_CHANNEL, lambda request: Response(
        [body[:9000]], headers={"Content-Length": str(len(body))}, content_type="application/atom+xml"))

    group_sync, job = sync_one(channel, run_jobs)

    assert job.status == JobStatus.RETRY_WAIT and "broke off before the feed was complete" in job.error
    assert not Video.objects.exists()
    assert (channel.last_outcome, channel.feed_sha256, channel.last_success_at) == ("unreachable", "", None)
    assert group_sync.finished_at is None  # its job is still to be retried


def utf16_bomb(encoding: str) -> bytes:
    return fixture("bomb.xml").decode().replace('encoding="UTF-8"', 'encoding="UTF-16"').encode(encoding)


@pytest.mark.parametrize(("body", "content_type", "message"), [
    (fixture("malformed.xml"), "application/atom+xml", "not well-formed XML"),
    (feed_for()[:9000], "application/atom+xml", "not well-formed XML"),
    (fixture("consent.html"), "text/html; charset=utf-8", "HTML page"),
    (fixture("consent.html"), "application/atom+xml", "HTML page"),
    (fixture("bomb.xml"), "application/atom+xml", "refused as unsafe"),
    (fixture("external_entity.xml"), "application/atom+xml", "refused as unsafe"),
    # expat would take these for UTF-16 by their first bytes, where "<!DOCTYPE" is not spelled in ASCII
    (utf16_bomb("utf-16"), "application/atom+xml", "not UTF-8"),
    (utf16_bomb("utf-16-le"), "application/atom+xml", "NUL character"),
    (b'<?xml version="1.0"?><rss version="2.0"><channel/></rss>', "application/xml", "not an Atom feed"),
    (b"<p>Sign in</p>", "text/html; charset=utf-8", "HTML page"),  # told by its type alone
], ids=["malformed", "truncated", "html", "html-as-atom", "xml-bomb", "external-entity", "utf-16-bomb",
        "utf-16-bomb-without-bom", "rss", "html-by-its-type"])
def test_it_fails_an_unreadable_feed_and_writes_nothing(feeds, channel, run_jobs, body, content_type, message):
    feeds.serve(FIXTURE_CHANNEL, body, content_type=content_type)

    group_sync, job = sync_one(channel, run_jobs)

    assert job.status == JobStatus.FAILED and job.failed_permanently
    assert message in job.error and "Nothing was written" in job.error
    assert not Video.objects.exists()
    assert (channel.last_outcome, channel.feed_sha256, channel.last_success_at) == ("bad_feed", "", None)
    assert channel.consecutive_failures == 1 and group_sync.failed == 1
    row = result_row(channel)
    assert (row.outcome, row.http_status, row.error) == ("bad_feed", 200, channel.last_error) and message in row.error


@pytest.mark.parametrize("body", [fixture("malformed.xml"), feed_for()[:9000], fixture("bomb.xml")],
                         ids=["malformed", "truncated", "xml-bomb"])
def test_an_unreadable_feed_after_a_good_one_changes_nothing_stored(feeds, channel, run_jobs, body):
    feeds.serve(FIXTURE_CHANNEL, feed_for())
    sync_one(channel, run_jobs)
    stored = list(Video.objects.order_by("youtube_id").values())
    good_hash = channel.feed_sha256
    feeds.reset()
    feeds.serve(FIXTURE_CHANNEL, body)

    _, job = sync_one(channel, run_jobs)

    assert job.status == JobStatus.FAILED and "Nothing was written" in job.error
    assert list(Video.objects.order_by("youtube_id").values()) == stored
    assert (channel.feed_sha256, channel.last_outcome) == (good_hash, "bad_feed")


def test_it_reads_a_feed_with_leading_whitespace_or_no_declaration(feeds, channel, run_jobs):
    body = feed_for()
    no_declaration = body.split(b"?>", 1)[1]
    feeds.serve(FIXTURE_CHANNEL, b"\n\n   " + no_declaration)

    _, job = sync_one(channel, run_jobs)

    assert job.status == JobStatus.COMPLETED, job.error
    assert Video.objects.count() == 15


# --------------------------------------------------------------------------- a group


def test_a_group_sync_makes_one_job_per_enabled_channel_and_a_summary_that_adds_up(feeds, group, run_jobs):
    ok = ids(3, group)
    gone = ChannelFactory(youtube_id="UCgone0000000000000000aa", group=group)
    ChannelFactory(youtube_id="UCoff00000000000000000aa", group=group, enabled=False)
    waiting = ChannelFactory(youtube_id="UCwait0000000000000000aa", group=group, consecutive_failures=2,
                             next_attempt_at=timezone.now() + dt.timedelta(hours=1))
    other_group = ChannelGroupFactory(name="Lawyers")
    ChannelFactory(youtube_id="UCelse0000000000000000aa", group=other_group)
    for n, channel in enumerate(ok):
        feeds.serve(channel.youtube_id, feed_for(channel.youtube_id, prefix=f"Ch{n}aaaaaa"))
    feeds.serve(gone.youtube_id, b"", status=404)

    group_sync = services.group_sync_now(group=group, now=timezone.now())

    jobs = list(Job.objects.order_by("pk"))
    assert [job.params["channel_id"] for job in jobs] == [*(c.pk for c in ok), gone.pk]
    assert all(job.origin_label == "Sync now" for job in jobs)
    assert (group_sync.jobs_created, group_sync.channels_total, group_sync.skipped_backoff) == (4, 5, 1)
    assert "1 channel skipped" in sync_now_message(group_sync)
    run_jobs()
    group_sync.refresh_from_db()
    summary = (group_sync.synced, group_sync.failed, group_sync.skipped_backoff, group_sync.skipped_cooldown)
    assert summary == (3, 1, 1, 0)
    assert sum(summary) == group_sync.channels_total
    assert group_sync.new_videos == 45 and not group_sync.outage
    assert group_sync.summary == "3 synced, 1 failed, 1 skipped (backoff), 45 new videos."
    assert ChannelGroup.objects.get(pk=group.pk).last_sync == group_sync
    assert not feeds.requests_for(waiting.youtube_id)


def test_sync_now_by_a_user_says_so_in_the_jobs_origin(feeds, channel, run_jobs, staff):
    services.channel_sync_now(channel=channel, now=timezone.now(), user=staff)
    assert Job.objects.get().origin_label == f"Sync now by {staff.username}"


# --------------------------------------------------------------------------- make mutation: what a sync writes where

def result_row(channel) -> ChannelSync:
    """The channel's row in its latest sync (the admin shows them under each group sync)."""
    return ChannelSync.objects.filter(channel=channel).latest("group_sync__created_at", "group_sync__pk")


@pytest.mark.parametrize(("status", "outcome", "words", "job_status"), [
    (404, "not_found", "The feed answered 404 Not Found for UCq1w2e3r4t5y6u7i8o9p0aZ (a deleted channel, a wrong id, "
                       "or YouTube's feed being down).", JobStatus.FAILED),
    (403, "throttled", "YouTube refused the feed request (HTTP 403); group syncs pause until {until} UTC.",
     JobStatus.FAILED),
    (500, "server_error", "The feed server answered HTTP 500.", JobStatus.RETRY_WAIT),
    (418, "bad_feed", "The feed answered HTTP 418, which a feed never should.", JobStatus.FAILED),
])
def test_each_answer_that_is_no_feed_is_worded_on_the_job_the_channel_and_its_row(feeds, channel, run_jobs, group,
                                                                                   status, outcome, words, job_status):
    feeds.serve(FIXTURE_CHANNEL, b"no", status=status, content_type="text/plain")

    _, job = sync_one(channel, run_jobs)

    group.refresh_from_db()
    words = words.format(until=f"{group.cooldown_until:%Y-%m-%d %H:%M}" if group.cooldown_until else "")
    assert job.status == job_status and words in job.error
    assert (channel.last_outcome, channel.last_http_status, channel.last_error) == (outcome, status, words)
    row = result_row(channel)
    assert (row.outcome, row.http_status, row.error, row.new_videos, row.updated_videos) == (outcome, status, words, 0, 0)


@pytest.mark.parametrize(("status", "retry_after", "cooldown"), [
    (403, None, dt.timedelta(hours=1)),
    (429, "5", dt.timedelta(minutes=1)),  # asked again within seconds, it would only refuse again
    (403, "0", dt.timedelta(minutes=1)),
])
def test_a_refusal_cools_the_group_down_and_says_why(feeds, channel, run_jobs, group, status, retry_after, cooldown):
    feeds.serve(FIXTURE_CHANNEL, b"slow down", status=status,
                headers={"Retry-After": retry_after} if retry_after is not None else {})

    sync_one(channel, run_jobs)

    group.refresh_from_db()
    assert group.cooldown_until == channel.last_checked_at + cooldown
    assert group.cooldown_reason == (f"YouTube answered HTTP {status} for {FIXTURE_CHANNEL} at "
                                     f"{channel.last_checked_at:%Y-%m-%d %H:%M} UTC.")


@pytest.mark.parametrize(("how", "cooling"), [("group", {"News"}), ("channel", {"News", "Courts"})])
def test_a_refusal_in_a_groups_sync_cools_down_that_group_and_in_sync_now_each_of_the_channels(
        feeds, channel, run_jobs, group, how, cooling):
    courts = ChannelGroupFactory(name="Courts")
    channel.groups.add(courts)
    feeds.serve(FIXTURE_CHANNEL, b"slow down", status=429)

    if how == "group":
        services.group_sync_now(group=group, now=timezone.now())
        run_jobs()
    else:
        sync_one(channel, run_jobs)

    assert set(ChannelGroup.objects.filter(cooldown_until__isnull=False).values_list("name", flat=True)) == cooling


def test_another_groups_cool_down_does_not_stop_this_groups_sync_of_a_channel_in_both(feeds, channel, run_jobs,
                                                                                     group):
    courts = ChannelGroupFactory(name="Courts", cooldown_until=timezone.now() + dt.timedelta(hours=1))
    channel.groups.add(courts)
    feeds.serve(FIXTURE_CHANNEL, feed_for())

    services.group_sync_now(group=group, now=timezone.now())
    [job] = run_jobs()

    assert job.result["outcome"] == "synced" and Video.objects.count() == 15


def test_a_channel_skipped_for_a_cool_down_keeps_its_last_check_and_its_row_says_why(feeds, group, run_jobs):
    first, skipped = ids(2, group)
    feeds.serve(first.youtube_id, b"slow down", status=429, headers={"Retry-After": "600"})

    services.group_sync_now(group=group, now=timezone.now())
    _, job = run_jobs()

    group.refresh_from_db()
    until = group.cooldown_until
    assert job.result == {"outcome": "skipped_cooldown", "until": until.isoformat()}
    skipped.refresh_from_db()
    assert (skipped.last_checked_at, skipped.last_outcome) == (None, "")
    row = result_row(skipped)
    assert (row.outcome, row.error) == ("skipped_cooldown", f"Cool-down of “News” until {until:%Y-%m-%d %H:%M} UTC.")


def test_the_jobs_result_says_how_long_the_fetch_took(feeds, channel, run_jobs):
    def slow(request):
        time.sleep(0.2)
        return Response(feed_for(), content_type="application/atom+xml")

    feeds.serve_handler(FIXTURE_CHANNEL, slow)

    _, job = sync_one(channel, run_jobs)

    assert 200 <= job.result["fetch_ms"] < 200 + 60_000


def test_an_unchanged_feed_shows_no_new_and_no_updated_video_anywhere(feeds, channel, run_jobs):
    etag = '"v1"'

    def handler(request):
        if request.headers.get("If-None-Match") == etag:
            return Response(status=304, headers={"ETag": etag})
        return Response(feed_for(), headers={"ETag": etag}, content_type="application/atom+xml")

    feeds.serve_handler(FIXTURE_CHANNEL, handler)
    sync_one(channel, run_jobs)

    group_sync, _ = sync_one(channel, run_jobs)

    assert (channel.last_outcome, channel.last_http_status) == ("unchanged", 304)
    assert (channel.last_new_count, channel.last_updated_count) == (0, 0)
    row = result_row(channel)
    assert (row.outcome, row.http_status, row.new_videos, row.updated_videos) == ("unchanged", 304, 0, 0)
    assert (group_sync.synced, group_sync.new_videos, group_sync.updated_videos) == (1, 0, 0)


def test_an_updated_video_is_counted_on_the_channel_the_sync_and_its_row(feeds, channel, run_jobs):
    feeds.serve(FIXTURE_CHANNEL, feed_for(), oneshot=True)
    sync_one(channel, run_jobs)
    feeds.serve(FIXTURE_CHANNEL, feed_for().replace(b'views="15000"', b'views="15001"'), oneshot=True)

    group_sync, job = sync_one(channel, run_jobs)

    assert (job.result["new"], job.result["updated"]) == (0, 1)
    assert (channel.last_new_count, channel.last_updated_count) == (0, 1)
    assert channel_status(channel, now=timezone.now()) == "Synced: 0 new, 1 updated"
    row = result_row(channel)
    assert (row.http_status, row.new_videos, row.updated_videos, row.settled, row.error) == (200, 0, 1, True, "")
    assert (group_sync.new_videos, group_sync.updated_videos) == (0, 1)
    assert Video.objects.filter(view_count=15001).count() == 1


def test_a_video_listed_later_as_a_short_becomes_one_and_stays_one(feeds, channel, run_jobs):
    watch, short = b"https://www.youtube.com/watch?v=Xk3vP9qLm06", b"https://www.youtube.com/shorts/Xk3vP9qLm06"
    seen = []
    for body in (feed_for(), feed_for().replace(watch, short), feed_for()):
        feeds.reset()
        feeds.serve(FIXTURE_CHANNEL, body)
        _, job = sync_one(channel, run_jobs)
        seen.append((Video.objects.get(youtube_id="Xk3vP9qLm06").is_short, job.result["updated"]))

    # A watch link says nothing; the Shorts link says it is one, and a later watch link does not undo that.
    assert seen == [(None, 0), (True, 1), (True, 1)]


def test_a_channel_titled_by_hand_keeps_its_title(feeds, channel, run_jobs):
    Channel.objects.filter(pk=channel.pk).update(title="Fixture News (mine)")
    feeds.serve(FIXTURE_CHANNEL, feed_for())

    sync_one(channel, run_jobs)

    assert channel.title == "Fixture News (mine)"


def test_a_video_another_sync_inserted_meanwhile_is_no_failure(feeds, channel, run_jobs, monkeypatch):
    """Two groups' runs sync the same channel at once: the other one inserts a video between this
    sync's read of the stored videos and its insert."""
    feeds.serve(FIXTURE_CHANNEL, feed_for())
    read = Video.objects.filter

    def read_then_the_other_sync_inserts(*args, **kwargs):
        stored = list(read(*args, **kwargs))
        monkeypatch.setattr(Video.objects, "filter", read)
        Video.objects.create(channel=channel, youtube_id="Xk3vP9qLm01", title="From the other run",
                             url="https://www.youtube.com/watch?v=Xk3vP9qLm01", published_at=timezone.now())
        return stored

    monkeypatch.setattr(Video.objects, "filter", read_then_the_other_sync_inserts)

    _, job = sync_one(channel, run_jobs)

    assert job.status == JobStatus.COMPLETED, job.error
    assert Video.objects.filter(channel=channel).count() == 15


def test_the_result_counts_videos_held_by_another_channel_beside_the_feeds_own_note(feeds, channel, run_jobs):
    owner = ChannelFactory(youtube_id="UCotherChannel0000000000", title="Owner")
    for video_id in video_ids()[:2]:
        Video.objects.create(channel=owner, youtube_id=video_id, title="The owner's", published_at=timezone.now(),
                             url=f"https://www.youtube.com/watch?v={video_id}")
    body = feed_for().decode()
    first_entry = body[body.index(" <entry>"):body.index("</entry>") + len("</entry>")]
    foreign = first_entry.replace("Xk3vP9qLm01", "Stranger001").replace(FIXTURE_CHANNEL, "UCsomeoneElse0000000000a")
    feeds.serve(FIXTURE_CHANNEL, body.replace("</feed>", foreign + "\n</feed>").encode())

    _, job = sync_one(channel, run_jobs)

    assert {key: job.result[key] for key in ("http_status", "new", "updated", "entries", "entries_skipped", "note")} == {
        "http_status": 200, "new": 13, "updated": 0, "entries": 13, "entries_skipped": 3,
        "note": "1 feed entries left out: 1 of another channel. "
                "2 of its videos belong to another channel here; left as they are."}
    assert Video.objects.filter(channel=owner, title="The owner's").count() == 2


def test_a_failure_after_a_sync_shows_nothing_new_and_the_next_sync_clears_its_error(feeds, channel, run_jobs):
    feeds.serve(FIXTURE_CHANNEL, feed_for(), oneshot=True)
    sync_one(channel, run_jobs)
    feeds.serve(FIXTURE_CHANNEL, feed_for().replace(b"Xk3vP9qLm01", b"NewVideo001").replace(
        b"<title>Live Q&amp;A with our correspondents</title>", b"<title>Live Q&amp;A (replay)</title>"), oneshot=True)
    sync_one(channel, run_jobs)
    assert (channel.last_new_count, channel.last_updated_count) == (1, 1)
    synced_at = channel.last_success_at
    feeds.serve(FIXTURE_CHANNEL, b"oops", status=503, oneshot=True)

    sync_one(channel, run_jobs)

    assert (channel.last_outcome, channel.last_new_count, channel.last_updated_count) == ("server_error", 0, 0)
    assert channel.last_success_at == synced_at and channel.last_error
    feeds.serve(FIXTURE_CHANNEL, feed_for().replace(b'views="15000"', b'views="15001"'))
    release_retries(run_jobs)
    channel.refresh_from_db()
    assert (channel.last_outcome, channel.last_error, channel.last_success_at) == ("synced", "", channel.last_checked_at)


def test_a_job_made_by_hand_whose_feed_is_gone_backs_the_channel_off_at_once(feeds, channel, run_jobs):
    """No sync to judge it with the rest of a group: it counts when it fails."""
    feeds.serve(FIXTURE_CHANNEL, b"", status=404)
    job = job_enqueue(job_type="QUICK_SYNC", params={"channel_id": channel.pk}, now=timezone.now())

    [job] = run_jobs([job])

    channel.refresh_from_db()
    assert job.status == JobStatus.FAILED and not ChannelSync.objects.exists()
    assert (channel.consecutive_failures, channel.next_attempt_at) == (1, channel.last_checked_at + sync.BACKOFF_BASE)


def test_the_job_of_a_channel_deleted_since_fails_saying_so(channel, run_jobs):
    job = job_enqueue(job_type="QUICK_SYNC", params={"channel_id": channel.pk}, now=timezone.now())
    pk = channel.pk
    channel.delete()

    [job] = run_jobs([job])

    assert job.status == JobStatus.FAILED and job.failed_permanently
    assert f"Channel {pk} no longer exists." in job.error


def test_a_channel_whose_sync_was_deleted_meanwhile_is_synced_all_the_same(feeds, channel, run_jobs):
    feeds.serve(FIXTURE_CHANNEL, feed_for())
    group_sync = services.channel_sync_now(channel=channel, now=timezone.now())
    job = Job.objects.get(params__group_sync_id=group_sync.pk)
    group_sync.delete()

    [job] = run_jobs([job])

    assert job.status == JobStatus.COMPLETED, job.error
    assert Video.objects.filter(channel=channel).count() == 15 and not ChannelSync.objects.exists()


def test_new_videos_are_first_seen_when_the_sync_checked_the_feed(feeds, channel, run_jobs):
    """One instant for the whole sync: the videos it found and the channel's last check agree."""
    feeds.serve(FIXTURE_CHANNEL, feed_for())

    sync_one(channel, run_jobs)

    assert set(Video.objects.values_list("first_seen_at", flat=True)) == {channel.last_checked_at}
