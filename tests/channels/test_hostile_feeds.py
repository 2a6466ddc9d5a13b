"""Hostile feeds, served by a real local server, through the whole QUICK_SYNC job.

Three tables: feeds refused whole (the job fails with words, and what was stored before is unchanged,
compared row by row), entries left out (the rest is stored, the job's result says why), and fields
made harmless (the entry is stored without the bad value). Then the known bugs, each with its own test:
unfit validators, another channel's videos, redirects elsewhere, a slow drip, and stored rows from
before the host limits.
"""

from __future__ import annotations

import datetime as dt
import time

import httpx
import pytest
from django.urls import reverse
from django.utils import timezone
from werkzeug import Response

from channels import feed, hosts, services
from channels.models import Channel, ChannelSync, GroupSync, SyncOutcome, Video
from jobs.models import Job, JobStatus
from tests.channels.conftest import FEED_PATH, FIXTURE_CHANNEL, feed_for, fixture
from tests.factories import ChannelFactory, ChannelGroupFactory, VideoFactory

pytestmark = [pytest.mark.django_db, pytest.mark.feed_server]

UTC = dt.timezone.utc
OTHER_CHANNEL = "UCotherChannel0000000000"
GOOD_ID, BAD_ID = "Good0000001", "Bad00000001"


@pytest.fixture
def channel(db):
    return ChannelFactory(youtube_id=FIXTURE_CHANNEL, title=FIXTURE_CHANNEL, group=ChannelGroupFactory(name="News"))


def sync_one(channel, run_jobs) -> tuple[GroupSync, Job]:
    group_sync = services.channel_sync_now(channel=channel, now=timezone.now())
    [job] = run_jobs(Job.objects.filter(params__group_sync_id=group_sync.pk))
    group_sync.refresh_from_db()
    channel.refresh_from_db()
    return group_sync, job


def entry(video_id: str = GOOD_ID, *, title: str = "A title", published: str = "2026-11-30T18:00:00+00:00",
          link: str | None = None, thumbnail: str | None = None, views: str = "15",
          channel_id: str | None = FIXTURE_CHANNEL, extra: str = "") -> str:
    link = f"https://www.youtube.com/watch?v={video_id}" if link is None else link
    thumbnail = f"https://i1.ytimg.com/vi/{video_id}/hqdefault.jpg" if thumbnail is None else thumbnail
    channel = f"<yt:channelId>{channel_id}</yt:channelId>" if channel_id is not None else ""
    return (f'<entry><yt:videoId>{video_id}</yt:videoId>{channel}<title>{title}</title>'
            f'<link rel="alternate" href="{link}"/><published>{published}</published>{extra}'
            f'<media:group><media:thumbnail url="{thumbnail}"/><media:description>words</media:description>'
            f'<media:community><media:statistics views="{views}"/></media:community></media:group></entry>')


def atom(*entries: str, prolog: str = '<?xml version="1.0" encoding="UTF-8"?>\n') -> bytes:
    return (f'{prolog}<feed xmlns:yt="http://www.youtube.com/xml/schemas/2015" '
            'xmlns:media="http://search.yahoo.com/mrss/" xmlns="http://www.w3.org/2005/Atom" '
            f'xmlns:xi="http://www.w3.org/2001/XInclude"><title>Hostile</title>{"".join(entries)}</feed>').encode()


def stored() -> tuple[list[dict], list[dict]]:
    """Every video and the channels' stored content (not the last check's status), to compare."""
    videos = list(Video.objects.order_by("youtube_id").values())
    channels = list(Channel.objects.order_by("pk").values("pk", "youtube_id", "title", "feed_etag",
                                                        "feed_last_modified", "feed_sha256", "last_success_at"))
    return videos, channels


# --------------------------------------------------------------------------- refused whole

QUADRATIC = ('<?xml version="1.0"?><!DOCTYPE feed [<!ENTITY a "' + "x" * 50_000 + '">]>'
             + atom(entry(title="&a;" * 2_000), prolog="").decode())
EXTERNAL_DTD = atom(entry(), prolog='<?xml version="1.0"?>\n<!DOCTYPE feed SYSTEM "http://127.0.0.1:1/evil.dtd">\n')
PARAMETER_ENTITY = atom(entry(), prolog='<?xml version="1.0"?>\n<!DOCTYPE feed [<!ENTITY % p SYSTEM '
                                        '"file:///etc/passwd"> %p;]>\n')
UNDECLARED_ENTITY = atom(entry(title="&passwd;"))
LATIN1 = atom(entry(title="Café")).decode().encode("latin-1")
LABELLED_LATIN1_AS_UTF8 = LATIN1  # the declaration says UTF-8; the bytes are Latin-1
NUL = atom(entry(title="before\x00after"))
# 100,000 entries of the least an entry needs: 10 MB, over the 4 MB cap.
HUGE_ENTRIES = atom(*(f"<entry><yt:videoId>Many{n:07d}</yt:videoId><published>2026-11-30T18:00:00Z</published></entry>"
                      for n in range(100_000)))


@pytest.mark.parametrize(("body", "content_type", "message"), [
    (fixture("bomb.xml"), "application/atom+xml", "refused as unsafe"),
    (QUADRATIC.encode(), "application/atom+xml", "refused as unsafe"),
    (fixture("external_entity.xml"), "application/atom+xml", "refused as unsafe"),
    (EXTERNAL_DTD, "application/atom+xml", "refused as unsafe"),
    (PARAMETER_ENTITY, "application/atom+xml", "refused as unsafe"),
    (UNDECLARED_ENTITY, "application/atom+xml", "not well-formed XML"),
    (LABELLED_LATIN1_AS_UTF8, "application/atom+xml; charset=UTF-8", "not UTF-8"),
    (atom(entry(title="Caf\u00e9")).decode().encode("utf-16"), "application/atom+xml", "not UTF-8"),
    (NUL, "application/atom+xml", "NUL character"),
    (b"", "application/atom+xml", "was empty"),
    (fixture("consent.html"), "text/html; charset=utf-8", "HTML page"),
    (b"<html><body>Sign in</body></html>", "application/atom+xml", "HTML page"),
    (b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "image/png", "not UTF-8"),
    (HUGE_ENTRIES, "application/atom+xml", "over the limit"),
], ids=["billion-laughs", "quadratic-blowup", "external-entity", "external-dtd", "parameter-entity",
        "undeclared-entity", "latin-1-labelled-utf-8", "utf-16", "nul-byte", "empty", "html", "html-as-atom",
        "binary", "100k-entries-over-the-size-cap"])
