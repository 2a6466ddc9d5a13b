"""The site's own answers outside the apps: what Django refuses before any view runs, its error pages,
and what every page shares (one time format)."""

import datetime as dt
import re
from html.parser import HTMLParser

import pytest
from django.urls import path as url_path
from django.utils import timezone

from common.actors import Actor, Via
from core.services import api_token_create
from jobs.models import Job
from notifications.models import Delivery, Incident
from scheduling.models import ScheduleAuditEntry
from scheduling.services import schedule_run_now
from tests.factories import (
    BackupFactory,
    ChannelFactory,
    ChannelGroupFactory,
    NotificationChannelFactory,
    ScheduledTaskFactory,
    StaffFactory,
    VideoFactory,
)

pytestmark = pytest.mark.django_db


def test_the_api_answers_a_host_it_does_not_serve_in_json(client):
    response = client.get("/api/schedules", HTTP_HOST="&pF")

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"errors": {"__all__": [
        "The Host header names a server this one does not answer for (ALLOWED_HOSTS)."]}}


def test_a_page_answers_a_host_it_does_not_serve_as_django_does(client):
    response = client.get("/schedules", HTTP_HOST="&pF")

    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")


# --- One time format across the pages ---------------------------------------------------------------

ONE_FORMAT = r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d{1,2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4}, \d\d:\d\d [A-Z]{3,4}"
OTHER_FORMATS = {
    "ISO date": r"\b\d{4}-\d\d-\d\d\b",
    "seconds": r"\b\d{1,2}:\d\d:\d\d\b",
    "a.m./p.m.": r"\b\d{1,2}(:\d\d)? ?[ap]\.?m\b",
    "a short date without year, time and zone": r"\b\d{1,2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\b(?! \d{4}, \d\d:\d\d [A-Z])",
    "Django's English date": r"\b(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\.? \d{1,2}, \d{4}\b",
}


class _Times(HTMLParser):
    """The visible text of a page and the texts and titles of its <time> elements."""

    def __init__(self):
        super().__init__()
        self.text, self.times, self.titles = [], [], []
        self._open_times, self._skip = [], 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "template"):
            self._skip += 1
        if tag == "time":
            self._open_times.append([])
            if title := dict(attrs).get("title"):
                self.titles.append(title)

    def handle_endtag(self, tag):
        if tag in ("script", "style", "template"):
            self._skip -= 1
        if tag == "time" and self._open_times:
            self.times.append(" ".join("".join(self._open_times.pop()).split()))

    def handle_data(self, data):
        if self._skip:
            return
        self.text.append(data)
        for parts in self._open_times:
            parts.append(data)


def times_of(html: str) -> _Times:
    parser = _Times()
    parser.feed(html)
    # Text pieces joined by a space (a page's cells must not run together), then no space before punctuation.
    parser.text = re.sub(r" ([.,;:)])", r"\1", " ".join(" ".join(parser.text).split()))
    return parser


@pytest.fixture
def everything(db, settings, tmp_path):
    """A little of everything a page shows a time for, in two zones and two years."""
    settings.BACKUP_DIR = tmp_path / "backups"
    now = dt.datetime(2026, 12, 4, 19, 37, 51, tzinfo=dt.UTC)
    user = StaffFactory(is_superuser=True)
    schedule = ScheduledTaskFactory(name="Nightly backup", timezone="Europe/Berlin",
                                    next_run_at=dt.datetime(2026, 12, 5, 1, tzinfo=dt.UTC))
    run = schedule_run_now(schedule=schedule, now=now, actor=Actor(Via.PAGE, user))
    Job.objects.filter(schedule_runs=run).update(
        status="completed", started_at=now + dt.timedelta(seconds=2), finished_at=now + dt.timedelta(seconds=9),
        attempts=1, attempt_log=[{"attempt": 1, "started_at": (now + dt.timedelta(seconds=2)).isoformat(),
                                  "finished_at": (now + dt.timedelta(seconds=9)).isoformat(), "outcome": "completed"}])
    BackupFactory(started_at=dt.datetime(2025, 11, 1, 2, 0, 7, tzinfo=dt.UTC))
    group = ChannelGroupFactory(name="News")
    channel = ChannelFactory(title="Tagesschau", group=group, last_checked_at=now, last_success_at=now)
    VideoFactory(channel=channel, title="Evening news", published_at=dt.datetime(2024, 5, 1, 20, 0, 3, tzinfo=dt.UTC))
    phone = NotificationChannelFactory(name="Phone", last_sent_at=now, last_error_at=now, consecutive_failures=1,
                                       last_error="refused")
    Incident.objects.create(key="run_failed:1", kind="run_failed", title="Nightly backup failed", opened_at=now)
    Delivery.objects.create(channel=phone, channel_name="Phone", event="test", title="Test", created_at=now,
                            next_attempt_at=now, status="sent", sent_at=now + dt.timedelta(seconds=1), attempts=1)
    api_token_create(user=user, name="laptop", now=now)
    return {"user": user, "schedule": schedule, "run": run, "job": run.jobs.get(), "channel": channel}


