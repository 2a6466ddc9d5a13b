"""Sync now through the API: POST /api/channels/channel_groups/<id>/sync and /api/channels/<id>/sync.

They answer with the jobs created, and 409 when there is nothing to do or a sync is still at work.
"""

import datetime as dt

import pytest
from django.test import Client

from channels.models import ChannelGroup, ChannelSync, GroupSync
from jobs.models import Job, JobStatus
from tests.api_clients import ALL_ACTIONS, token_client, token_for, user_with
from tests.factories import ChannelFactory, ChannelGroupFactory, UserFactory, grant

pytestmark = pytest.mark.django_db

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 3, 26, 12, 0, tzinfo=UTC)
GROUPS = "/api/channels/channel_groups"


@pytest.fixture(autouse=True)
def frozen(time_machine):
    time_machine.move_to(NOW, tick=False)


@pytest.fixture
def editor(db):
    return user_with(*ALL_ACTIONS, model="channelgroup", app="channels", username="editor")


@pytest.fixture
def api(editor):
    return token_client(editor)


@pytest.fixture
def news(db):
    return ChannelGroupFactory(name="News")


def errors_of(response, status=400) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    return response.json()["errors"]


def sync_group(api, group, body=None):
    return api.post(f"{GROUPS}/{group.pk}/sync", body)


# --- a group ------------------------------------------------------------------------------------------

def test_it_syncs_a_group_and_answers_with_its_jobs(api, news):
    channels = ChannelFactory.create_batch(2, group=news)
    ChannelFactory(group=news, enabled=False)

    response = sync_group(api, news)

    assert response.status_code == 200, response.content
    body = response.json()
    jobs = list(Job.objects.order_by("pk"))
    assert [(job.job_type, job.params["channel_id"], job.origin_label) for job in jobs] == [
        ("QUICK_SYNC", channel.pk, "Sync now by editor") for channel in channels]
    assert body["jobs"] == [{"id": job.pk, "status": "queued", "channel_id": job.params["channel_id"],
                             "url": f"http://testserver/jobs/{job.pk}",
                             "api_url": f"http://testserver/api/jobs/{job.pk}"} for job in jobs]
    assert body["message"] == ("Syncing “News”: 2 jobs queued. No worker is running, so the jobs wait until one "
                               "starts (manage.py qcluster).")
    group_sync = GroupSync.objects.get()
    assert body["sync"]["id"] == group_sync.pk and group_sync.group == news
    assert (body["sync"]["jobs_created"], body["sync"]["channels_total"], body["sync"]["finished_at"]) == (2, 2, None)
    assert body["sync"]["origin"] == "Sync now by editor"


@pytest.mark.parametrize("target", ["group", "channel"])
def test_it_accepts_an_empty_body_without_a_content_type(editor, news, target):
    """curl -X POST …/sync sends no body and no Content-Type."""
    channel = ChannelFactory(group=news)
    curl = Client(HTTP_AUTHORIZATION=f"Bearer {token_for(editor)}")
    url = f"{GROUPS}/{news.pk}/sync" if target == "group" else f"/api/channels/{channel.pk}/sync"

    response = curl.generic("POST", url, b"", content_type="")

    assert response.status_code == 200, response.content
    assert Job.objects.count() == 1


@pytest.mark.parametrize(("setup", "message"), [
    (lambda group: None, "“News” has no enabled channel."),
    (lambda group: ChannelFactory.create_batch(2, group=group, enabled=False), "“News” has no enabled channel."),
    (lambda group: ChannelFactory.create_batch(2, group=group, consecutive_failures=2,
                                               next_attempt_at=NOW + dt.timedelta(minutes=20)),
     "All 2 enabled channels of “News” are skipped: each is waiting after failures (backoff)."),
    (lambda group: (ChannelFactory(group=group), ChannelGroup.objects.filter(pk=group.pk).update(
        cooldown_until=NOW + dt.timedelta(hours=1), cooldown_reason="HTTP 429 from YouTube")),
     "All 1 channels of “News” are skipped: the group cools down until Thu 26 Mar 2026, 13:00 UTC (HTTP 429 from YouTube)."),
])
def test_it_answers_409_when_a_group_has_nothing_to_sync(api, news, setup, message):
    setup(news)

    errors = errors_of(sync_group(api, news), status=409)

    assert errors == {"__all__": [message]}
    assert not Job.objects.exists()


def test_it_answers_409_while_a_sync_of_the_group_is_at_work_unless_forced(api, news):
    ChannelFactory.create_batch(2, group=news)
    assert sync_group(api, news).status_code == 200

    errors = errors_of(sync_group(api, news), status=409)

    assert errors == {"__all__": ['“News” is still syncing: 2 jobs queued, running or waiting to retry. Send {"force": true} to sync '
                                  "anyway."]}
    assert Job.objects.count() == 2 and GroupSync.objects.count() == 1
    forced = sync_group(api, news, {"force": True})
    assert forced.status_code == 200, forced.content
    assert Job.objects.count() == 4


def test_it_syncs_again_once_the_earlier_jobs_are_done(api, news):
    ChannelFactory(group=news)
    sync_group(api, news)
    Job.objects.update(status=JobStatus.COMPLETED)

    assert sync_group(api, news, {"force": False}).status_code == 200