def test_a_hostile_feed_is_refused_in_words_and_changes_nothing_stored(feeds, channel, run_jobs, body,
                                                                       content_type, message):
    feeds.serve(FIXTURE_CHANNEL, feed_for())
    sync_one(channel, run_jobs)
    before = stored()
    feeds.reset()
    feeds.serve(FIXTURE_CHANNEL, body, content_type=content_type)

    group_sync, job = sync_one(channel, run_jobs)

    assert job.status == JobStatus.FAILED and job.failed_permanently
    assert message in job.error and "Traceback" not in job.error
    assert stored() == before
    assert channel.last_outcome == SyncOutcome.BAD_FEED and message in channel.last_error
    assert group_sync.failed == 1


# --------------------------------------------------------------------------- entries left out

@pytest.mark.parametrize(("bad", "why"), [
    (entry(BAD_ID, published="0001-01-01T00:00:00+14:00"), "without a valid video id and publication date"),
    (entry(BAD_ID, published="9999-12-31T23:59:59-14:00"), "without a valid video id and publication date"),
    (entry(BAD_ID, published="0001-01-01"), "without a valid video id and publication date"),
    (entry(BAD_ID, published="1066-10-14T09:00:00Z"), "without a valid video id and publication date"),
    (entry(BAD_ID, published="yesterday"), "without a valid video id and publication date"),
    (entry(BAD_ID, published="2026-13-45T99:00:00Z"), "without a valid video id and publication date"),
    (entry(BAD_ID, published="2026-11-30T18:00:00"), "without a valid video id and publication date"),
    (entry(BAD_ID, published=""), "without a valid video id and publication date"),
    (entry("short"), "without a valid video id and publication date"),
    (entry("../../etc/pa"), "without a valid video id and publication date"),
    (entry(""), "without a valid video id and publication date"),
    (entry(GOOD_ID, title="The same id again"), "repeated"),
    (entry(BAD_ID, channel_id=OTHER_CHANNEL), "1 of another channel"),
], ids=["year-1-east-of-utc", "year-9999-west-of-utc", "date-only", "year-1066", "garbage-date", "impossible-date",
        "no-zone", "no-date", "short-id", "path-id", "no-id", "duplicate-id", "another-channel"])
def test_a_bad_entry_is_left_out_with_a_note_and_the_rest_is_stored(feeds, channel, run_jobs, bad, why):
    feeds.serve(FIXTURE_CHANNEL, atom(entry(), bad))

    _, job = sync_one(channel, run_jobs)

    assert job.status == JobStatus.COMPLETED, job.error
    assert (job.result["new"], job.result["entries_skipped"]) == (1, 1)
    assert why in job.result["note"] and job.result["note"].startswith("1 feed entries left out")
    assert list(Video.objects.values_list("youtube_id", "title")) == [(GOOD_ID, "A title")]
    assert channel.last_outcome == SyncOutcome.SYNCED


def test_a_feed_of_far_more_entries_than_youtube_lists_stores_the_first_hundred(feeds, channel, run_jobs):
    feeds.serve(FIXTURE_CHANNEL, atom(*(entry(f"Many{n:07d}") for n in range(1_000))))

    _, job = sync_one(channel, run_jobs)

    assert job.status == JobStatus.COMPLETED, job.error
    assert Video.objects.count() == feed.MAX_ENTRIES == 100
    assert job.result["entries_skipped"] == 900 and "900 past the first 100" in job.result["note"]


# --------------------------------------------------------------------------- fields made harmless

@pytest.mark.parametrize("views", ["1e999", "-5", "99999999999999999999999", "NaN", "１２３", "12.5", " ", "0x10"])
def test_a_view_count_that_is_no_plain_count_is_stored_as_unknown(feeds, channel, run_jobs, views):
    feeds.serve(FIXTURE_CHANNEL, atom(entry(views=views)))

    _, job = sync_one(channel, run_jobs)

    assert job.status == JobStatus.COMPLETED, job.error
    assert Video.objects.get().view_count is None


@pytest.mark.parametrize("link", [
    "javascript:alert(1)", "data:text/html,&lt;script&gt;alert(1)&lt;/script&gt;", "http://www.youtube.com/watch?v=x",
    "https://evil.example/watch?v=Good0000001", "https://www.youtube.com.evil.example/watch",
    "https://user@www.youtube.com/watch", "https://www.youtube.com:8443/watch", "//www.youtube.com/watch",
    "JAVASCRIPT:alert(1)", "https://evil.example\\@www.youtube.com/", "x" * 600,
])
def test_a_link_off_youtube_is_not_stored_and_the_watch_page_is_linked_instead(feeds, channel, run_jobs, link):
    feeds.serve(FIXTURE_CHANNEL, atom(entry(link=link)))

    _, job = sync_one(channel, run_jobs)

    assert job.status == JobStatus.COMPLETED, job.error
    assert Video.objects.get().url == f"https://www.youtube.com/watch?v={GOOD_ID}"