def pages_of(everything) -> list[str]:
    job = everything["job"]
    return ["/schedules", f"/schedules/{everything['schedule'].pk}", f"/schedules/runs/{everything['run'].pk}",
            "/schedules/upcoming", "/backups", "/channels", f"/channels/{everything['channel'].pk}",
            "/jobs", f"/jobs/{job.pk}", "/notifications", "/account/tokens",
            "/admin/jobs/job/", f"/admin/jobs/job/{job.pk}/change/", "/admin/scheduling/scheduleauditentry/",
            "/admin/scheduling/schedulerun/", f"/admin/scheduling/schedulerun/{everything['run'].pk}/change/",
            f"/admin/scheduling/scheduledtask/{everything['schedule'].pk}/change/", "/admin/backups/backup/",
            "/admin/channels/video/", "/admin/notifications/delivery/", "/admin/auth/user/"]


def test_every_page_writes_times_in_one_format(client, everything):
    client.force_login(everything["user"])
    seen = 0
    for path in pages_of(everything):
        response = client.get(path)
        assert response.status_code == 200, path
        page = times_of(response.content.decode())
        for text in page.times:
            assert re.fullmatch(rf"{ONE_FORMAT}( \({ONE_FORMAT}\))?", text), (path, text)
        for title in page.titles:
            assert re.fullmatch(ONE_FORMAT, title), (path, title)
        for name, pattern in OTHER_FORMATS.items():
            assert not re.search(pattern, page.text), (path, name, re.search(pattern, page.text))
        seen += len(page.times) + len(re.findall(ONE_FORMAT, page.text))
    assert seen > 40  # the pages did show times


def test_the_admin_shows_the_zone_of_its_times(client, everything):
    client.force_login(everything["user"])
    job = everything["job"]
    listing = times_of(client.get("/admin/jobs/job/").content.decode()).text
    detail = times_of(client.get(f"/admin/jobs/job/{job.pk}/change/").content.decode()).text

    assert "Fri 4 Dec 2026, 19:37 UTC" in listing  # created
    assert "Fri 4 Dec 2026, 19:38 UTC" in detail  # finished, read-only


# --- The newcomer's small things ----------------------------------------------------------------------

def test_backups_says_when_its_schedule_last_ran_in_words(client, settings, tmp_path):
    settings.BACKUP_DIR = tmp_path / "backups"
    user = StaffFactory(is_superuser=True)
    client.force_login(user)
    schedule = ScheduledTaskFactory(name="Nightly backup")
    schedule_run_now(schedule=schedule, now=timezone.now(), actor=Actor(Via.PAGE, user))

    text = times_of(client.get("/backups").content.decode()).text

    assert "The schedule last ran" in text and "UTC (just now); that run has not finished yet." in text
    assert not re.search(r"now ?: ?dispatched", text, re.IGNORECASE)


def test_a_schedules_audit_trail_says_who_in_plain_words(client):
    user = StaffFactory(is_superuser=True, username="alice")
    client.force_login(user)
    schedule = ScheduledTaskFactory(name="Nightly backup")
    for action, via, name in [("create", Via.SYSTEM, ""), ("update", Via.PAGE, "alice"), ("run_now", Via.COMMAND, "")]:
        ScheduleAuditEntry.objects.create(schedule=schedule, schedule_name=schedule.name, action=action, via=via,
                                          actor_name=name, at=dt.datetime(2026, 12, 4, 19, 37, tzinfo=dt.UTC))

    text = times_of(client.get(f"/schedules/{schedule.pk}").content.decode()).text

    assert "Created by the system, Fri 4 Dec 2026, 19:37 UTC" in text
    assert "Changed by alice on the pages," in text
    assert "Run now from the command line," in text
    assert " via " not in text


CHANNEL_ID = "UCabcdefghijklmnopqrstuv"