@pytest.mark.parametrize(("status", "at_work"), [(JobStatus.QUEUED, True), (JobStatus.RUNNING, True),
                                               (JobStatus.RETRY_WAIT, True), (JobStatus.FAILED, False),
                                               (JobStatus.CANCELLED, False), (JobStatus.COMPLETED, False)])
def test_it_counts_unfinished_jobs_of_a_schedules_run_as_a_sync_at_work(api, news, status, at_work):
    """The schedule's run makes the same QUICK_SYNC jobs, with the group's id."""
    channel = ChannelFactory(group=news)
    Job.objects.create(job_type="QUICK_SYNC", status=status,
                       params={"channel_id": channel.pk, "group_id": news.pk, "group_sync_id": 1})

    response = sync_group(api, news)

    if at_work:
        assert errors_of(response, status=409) == {"__all__": [
            '“News” is still syncing: 1 job queued, running or waiting to retry. Send {"force": true} to sync anyway.']}
    else:
        assert response.status_code == 200, response.content


# --- one channel -----------------------------------------------------------------------------------------

def test_it_syncs_one_channel_even_while_it_backs_off(api, news):
    channel = ChannelFactory(title="Daily", group=news, consecutive_failures=3,
                             next_attempt_at=NOW + dt.timedelta(hours=1))

    response = api.post(f"/api/channels/{channel.pk}/sync")

    assert response.status_code == 200, response.content
    body = response.json()
    [job] = Job.objects.all()
    assert job.params == {"channel_id": channel.pk, "group_id": None, "group_sync_id": body["sync"]["id"]}
    assert [item["id"] for item in body["jobs"]] == [job.pk]
    assert body["message"].startswith("Daily: Syncing the channel: 1 job queued.")


def test_it_answers_409_for_a_channel_whose_group_cools_down(api, news):
    channel = ChannelFactory(group=news)
    ChannelGroup.objects.filter(pk=news.pk).update(cooldown_until=NOW + dt.timedelta(hours=1),
                                                   cooldown_reason="HTTP 403 from YouTube")

    errors = errors_of(api.post(f"/api/channels/{channel.pk}/sync"), status=409)

    assert errors == {"__all__": [f"{channel.title}: Not synced: HTTP 403 from YouTube"]}
    assert not Job.objects.exists()
    assert ChannelSync.objects.get().outcome == "skipped_cooldown"  # recorded, as the page records it


def test_it_answers_409_while_a_job_syncs_the_channel_unless_forced(api, news):
    channel = ChannelFactory(title="Daily", group=news)
    sync_group(api, news)  # the group's sync has a job for it

    errors = errors_of(api.post(f"/api/channels/{channel.pk}/sync"), status=409)

    assert errors == {"__all__": ['“Daily” is still syncing: 1 job queued, running or waiting to retry. Send {"force": true} to sync '
                                  "anyway."]}
    assert api.post(f"/api/channels/{channel.pk}/sync", {"force": True}).status_code == 200
    assert Job.objects.count() == 2


# --- hostile input -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("body", "field"), [('{"force": "yes"}', "force"), ('{"force": 1}', "force"),
                                             ('{"force": null}', "force"), ('{"now": "2030-01-01"}', "now"),
                                             ("[]", "body"), ('"force"', "body"), ("{not json", "body"),
                                             ('{"force": true, "\\u0000": 1}', "\x00")])
@pytest.mark.parametrize("target", ["group", "channel"])
def test_it_refuses_a_bad_body_naming_the_field_and_syncs_nothing(api, news, body, field, target):
    channel = ChannelFactory(group=news)
    url = f"{GROUPS}/{news.pk}/sync" if target == "group" else f"/api/channels/{channel.pk}/sync"

    assert field in errors_of(api.post(url, body))
    assert not Job.objects.exists() and not GroupSync.objects.exists()


@pytest.mark.parametrize("target", ["group", "channel"])
def test_it_answers_415_for_a_form_body(api, news, target):
    channel = ChannelFactory(group=news)
    url = f"{GROUPS}/{news.pk}/sync" if target == "group" else f"/api/channels/{channel.pk}/sync"

    assert errors_of(api.post(url, "force=1", content_type="application/x-www-form-urlencoded"), status=415)
    assert not Job.objects.exists()


# --- who may do what -------------------------------------------------------------------------------------------

OPERATIONS = [GROUPS + "/{group}/sync", "/api/channels/{channel}/sync"]
EVERY_OTHER = ("view_channelgroup", "add_channelgroup", "delete_channelgroup", "view_channel", "add_channel",
               "change_channel", "delete_channel")


@pytest.mark.parametrize("path", OPERATIONS)
def test_it_needs_change_on_channel_groups_as_the_pages_do(path, news):
    url = path.format(group=news.pk, channel=ChannelFactory(group=news).pk)

    refused = token_client(grant(UserFactory(), *EVERY_OTHER)).post(url)
    assert "channels.change_channelgroup" in errors_of(refused, status=403)["__all__"][0]
    assert not Job.objects.exists()

    allowed = token_client(grant(UserFactory(), "change_channelgroup")).post(url)
    assert allowed.status_code == 200, allowed.content


@pytest.mark.parametrize("path", OPERATIONS)
def test_it_answers_401_json_to_anonymous_requests(client, path, news):
    url = path.format(group=news.pk, channel=ChannelFactory(group=news).pk)

    response = client.post(url)

    assert "Authorization: Bearer" in errors_of(response, status=401)["__all__"][0]
    assert not Job.objects.exists() and not GroupSync.objects.exists()