@pytest.mark.parametrize("thumbnail", [
    "javascript:alert(1)", "data:image/png;base64,iVBORw0KGgo=", "http://i.ytimg.com/vi/x/hq.jpg",
    "https://evil.example/x.jpg", "https://ytimg.com.evil.example/x.jpg", "https://i.ytimg.com@evil.example/x.jpg",
    "https://.ytimg.com/x.jpg", "https://yt3.ggpht.com.evil.example/x.jpg", "file:///etc/passwd",
])
def test_a_thumbnail_off_youtubes_image_hosts_is_not_stored(feeds, channel, run_jobs, thumbnail):
    feeds.serve(FIXTURE_CHANNEL, atom(entry(thumbnail=thumbnail)))

    _, job = sync_one(channel, run_jobs)

    assert job.status == JobStatus.COMPLETED, job.error
    assert Video.objects.get().thumbnail_url == ""


@pytest.mark.parametrize(("thumbnail", "link"), [
    ("https://i.ytimg.com/vi/Good0000001/hqdefault.jpg", "https://www.youtube.com/watch?v=Good0000001"),
    ("https://i9.ytimg.com/vi/Good0000001/hqdefault.jpg", "https://youtube.com/shorts/Good0000001"),
    ("https://yt3.ggpht.com/avatar=s88", "https://m.youtube.com/watch?v=Good0000001"),
    ("https://I.YTIMG.COM/vi/x.jpg", "https://youtu.be/Good0000001"),
])
def test_youtubes_own_hosts_are_stored(feeds, channel, run_jobs, thumbnail, link):
    feeds.serve(FIXTURE_CHANNEL, atom(entry(thumbnail=thumbnail, link=link)))

    sync_one(channel, run_jobs)

    assert Video.objects.values_list("thumbnail_url", "url").get() == (thumbnail, link)


def test_a_megabyte_title_and_description_are_cut_to_what_a_video_holds(feeds, channel, run_jobs, settings):
    big = "é" * 1_000_000
    body = atom(entry(title=big)).replace(b"<media:description>words", f"<media:description>{big}".encode())
    feeds.serve(FIXTURE_CHANNEL, body)

    _, job = sync_one(channel, run_jobs)

    assert job.status == JobStatus.COMPLETED, job.error
    video = Video.objects.get()
    assert (len(video.title), len(video.description)) == (500, feed.MAX_DESCRIPTION)


def test_an_xinclude_is_kept_as_an_element_and_never_read(feeds, channel, run_jobs):
    include = '<xi:include href="file:///etc/passwd" parse="text"/>'
    feeds.serve(FIXTURE_CHANNEL, atom(entry(title=f"Title {include}")))

    _, job = sync_one(channel, run_jobs)

    assert job.status == JobStatus.COMPLETED, job.error
    assert "root:" not in Video.objects.get().title


# --------------------------------------------------------------------------- validators fit for a header

@pytest.mark.parametrize(("header", "value"), [
    ("ETag", 'W/"caf\u00e9"'), ("ETag", '"' + "a" * 300 + '"'), ("ETag", '"a\tb"'),
    ("Last-Modified", "Tue, 15 Nov 1994 12:45:26 GMT\u00a0"), ("Last-Modified", "x" * 150),
])
def test_a_validator_unfit_for_a_header_is_not_stored_and_the_next_sync_still_asks(feeds, channel, run_jobs,
                                                                                   header, value):
    feeds.serve(FIXTURE_CHANNEL, feed_for(), headers={header: value})
    sync_one(channel, run_jobs)
    assert (channel.feed_etag, channel.feed_last_modified) == ("", "")

    Video.objects.all().delete()
    Channel.objects.filter(pk=channel.pk).update(feed_sha256="")
    _, job = sync_one(channel, run_jobs)

    assert job.status == JobStatus.COMPLETED, job.error
    assert job.result["new"] == 15 and len(feeds.requests_for(FIXTURE_CHANNEL)) == 2


def test_fit_validators_are_still_stored_and_sent(feeds, channel, run_jobs):
    validators = {"ETag": 'W/"abc-123"', "Last-Modified": "Tue, 15 Nov 1994 12:45:26 GMT"}
    feeds.serve(FIXTURE_CHANNEL, feed_for(), headers=validators)
    sync_one(channel, run_jobs)
    assert (channel.feed_etag, channel.feed_last_modified) == tuple(validators.values())

    sync_one(channel, run_jobs)

    last = feeds.requests_for(FIXTURE_CHANNEL)[-1]
    assert (last.headers["If-None-Match"], last.headers["If-Modified-Since"]) == tuple(validators.values())


@pytest.mark.parametrize("stored_etag", ['W/"caf\u00e9"', "a\nb", "a\x7fb", " padded "])
def test_a_stored_validator_from_before_the_checks_is_ignored_not_fatal(feeds, channel, run_jobs, stored_etag):
    Channel.objects.filter(pk=channel.pk).update(feed_etag=stored_etag, feed_last_modified="lundi 1\u00e9r",
                                                 last_outcome=SyncOutcome.SYNCED)
    feeds.serve(FIXTURE_CHANNEL, feed_for())

    _, job = sync_one(channel, run_jobs)

    assert job.status == JobStatus.COMPLETED, job.error
    [request] = feeds.requests_for(FIXTURE_CHANNEL)
    assert "If-None-Match" not in request.headers and "If-Modified-Since" not in request.headers
    assert (channel.feed_etag, channel.feed_last_modified) == ("", "")


