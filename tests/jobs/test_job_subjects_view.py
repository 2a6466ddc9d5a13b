"""What a job is about, on every page that lists it: a quick sync names its channel and group (title
and link) in /jobs, its search, the job's page and the run that caused it, in a fixed number of
queries. `jobs` knows no channel: the channels app says how, through its job handler."""

import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from channels import services
from jobs.models import Job, JobStatus
from tests.factories import ChannelFactory, ChannelGroupFactory, JobFactory, UserFactory, grant

# The handler that names them registered afresh in each test (see the fixture): the pages read it.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("quick_sync_handler")]

UTC = dt.timezone.utc


def ids_on(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'href="/jobs/(\d+)"', html)]


def html_of(client, path: str, **params) -> str:
    response = client.get(path, params)
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture
def user(db):
    """May read jobs and the channels' pages their names link to."""
    return UserFactory(permissions=["jobs.view_job", "channels.view_channelgroup"])


@pytest.fixture
def news(db):
    return ChannelGroupFactory(name="News")


def quick_sync(channel, group=None, **fields) -> Job:
    params = {"channel_id": channel.pk, "group_id": group.pk if group else None, "group_sync_id": 1}
    return JobFactory(job_type="QUICK_SYNC", params=params, **fields)


def test_the_list_names_the_channel_and_the_group_of_each_quick_sync(user_client, news):
    eagle = ChannelFactory(title="Legal Eagle", group=news)
    alone = ChannelFactory(title="Tom Scott")
    quick_sync(eagle, news)
    quick_sync(alone)  # Sync now of one channel: no group

    html = html_of(user_client, "/jobs")

    assert (f'Channel <a href="/channels/{eagle.pk}">Legal Eagle</a></span> · '
            f'<span class="job-subject">Group <a href="/channels#group-{news.pk}">News</a>') in html
    assert f'Channel <a href="/channels/{alone.pk}">Tom Scott</a></span></small>' in html


def test_a_user_who_may_not_open_the_channels_pages_reads_the_names_without_links(client, news):
    eagle = ChannelFactory(title="Legal Eagle", group=news)
    quick_sync(eagle, news)
    client.force_login(UserFactory(permissions=["jobs.view_job"]))

    html = html_of(client, "/jobs")

    assert '<span class="job-subject">Channel Legal Eagle</span>' in html
    assert f'href="/channels/{eagle.pk}"' not in html and f'href="/channels#group-{news.pk}"' not in html


def test_a_deleted_channel_is_named_by_its_id_without_a_link(user_client, news):
    gone = ChannelFactory(title="Gone")
    job = quick_sync(gone, news)
    gone_pk = gone.pk
    gone.delete()

    html = html_of(user_client, f"/jobs/{job.pk}")

    assert f"Channel #{gone_pk} (deleted)" in html and 'href="/channels/' not in html


def test_a_deleted_group_is_named_by_its_id_without_a_link(user_client, news):
    eagle = ChannelFactory(title="Legal Eagle", group=news)
    job = quick_sync(eagle, news)
    news_pk = news.pk
    news.delete()

    html = html_of(user_client, f"/jobs/{job.pk}")

    assert (f'<span class="job-subject">Channel <a href="/channels/{eagle.pk}">Legal Eagle</a></span> · '
            f'<span class="job-subject">Group #{news_pk} (deleted)</span>') in html
    assert 'href="/channels#group-' not in html


@pytest.mark.parametrize("params", [
    ["channel_id", 3],
    {"channel_id": "x", "group_id": "y"},
    {"channel_id": True, "group_id": False},
    {"channel_id": 2.0},
])
def test_a_job_whose_params_name_no_channel_is_listed_about_nothing(user_client, params):
    # Made by hand or by an older version: its handler refuses it when it runs, and the pages list it.
    job = JobFactory(job_type="QUICK_SYNC", params=params)

    listed = html_of(user_client, "/jobs")
    shown = html_of(user_client, f"/jobs/{job.pk}")

    assert ids_on(listed) == [job.pk]
    assert 'class="job-subject"' not in listed and 'class="job-subject"' not in shown


def test_the_list_costs_the_same_queries_for_two_quick_syncs_or_twenty(user_client, news):
    def queries_for_page() -> int:
        with CaptureQueriesContext(connection) as captured:
            html_of(user_client, "/jobs")
        return len(captured.captured_queries)

    for n in range(2):
        quick_sync(ChannelFactory(title=f"Channel {n}", group=news), news)
    few = queries_for_page()
    for n in range(2, 20):
        quick_sync(ChannelFactory(title=f"Channel {n}", group=news), news)
    JobFactory.create_batch(3)  # other types: described by nobody, in no query

    assert queries_for_page() == few