@pytest.mark.parametrize(("before", "chosen", "toast"), [
    (["News"], ["News"], "“Both” is already in the archive and in “News”: nothing changed."),
    ([], [], "“Both” is already in the archive: nothing changed."),
    (["News"], [], "“Both” is already in the archive: nothing changed."),
    (["News"], ["News", "Lawyers"], "“Both” was already in the archive; it is now in “Lawyers” too. "
                                    "It was already in “News”."),
    ([], ["News", "Lawyers"], "“Both” was already in the archive; it is now in “Lawyers” and “News” too."),
    (None, ["News"], "Channel “UCabcdefghijklmnopqrstuv” added to “News”. Its videos appear after its first sync."),
])
def test_adding_a_channel_says_what_changed(client, before, chosen, toast):
    client.force_login(StaffFactory(is_superuser=True))
    groups = {name: ChannelGroupFactory(name=name) for name in ("Lawyers", "News")}
    if before is not None:
        channel = ChannelFactory(youtube_id=CHANNEL_ID, title="Both")
        channel.groups.set([groups[name] for name in before])

    response = client.post("/channels/add", {"reference": CHANNEL_ID, "groups": [groups[n].pk for n in chosen]},
                           HTTP_HX_REQUEST="true")

    assert toast in times_of(response.content.decode()).text


def test_a_videos_kind_has_a_badge_only_when_it_is_known(client):
    client.force_login(StaffFactory(is_superuser=True))
    channel = ChannelFactory(title="Tagesschau")
    for title, is_short in [("A Short", True), ("A video", False), ("Kind unknown", None)]:
        VideoFactory(channel=channel, title=title, is_short=is_short)

    html = client.get(f"/channels/{channel.pk}").content.decode()
    badges = {re.search(r'target="_blank">([^<]*)<', item)[1]: re.findall(r'class="badge[^"]*">([^<]*)<', item)
              for item in html.split('<li class="video">')[1:]}

    assert badges == {"A Short": ["Short"], "A video": ["Video"], "Kind unknown": []}
    assert "unknown" not in times_of(html).text.lower().replace("kind unknown", "")


@pytest.mark.parametrize(("names", "words"), [
    ([], "is empty."),
    (["a.sqlite3.zst", "a.sqlite3.zst.json"], "holds 1 backup file and its manifest, using 20 B."),
    (["a.sqlite3.zst", "a.sqlite3.zst.json", "b.sqlite3.zst", "b.sqlite3.zst.json"],
     "holds 2 backup files and their manifests, using 40 B."),
    (["a.sqlite3.zst", "b.sqlite3.zst", "b.sqlite3.zst.json"], "holds 2 backup files and 1 manifest, using 30 B."),
])
def test_backups_counts_backups_in_its_folder_not_files(client, settings, tmp_path, names, words):
    settings.BACKUP_DIR = tmp_path / "backups"
    settings.BACKUP_DIR.mkdir()
    for name in names:
        (settings.BACKUP_DIR / name).write_bytes(b"x" * 10)
    client.force_login(StaffFactory(is_superuser=True))

    text = times_of(client.get("/backups").content.decode()).text

    assert f"The backup folder {settings.BACKUP_DIR} {words}" in text, text[text.find("The backup folder"):][:300]
    assert not re.search(r"\b\d+ files?\b", text)


# --- Styled 404 and 500 pages -----------------------------------------------------------------------------

def boom(request):
    raise RuntimeError("a bug")


urlpatterns = [url_path("boom", boom)]  # for the 500 test below (pytest.mark.urls)


def test_an_unknown_page_answers_a_styled_404_in_words(client):
    client.force_login(StaffFactory(is_superuser=True))

    response = client.get("/schedules/no-such-page")

    assert response.status_code == 404
    assert [t.name for t in response.templates][:2] == ["404.html", "frame.html"]
    text = times_of(response.content.decode()).text
    assert text.startswith("Page not found · Channel archive Channel archive Page not found")
    assert "There is no page at /schedules/no-such-page." in text
    assert '<a href="/schedules">Schedules</a>' in response.content.decode()
    assert "<style>" in response.content.decode()


@pytest.mark.urls("tests.core.test_views")
def test_a_server_error_answers_a_styled_500_that_needs_no_database(client, django_db_blocker):
    client.raise_request_exception = False

    with django_db_blocker.block():  # the error may be the database itself: the page must not need it
        response = client.get("/boom")

    assert response.status_code == 500
    assert [t.name for t in response.templates] == ["500.html", "frame.html"]
    text = times_of(response.content.decode()).text
    assert "Something went wrong" in text and "What went wrong is written in the server's log." in text
    assert "a bug" not in text and "Traceback" not in text
    assert "<style>" in response.content.decode()


def test_the_tokens_table_labels_its_own_cells_for_a_phone(client):
    """On a phone each token is a card whose cells say what they are (the page's own labels, not the jobs table's)."""
    from django.utils import timezone

    from core.services import api_token_create
    from tests.factories import UserFactory

    user = UserFactory()
    api_token_create(user=user, name="Nightly export", now=timezone.now())
    client.force_login(user)
    content = client.get("/account/tokens").content.decode()
    assert 'class="tokens-table stack-on-phone"' in content and "jobs-table" not in content
    for label in ("Name", "Token", "Created", "Last used", "Status"):
        assert f'data-label="{label}"' in content, label