def test_a_sync_that_fails_before_its_request_shows_the_channel_failed(feeds, channel, run_jobs, settings):
    feeds.serve(FIXTURE_CHANNEL, feed_for())
    sync_one(channel, run_jobs)
    assert channel.last_outcome == SyncOutcome.SYNCED
    settings.YOUTUBE_FEED_URL = "http://[::1/feeds/videos.xml?channel_id={channel_id}"  # no URL at all

    _, job = sync_one(channel, run_jobs)

    assert job.status == JobStatus.RETRY_WAIT and "Invalid IPv6 URL" in job.error  # a fault, with its traceback
    assert channel.last_outcome == SyncOutcome.BAD_FEED
    assert "The feed request could not be made (ValueError: Invalid IPv6 URL)" in channel.last_error
    assert ChannelSync.objects.get(channel=channel, group_sync__pk=job.params["group_sync_id"]).outcome == "bad_feed"


# --------------------------------------------------------------------------- another channel's videos

def test_a_feed_cannot_rewrite_another_channels_video(feeds, channel, run_jobs):
    owner = ChannelFactory(youtube_id=OTHER_CHANNEL, title="Owner")
    VideoFactory(channel=owner, youtube_id=GOOD_ID, title="The owner's title", url="https://youtu.be/Good0000001")
    before = stored()
    # The entry names the channel being synced, so only the ownership check stops it.
    feeds.serve(FIXTURE_CHANNEL, atom(entry(GOOD_ID, title="Rewritten"), entry(BAD_ID)))

    _, job = sync_one(channel, run_jobs)

    assert job.status == JobStatus.COMPLETED, job.error
    assert (job.result["new"], job.result["updated"], job.result["entries_skipped"]) == (1, 0, 1)
    assert "1 of its videos belong to another channel here" in job.result["note"]
    assert [v for v in stored()[0] if v["youtube_id"] == GOOD_ID] == before[0]
    assert Video.objects.get(youtube_id=BAD_ID).channel == channel


def test_a_channels_own_feed_still_updates_its_video(feeds, channel, run_jobs):
    VideoFactory(channel=channel, youtube_id=GOOD_ID, title="Old title")
    feeds.serve(FIXTURE_CHANNEL, atom(entry(GOOD_ID, title="New title")))

    _, job = sync_one(channel, run_jobs)

    assert job.result["updated"] == 1 and "note" not in job.result
    assert Video.objects.get().title == "New title"


# --------------------------------------------------------------------------- redirects

def redirect_to(location: str):
    return lambda request: Response("", status=302, headers={"Location": location})


def test_a_redirect_to_another_host_is_refused_naming_it(feeds, channel, run_jobs):
    # The same server under another name: only the host check can stop it.
    elsewhere = feeds.server.url_for("/elsewhere.xml").replace("localhost", "127.0.0.1")
    feeds.server.expect_request("/elsewhere.xml").respond_with_data(feed_for(), content_type="application/atom+xml")
    feeds.serve_handler(FIXTURE_CHANNEL, redirect_to(elsewhere))

    _, job = sync_one(channel, run_jobs)

    assert job.status == JobStatus.FAILED and job.failed_permanently
    assert "The feed redirected to 127.0.0.1, which is neither the feed's own host nor YouTube's" in job.error
    assert not Video.objects.exists() and channel.last_outcome == SyncOutcome.BAD_FEED
    assert not [r for r, _ in feeds.server.log if r.path == "/elsewhere.xml"]


@pytest.mark.parametrize("location", ["https://evil.example/feed.xml", "file:///etc/passwd",
                                      "https://www.youtube.com.evil.example/feeds"])
def test_a_redirect_anywhere_but_youtube_is_refused(feeds, channel, run_jobs, location):
    feeds.serve_handler(FIXTURE_CHANNEL, redirect_to(location))

    _, job = sync_one(channel, run_jobs)

    assert job.status == JobStatus.FAILED and "which is neither the feed's own host nor YouTube's" in job.error


def test_a_redirect_on_the_feeds_own_host_is_followed(feeds, channel, run_jobs):
    feeds.server.expect_request("/moved.xml").respond_with_data(feed_for(), content_type="application/atom+xml")
    feeds.serve_handler(FIXTURE_CHANNEL, redirect_to("/moved.xml"))

    _, job = sync_one(channel, run_jobs)

    assert job.status == JobStatus.COMPLETED, job.error
    assert Video.objects.count() == 15


def test_redirects_to_youtubes_feed_hosts_are_allowed():
    assert {"www.youtube.com", "youtube.com"} <= hosts.FEED_REDIRECT_HOSTS


def test_endless_redirects_give_up(feeds, channel, run_jobs):
    feeds.serve_handler(FIXTURE_CHANNEL, redirect_to(FEED_PATH + f"?channel_id={FIXTURE_CHANNEL}"))

    _, job = sync_one(channel, run_jobs)

    assert "redirected too many times" in job.error
    assert len(feeds.requests_for(FIXTURE_CHANNEL)) == feed.MAX_REDIRECTS + 1


# --------------------------------------------------------------------------- a slow drip

def test_a_feed_dripping_a_byte_at_a_time_is_cut_off_at_the_total_deadline(feeds, channel, run_jobs, settings):
    settings.CHANNEL_FEED_TOTAL_SECONDS = 1.0
    body = feed_for()

    def drip(request):
        def slowly():
            for offset in range(0, 40):
                yield body[offset:offset + 1]
                time.sleep(0.2)  # well inside the 0.5 s read timeout: every read gets its byte
        return Response(slowly(), content_type="application/atom+xml")

    feeds.serve_handler(FIXTURE_CHANNEL, drip)
    started = time.monotonic()

    _, job = sync_one(channel, run_jobs)

    assert time.monotonic() - started < 2.5  # the drip alone would take 8 s
    assert job.status == JobStatus.RETRY_WAIT
    assert "did not send the whole feed in time: it took longer than 1 s in all" in job.error
    assert channel.last_outcome == SyncOutcome.UNREACHABLE and not Video.objects.exists()


def test_the_deadline_is_kept_by_the_clock_it_is_given(feeds):
    feeds.serve(FIXTURE_CHANNEL, feed_for())
    ticks = iter([0.0, 29.0, 31.0])  # the deadline is set, the request goes out, then a chunk comes late

    with pytest.raises(feed.FeedDeadline):
        feed.fetch(feed.feed_url(FIXTURE_CHANNEL), clock=lambda: next(ticks))