@pytest.mark.parametrize(("q", "wanted"), [
    ("legal eagle", ["eagle"]),  # a channel's title, any case
    ("news", ["eagle", "lonely"]),  # a group's name: every channel synced with it
    ("Sync now of", ["by_origin"]),  # what caused it
])
def test_search_finds_quick_syncs_by_their_channel_and_group(user_client, news, q, wanted):
    lawyers = ChannelGroupFactory(name="Lawyers")
    jobs = {
        "eagle": quick_sync(ChannelFactory(title="Legal Eagle", group=news), news),
        "lonely": quick_sync(ChannelFactory(title="Lonely", group=news), news),
        "other": quick_sync(ChannelFactory(title="Other", group=lawyers), lawyers),
        "by_origin": JobFactory(origin_label="Sync now of Lawyers by alice"),
    }

    html = html_of(user_client, "/jobs", q=q)

    assert ids_on(html) == sorted((jobs[name].pk for name in wanted), reverse=True)


def test_search_finds_the_jobs_of_a_channel_by_title_and_of_another_group_by_name_at_once(user_client, news):
    lawyers = ChannelGroupFactory(name="Lawyers")
    by_title = quick_sync(ChannelFactory(title="Lawful Good", group=news), news)
    by_group = quick_sync(ChannelFactory(title="Tom Scott", group=lawyers), lawyers)
    quick_sync(ChannelFactory(title="Other", group=news), news)

    assert ids_on(html_of(user_client, "/jobs", q="law")) == [by_group.pk, by_title.pk]


def test_a_number_finds_the_job_with_that_id_and_the_jobs_whose_error_holds_it(user_client):
    by_error = JobFactory(status=JobStatus.FAILED, error="The feed answered 404 Not Found for UCgone.")
    JobFactory(error="The feed answered 500.")
    by_id = JobFactory()

    assert ids_on(html_of(user_client, "/jobs", q="404")) == [by_error.pk]
    assert ids_on(html_of(user_client, "/jobs", q=str(by_id.pk))) == [by_id.pk]
    # With its "#", a number is an id only.
    assert ids_on(html_of(user_client, "/jobs", q=f"#{by_error.pk}")) == [by_error.pk]


def test_the_job_page_names_them_and_so_does_its_origin(user_client, news):
    eagle = ChannelFactory(title="Legal Eagle", group=news)
    job = quick_sync(eagle, news, origin_label="Sync now by alice")

    html = html_of(user_client, f"/jobs/{job.pk}")

    subjects = (f'<span class="job-subject">Channel <a href="/channels/{eagle.pk}">Legal Eagle</a></span> · '
                f'<span class="job-subject">Group <a href="/channels#group-{news.pk}">News</a></span>')
    assert f"<dt>About</dt>\n    <dd>{subjects}</dd>" in html
    assert f"<dt>Caused by</dt>\n    <dd>Sync now by alice, for {subjects}</dd>" in html


def test_the_run_that_caused_them_names_them(user_client, user, news, make_schedule):
    grant(user, "view_scheduledtask")  # the run's page
    eagle = ChannelFactory(title="Legal Eagle", group=news)
    schedule = make_schedule(now=dt.datetime(2026, 5, 1, 12, 0, tzinfo=UTC), name="Sync News",
                             task_type="QUICK_SYNC_GROUP", params={"group_id": news.pk}, schedule_time="05:30")
    from scheduling import tick

    tick.run_pass(now=dt.datetime(2026, 5, 2, 5, 30, tzinfo=UTC))
    run = schedule.runs.get()
    job = run.jobs.get()

    html = html_of(user_client, f"/schedules/runs/{run.pk}")

    assert (f'Job #{job.pk}</a> Quick sync of a channel: <span class="job-subject">Channel '
            f'<a href="/channels/{eagle.pk}">Legal Eagle</a></span>') in html


def test_sync_now_jobs_are_named_too(user_client, news):
    eagle = ChannelFactory(title="Legal Eagle", group=news)
    services.group_sync_now(group=news, now=timezone.now())

    html = html_of(user_client, "/jobs")

    assert f'<a href="/channels/{eagle.pk}">Legal Eagle</a>' in html