def test_a_fetch_inside_the_deadline_is_read_whole(feeds):
    feeds.serve(FIXTURE_CHANNEL, feed_for())

    response = feed.fetch(feed.feed_url(FIXTURE_CHANNEL), clock=lambda: 0.0)

    assert response.body == feed_for()


# --------------------------------------------------------------------------- rows stored before the limits

def test_a_stored_link_or_thumbnail_off_youtube_is_not_rendered(staff_client, channel):
    VideoFactory(channel=channel, youtube_id=BAD_ID, title="Old row", url="javascript:alert(1)",
                 thumbnail_url="https://tracker.example/pixel.gif")
    VideoFactory(channel=channel, youtube_id=GOOD_ID, title="Good row", url="https://youtu.be/Good0000001",
                 thumbnail_url="https://i.ytimg.com/vi/Good0000001/hqdefault.jpg")

    page = staff_client.get(reverse("channel_detail", args=[channel.pk])).content.decode()

    assert "javascript:" not in page and "tracker.example" not in page
    assert f'href="https://www.youtube.com/watch?v={BAD_ID}"' in page
    assert 'href="https://youtu.be/Good0000001"' in page
    assert 'src="https://i.ytimg.com/vi/Good0000001/hqdefault.jpg"' in page


def test_the_api_gives_no_stored_link_or_thumbnail_off_youtube_either(staff, channel):
    from tests.api_clients import token_client

    VideoFactory(channel=channel, youtube_id=BAD_ID, title="Old row", url="javascript:alert(1)",
                 thumbnail_url="https://tracker.example/pixel.gif")

    [video] = token_client(staff).get(f"/api/channels/{channel.pk}/videos").json()["items"]

    assert (video["url"], video["thumbnail_url"]) == (f"https://www.youtube.com/watch?v={BAD_ID}", "")


@pytest.mark.parametrize(("url", "thumbnail", "video"), [
    ("https://i.ytimg.com/x.jpg", True, False), ("https://i3.ytimg.com/x.jpg", True, False),
    ("https://yt3.ggpht.com/x", True, False), ("https://ytimg.com/x.jpg", False, False),
    ("https://www.youtube.com/watch?v=x", False, True), ("https://youtube.com/x", False, True),
    ("https://m.youtube.com/x", False, True), ("https://youtu.be/x", False, True),
    ("https://music.youtube.com/x", False, False), ("https://www.youtube.com:443/x", False, False),
    ("https://www.youtube.com./x", False, True), ("https://[::1/x", False, False),
    ("https://www.youtube.com/\x00", False, False), ("https://www.youtube.com/ x", False, False),
])
def test_the_host_lists(url, thumbnail, video):
    assert (hosts.is_thumbnail_url(url), hosts.is_video_url(url)) == (thumbnail, video)


def test_the_content_security_policy_sources_match_the_thumbnail_hosts():
    for source in hosts.THUMBNAIL_CSP_SOURCES:
        assert hosts.is_thumbnail_url(source.replace("*", "i9") + "/x.jpg")


def test_a_network_failure_message_names_the_deadline(settings):
    settings.CHANNEL_FEED_TOTAL_SECONDS = 7
    request = httpx.Request("GET", "https://feeds.example/x")
    assert "took longer than 7 s in all" in feed.network_failure(feed.FeedDeadline("late", request=request))


# --------------------------------------------------------------------------- sparse entries (make mutation)
# Entries holding only what a video needs: every missing part is stored as "not known", never as
# a made-up value, and never fails the sync.

def bare(extra: str = "") -> str:
    return (f"<entry><yt:videoId>{GOOD_ID}</yt:videoId><yt:channelId>{FIXTURE_CHANNEL}</yt:channelId>"
            f"<published>2026-11-30T18:00:00+00:00</published>{extra}</entry>")


WATCH = f"https://www.youtube.com/watch?v={GOOD_ID}"
NOTHING_KNOWN = {"title": GOOD_ID, "url": WATCH, "description": "", "thumbnail_url": "", "view_count": None,
                 "is_short": None}


@pytest.mark.parametrize(("extra", "known"), [
    ("", {}),
    ('<title></title><link rel="alternate"/>', {}),
    ("<media:group><media:description>words</media:description></media:group>", {"description": "words"}),
    ("<media:group><media:thumbnail/><media:community/></media:group>", {}),
    ("<media:group><media:community><media:statistics/></media:community></media:group>", {}),
    (f'<link href="https://www.youtube.com/shorts/{GOOD_ID}"/>',
     {"url": f"https://www.youtube.com/shorts/{GOOD_ID}", "is_short": True}),
    (f'<link rel="related" href="https://youtu.be/Other000001"/><link rel="self" href="https://youtu.be/Self0000001"/>'
     f'<link rel="alternate" href="https://youtu.be/{GOOD_ID}"/>', {"url": f"https://youtu.be/{GOOD_ID}"}),
], ids=["id-and-date-only", "empty-title-and-link-without-href", "group-without-thumbnail-or-community",
        "thumbnail-without-url-community-without-statistics", "statistics-without-views", "link-without-rel",
        "other-links-before-the-alternate"])
def test_an_entry_missing_parts_is_stored_with_those_parts_unknown(feeds, channel, run_jobs, extra, known):
    feeds.serve(FIXTURE_CHANNEL, atom(bare(extra)))

    _, job = sync_one(channel, run_jobs)

    assert job.status == JobStatus.COMPLETED, job.error
    assert Video.objects.values(*NOTHING_KNOWN).get() == {**NOTHING_KNOWN, **known}


@pytest.mark.parametrize(("published", "kept"), [
    ("1969-12-31T23:59:59Z", False), ("1970-01-01T00:00:00Z", True), ("1970-01-01T09:00:00+09:00", True),
    ("8999-12-31T23:59:59Z", True), ("9000-01-01T00:00:00Z", False),
])
def test_publication_dates_are_kept_from_1970_up_to_the_year_9000(feeds, channel, run_jobs, published, kept):
    feeds.serve(FIXTURE_CHANNEL, atom(entry(), entry(BAD_ID, published=published)))

    _, job = sync_one(channel, run_jobs)

    assert job.status == JobStatus.COMPLETED, job.error
    assert Video.objects.filter(youtube_id=BAD_ID).exists() is kept
    assert job.result["entries_skipped"] == (0 if kept else 1)


@pytest.mark.parametrize(("views", "stored_views"), [(str(10**15), 10**15), (str(10**15 + 1), None)])
def test_view_counts_up_to_a_million_billion_are_kept(feeds, channel, run_jobs, views, stored_views):
    feeds.serve(FIXTURE_CHANNEL, atom(entry(views=views)))

    sync_one(channel, run_jobs)

    assert Video.objects.get().view_count == stored_views


@pytest.mark.parametrize(("body", "root"), [
    (b'<?xml version="1.0"?><rss version="2.0"><channel/></rss>', "rss"),
    (b'<?xml version="1.0"?><feed xmlns="http://example.org/not-atom"><entry/></feed>', "feed"),
])
def test_a_document_that_is_no_atom_feed_is_refused_naming_its_root_element(feeds, channel, run_jobs, body, root):
    feeds.serve(FIXTURE_CHANNEL, body)

    _, job = sync_one(channel, run_jobs)

    assert job.status == JobStatus.FAILED
    assert f"The document is not an Atom feed (its root element is '{root}')." in job.error


# --------------------------------------------------------------------------- network failures in words (make mutation)

@pytest.mark.parametrize(("exc", "said"), [
    (httpx.ConnectTimeout("timed out", request=httpx.Request("GET", "https://feeds.example/x")),
     "This server could not reach feeds.example (no DNS or no internet?): connecting took longer than 3 s."),
    (httpx.ReadError("connection reset by peer", request=httpx.Request("GET", "https://feeds.example:8443/x")),
     "The connection to feeds.example:8443 broke off before the feed was complete "
     "(ReadError: connection reset by peer)."),
    (httpx.RemoteProtocolError("", request=httpx.Request("GET", "https://feeds.example/x")),
     "The connection to feeds.example broke off before the feed was complete (RemoteProtocolError)."),
    (httpx.ReadError("reset"),
     "The connection to the feed server broke off before the feed was complete (ReadError: reset)."),
], ids=["connect-timeout", "cut-off-with-a-reason", "cut-off-without-one", "no-request-made"])
def test_a_network_failure_is_worded_with_the_host_and_what_happened(settings, exc, said):
    settings.CHANNEL_FEED_CONNECT_TIMEOUT_SECONDS = 3

    assert feed.network_failure(exc) == said


# --------------------------------------------------------------------------- entries left out, counted (make mutation)

def test_the_note_counts_each_kind_of_entry_left_out_and_the_rest_is_stored(feeds, channel, run_jobs):
    foreign = [entry(f"Else000000{n}", channel_id=OTHER_CHANNEL) for n in range(2)]
    feeds.serve(FIXTURE_CHANNEL, atom(*foreign, entry("short"), entry(BAD_ID, published="yesterday"), entry(),
                                      entry("Good0000002")))

    _, job = sync_one(channel, run_jobs)

    assert job.status == JobStatus.COMPLETED, job.error
    assert job.result["note"] == ("4 feed entries left out: 2 of another channel, "
                                  "2 repeated or without a valid video id and publication date.")
    assert sorted(Video.objects.values_list("youtube_id", flat=True)) == [GOOD_ID, "Good0000002"]


def test_the_note_of_a_feed_past_the_entry_limit_says_only_that(feeds, channel, run_jobs):
    feeds.serve(FIXTURE_CHANNEL, atom(*(entry(f"Many{n:07d}") for n in range(150))))

    _, job = sync_one(channel, run_jobs)

    assert job.result["note"] == "50 feed entries left out: 50 past the first 100."


def test_a_feed_title_fills_a_blank_channel_title_cut_to_what_it_holds(feeds, channel, run_jobs):
    Channel.objects.filter(pk=channel.pk).update(title="")
    feeds.serve(FIXTURE_CHANNEL, atom(entry()).replace(b"<title>Hostile</title>", b"<title>" + b"T" * 300 + b"</title>"))

    sync_one(channel, run_jobs)

    assert channel.title == "T" * 200


@pytest.mark.parametrize("body", [b"", b"\xef\xbb\xbf \n\t"], ids=["nothing", "byte-order-mark-and-whitespace"])
def test_an_empty_feed_is_refused_in_words(feeds, channel, run_jobs, body):
    feeds.serve(FIXTURE_CHANNEL, body)

    _, job = sync_one(channel, run_jobs)

    assert job.status == JobStatus.FAILED and f"{FIXTURE_CHANNEL}: The feed was empty. Nothing was written." in job.error


# --------------------------------------------------------------------------- what the answer's headers say (make mutation)

def test_an_html_page_is_refused_by_its_content_type_whatever_it_starts_with(feeds, channel, run_jobs):
    feeds.serve(FIXTURE_CHANNEL, b"<head><title>Before you continue to YouTube</title></head>",
                content_type="text/html; charset=utf-8")

    _, job = sync_one(channel, run_jobs)

    assert job.status == JobStatus.FAILED and "answered with an HTML page" in job.error


def test_a_feed_served_without_a_content_type_is_read(feeds, channel, run_jobs):
    def untyped(request):
        response = Response(atom(entry()))
        del response.headers["Content-Type"]
        return response

    feeds.serve_handler(FIXTURE_CHANNEL, untyped)

    _, job = sync_one(channel, run_jobs)

    assert job.status == JobStatus.COMPLETED, job.error
    assert feeds.server.log[-1][1].headers.get("Content-Type") is None
    assert Video.objects.count() == 1


def test_a_429_without_retry_after_cools_the_group_down_for_half_an_hour(feeds, channel, run_jobs):
    group = channel.groups.get()
    feeds.serve(FIXTURE_CHANNEL, b"slow down", status=429)
    before = timezone.now()

    _, job = sync_one(channel, run_jobs)

    group.refresh_from_db()
    assert job.status == JobStatus.FAILED and channel.last_outcome == SyncOutcome.THROTTLED
    assert before + dt.timedelta(minutes=30) <= group.cooldown_until <= timezone.now() + dt.timedelta(minutes=30)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "streamed"])
def test_a_feed_of_exactly_the_size_limit_is_read(feeds, channel, run_jobs, settings, chunked):
    body = feed_for()
    settings.CHANNEL_FEED_MAX_BYTES = len(body)
    if chunked:
        feeds.serve_handler(FIXTURE_CHANNEL, lambda request: Response(
            (body[i:i + 1000] for i in range(0, len(body), 1000)), content_type="application/atom+xml"))
    else:
        feeds.serve(FIXTURE_CHANNEL, body)

    _, job = sync_one(channel, run_jobs)

    assert job.status == JobStatus.COMPLETED, job.error
    assert Video.objects.count() == 15


def test_a_declared_size_over_the_limit_is_refused_before_the_body_is_read(feeds, channel, run_jobs, settings):
    body = feed_for()
    settings.CHANNEL_FEED_MAX_BYTES = len(body) - 1
    feeds.serve(FIXTURE_CHANNEL, body)

    _, job = sync_one(channel, run_jobs)

    assert f"The feed is {len(body):,} bytes, over the limit of {len(body) - 1:,} bytes; refused." in job.error


def test_a_deadline_passed_while_the_body_comes_names_the_host(feeds):
    feeds.serve(FIXTURE_CHANNEL, feed_for())
    ticks = iter([0.0, 1.0, 31.0])  # the deadline is set, the request goes out, the body's first chunk is late
    url = feed.feed_url(FIXTURE_CHANNEL)

    with pytest.raises(feed.FeedDeadline) as caught:
        feed.fetch(url, clock=lambda: next(ticks))

    host = httpx.URL(url)
    assert feed.network_failure(caught.value) == (
        f"The feed server {host.host}:{host.port} did not send the whole feed in time: it took longer than 30 s "
        "in all; gave up.")


def test_a_body_over_the_limit_is_refused_when_it_comes_in_small_pieces(feeds, channel, run_jobs, settings):
    settings.CHANNEL_FEED_MAX_BYTES = 10_000
    body = feed_for()

    def in_pieces(request):
        def pieces():
            for offset in range(0, len(body), 1000):
                yield body[offset:offset + 1000]
                time.sleep(0.02)  # each piece arrives, and is counted, on its own
        return Response(pieces(), content_type="application/atom+xml")

    feeds.serve_handler(FIXTURE_CHANNEL, in_pieces)

    _, job = sync_one(channel, run_jobs)

    assert job.status == JobStatus.FAILED
    assert "The feed is over the limit of 10,000 bytes; refused after reading that much." in job.error
    assert not Video.objects.exists()


# --------------------------------------------------------------------------- the request itself (make mutation)

def test_the_request_names_this_app_and_asks_for_atom(feeds, channel, run_jobs):
    feeds.serve(FIXTURE_CHANNEL, feed_for())

    sync_one(channel, run_jobs)

    [request] = feeds.requests_for(FIXTURE_CHANNEL)
    assert (request.headers["User-Agent"], request.headers["Accept"]) == (
        feed.USER_AGENT, "application/atom+xml, application/xml")


def test_one_client_is_kept_per_thread_for_its_pooled_connections(feeds):
    import threading

    first = feed._client()
    in_another_thread = []
    thread = threading.Thread(target=lambda: in_another_thread.append(feed._client()))
    thread.start()
    thread.join()

    assert feed._client() is first and not first.is_closed
    assert in_another_thread[0] is not first
    in_another_thread[0].close()


def test_the_feed_url_is_youtubes_and_must_be_http_or_https(settings):
    settings.YOUTUBE_FEED_URL = "https://www.youtube.com/feeds/videos.xml?channel_id={channel_id}"
    assert feed.feed_url(FIXTURE_CHANNEL) == f"https://www.youtube.com/feeds/videos.xml?channel_id={FIXTURE_CHANNEL}"

    settings.YOUTUBE_FEED_URL = "ftp://feeds.example/{channel_id}.xml"
    with pytest.raises(feed.FeedError) as caught:
        feed.feed_url(FIXTURE_CHANNEL)
    assert str(caught.value) == (f"The feed URL 'ftp://feeds.example/{FIXTURE_CHANNEL}.xml' is not http or https; "
                                 "check YOUTUBE_FEED_URL.")


def test_a_fetch_without_validators_asks_unconditionally(feeds):
    feeds.serve(FIXTURE_CHANNEL, feed_for())

    feed.fetch(feed.feed_url(FIXTURE_CHANNEL))

    [request] = feeds.requests_for(FIXTURE_CHANNEL)
    assert "If-None-Match" not in request.headers and "If-Modified-Since" not in request.headers


@pytest.mark.parametrize(("length", "kept"), [(feed.MAX_ETAG, True), (feed.MAX_ETAG + 1, False)])
def test_an_etag_up_to_its_length_limit_is_stored_and_sent_back(feeds, channel, run_jobs, length, kept):
    etag = '"' + "e" * (length - 2) + '"'
    feeds.serve(FIXTURE_CHANNEL, feed_for(), headers={"ETag": etag})
    sync_one(channel, run_jobs)
    Channel.objects.filter(pk=channel.pk).update(feed_sha256="")

    sync_one(channel, run_jobs)

    assert channel.feed_etag == (etag if kept else "")
    assert feeds.requests_for(FIXTURE_CHANNEL)[-1].headers.get("If-None-Match") == (etag if kept else None)


def clock_at(*readings: float):
    """A monotonic clock giving these readings, then the last one again and again."""
    readings = list(readings)
    return lambda: readings.pop(0) if len(readings) > 1 else readings[0]


@pytest.mark.parametrize(("late_by", "read"), [(-0.5, True), (0.0, False)],
                         ids=["half-a-second-to-spare", "at-the-deadline"])
def test_the_body_must_arrive_before_the_deadline_itself(feeds, late_by, read):
    feeds.serve(FIXTURE_CHANNEL, feed_for())
    clock = clock_at(100.0, 100.0, 130.0 + late_by)  # the deadline is 30 s after the start

    if read:
        assert feed.fetch(feed.feed_url(FIXTURE_CHANNEL), clock=clock).body == feed_for()
    else:
        with pytest.raises(feed.FeedDeadline):
            feed.fetch(feed.feed_url(FIXTURE_CHANNEL), clock=clock)


def test_an_https_redirect_on_the_feeds_own_host_is_followed(feeds, channel, run_jobs):
    url = httpx.URL(feed.feed_url(FIXTURE_CHANNEL))
    # The local server speaks plain HTTP: following the redirect fails in the TLS handshake, which
    # shows it was followed rather than refused.
    feeds.serve_handler(FIXTURE_CHANNEL, redirect_to(f"https://{url.host}:{url.port}/moved.xml"))

    _, job = sync_one(channel, run_jobs)

    assert "neither the feed's own host" not in job.error
    assert f"The connection to {url.host}:{url.port} broke off" in job.error


def test_a_redirect_to_no_host_at_all_is_refused_naming_where_it_led(feeds, channel, run_jobs):
    feeds.serve_handler(FIXTURE_CHANNEL, redirect_to("file:///etc/passwd"))

    _, job = sync_one(channel, run_jobs)

    assert ("The feed redirected to 'file:/etc/passwd', which is neither the feed's own host nor YouTube's; "
            "not followed.") in job.error


def test_endless_redirects_are_worded_with_the_host(feeds, channel, run_jobs):
    url = httpx.URL(feed.feed_url(FIXTURE_CHANNEL))
    feeds.serve_handler(FIXTURE_CHANNEL, redirect_to(FEED_PATH + f"?channel_id={FIXTURE_CHANNEL}"))

    _, job = sync_one(channel, run_jobs)

    assert f"The feed at {url.host}:{url.port} redirected too many times; gave up." in job.error
    assert {request.method for request in feeds.requests_for(FIXTURE_CHANNEL)} == {"GET"}


def test_a_deadline_passed_on_a_redirect_names_the_host_it_was_going_to(feeds):
    """The deadline can pass between a redirect and the request it leads to: the words still name
    the host (they said "The feed server the feed server did not send ...")."""
    feeds.server.expect_request("/moved.xml").respond_with_data(feed_for(), content_type="application/atom+xml")
    feeds.serve_handler(FIXTURE_CHANNEL, redirect_to("/moved.xml"))
    url = httpx.URL(feed.feed_url(FIXTURE_CHANNEL))

    with pytest.raises(feed.FeedDeadline) as caught:
        feed.fetch(str(url), clock=clock_at(0.0, 1.0, 31.0))  # the redirect's answer came late

    assert feed.network_failure(caught.value) == (
        f"The feed server {url.host}:{url.port} did not send the whole feed in time: it took longer than 30 s "
        "in all; gave up.")
    assert not [request for request, _ in feeds.server.log if request.path == "/moved.xml"]


# --------------------------------------------------------------------------- refusals word for word (make mutation)

@pytest.mark.parametrize(("body", "said"), [
    (b"\n  <!doctype html><html><body>Before you continue</body></html>",
     "The feed URL answered with an HTML page (a consent or error page?), not a feed."),
    (NUL, "The feed holds a NUL character, which XML does not allow; refused."),
    (EXTERNAL_DTD, "The feed declares a document type (DTD), where entities could hide; refused as unsafe."),
    (b"<feed>caf\xe9</feed>", "The feed is not UTF-8 text (byte 9 is not); refused."),
    (b"<feed><entry></feed>", "The feed is not well-formed XML (truncated or malformed): mismatched tag: line 1, "
                              "column 15."),
], ids=["html-after-whitespace", "nul", "dtd", "latin-1", "malformed"])
def test_a_refused_feed_is_worded_exactly(feeds, channel, run_jobs, body, said):
    feeds.serve(FIXTURE_CHANNEL, body)  # served as Atom: only the body can tell

    _, job = sync_one(channel, run_jobs)

    assert job.status == JobStatus.FAILED
    assert job.error == f"{FIXTURE_CHANNEL}: {said} Nothing was written."
    assert channel.last_error == said


@pytest.mark.parametrize("before", [b"\n  ", b"\xef\xbb\xbf", b"\xef\xbb\xbf\r\n"],
                         ids=["whitespace", "byte-order-mark", "byte-order-mark-and-a-line-break"])
def test_a_feed_with_something_before_its_xml_declaration_is_read(feeds, channel, run_jobs, before):
    assert feed_for().startswith(b"<?xml")
    feeds.serve(FIXTURE_CHANNEL, before + feed_for())

    _, job = sync_one(channel, run_jobs)

    assert job.status == JobStatus.COMPLETED, job.error
    assert Video.objects.count() == 15
