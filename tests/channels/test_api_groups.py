"""The channel groups API: /api/channels/channel_groups[/<id>] (list, create, get, patch, delete)."""

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from channels.models import Channel, ChannelGroup, GroupSync
from common.actors import Via
from scheduling import services as scheduling_services
from scheduling.models import ScheduleAuditEntry, ScheduledTask
from tests.api_clients import ALL_ACTIONS, queries_for, token_client, user_with
from tests.factories import ChannelFactory, ChannelGroupFactory

pytestmark = pytest.mark.django_db

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 3, 26, 12, 0, tzinfo=UTC)
URL = "/api/channels/channel_groups"
FIELDS = {"id", "name", "description", "created_at", "channel_count", "enabled_count", "schedules", "last_sync",
          "running_sync", "cooldown_until", "cooldown_reason"}


@pytest.fixture(autouse=True)
def frozen(time_machine):
    time_machine.move_to(NOW, tick=False)


def groups_user(*actions, **fields):
    return user_with(*actions, model="channelgroup", app="channels", **fields)


@pytest.fixture
def editor(db):
    return groups_user(*ALL_ACTIONS, username="editor")


@pytest.fixture
def api(editor):
    return token_client(editor)


def errors_of(response, status=400) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    return response.json()["errors"]


def quick_sync(group, **fields) -> ScheduledTask:
    base = {"name": f"{group.name} sync", "task_type": "QUICK_SYNC_GROUP", "schedule_kind": "daily",
            "schedule_time": "05:30", "params": {"group_id": group.pk}}
    return scheduling_services.schedule_save(schedule=ScheduledTask(**{**base, **fields}), now=NOW)


def create(api, **fields):
    response = api.post(URL, {"name": "News", **fields})
    assert response.status_code == 201, response.content
    return response.json()


# --- success paths ----------------------------------------------------------------------------------

def test_it_creates_a_group_and_answers_with_every_field(api):
    body = create(api, name="  Lawyers ", description=" Law channels ")

    assert set(body) == FIELDS
    group = ChannelGroup.objects.get()
    assert (body["id"], body["name"], body["description"]) == (group.pk, "Lawyers", "Law channels")
    assert (group.name, group.description) == ("Lawyers", "Law channels")
    assert body["created_at"] == "2026-03-26T12:00:00Z"
    assert (body["channel_count"], body["schedules"], body["last_sync"], body["running_sync"]) == (0, [], None, None)


def test_it_gets_a_group_with_its_schedule_its_counts_and_its_syncs(api):
    group = ChannelGroupFactory(name="News")
    ChannelFactory.create_batch(2, group=group)
    ChannelFactory(group=group, enabled=False)
    schedule = quick_sync(group)
    quick_sync(ChannelGroupFactory(name="Other"))
    finished = GroupSync.objects.create(group=group, group_name="News", created_at=NOW, finished_at=NOW,
                                        channels_total=3, jobs_created=3, synced=2, failed=1, new_videos=5)
    ChannelGroup.objects.filter(pk=group.pk).update(last_sync=finished)
    running = GroupSync.objects.create(group=group, group_name="News", created_at=NOW, jobs_created=2,
                                       origin_label="Sync now by alice")

    body = api.get(f"{URL}/{group.pk}").json()

    assert (body["channel_count"], body["enabled_count"]) == (3, 2)
    assert body["schedules"] == [{"id": schedule.pk, "name": "News sync", "description": "Every day at 05:30 (UTC)",
                                  "enabled": True, "next_run_at": "2026-03-27T05:30:00Z",
                                  "url": f"http://testserver/api/schedules/{schedule.pk}"}]
    assert body["last_sync"]["id"] == finished.pk
    assert body["last_sync"]["summary"] == "2 synced, 1 failed, 5 new videos."
    assert (body["running_sync"]["id"], body["running_sync"]["finished_at"]) == (running.pk, None)
    assert body["running_sync"]["origin"] == "Sync now by alice"


def test_it_is_not_taken_for_a_channel_id(api):
    """/api/channels/<id> comes after the groups' paths: "channel_groups" is not a channel id."""
    group = ChannelGroupFactory(name="News")

    assert [item["id"] for item in api.get(URL).json()["items"]] == [group.pk]
    assert api.get(f"{URL}/{group.pk}").json()["name"] == "News"


def test_it_lists_groups_with_a_name_filter(api):
    news, lawyers = ChannelGroupFactory(name="News"), ChannelGroupFactory(name="Lawyers")

    def ids(query=""):
        response = api.get(f"{URL}{query}")
        assert response.status_code == 200, response.content
        return [item["id"] for item in response.json()["items"]]

    assert ids() == [news.pk, lawyers.pk]
    assert ids("?name=lawyers") == [lawyers.pk]
    assert ids("?name=Law") == []


def test_it_pages_by_keyset_and_keeps_its_place_while_groups_are_added(api):
    first_ones = [ChannelGroupFactory(name=f"Group {n}").pk for n in range(3)]
    first = api.get(f"{URL}?limit=2").json()
    added = ChannelGroupFactory(name="Added meanwhile").pk

    second = api.get(first["next"]).json()

    assert [item["id"] for item in first["items"]] == first_ones[:2]
    assert [item["id"] for item in second["items"]] == [first_ones[2], added]
    assert second["next"] is None
    assert [item["id"] for item in api.get(second["previous"]).json()["items"]] == first_ones[:2]


@pytest.mark.parametrize("cursor", ["not-base64!", "cD1hYmM=", "cD0tMQ==", "w6k="])
def test_it_answers_400_for_a_cursor_it_did_not_make(api, cursor):
    ChannelGroupFactory()

    assert list(errors_of(api.get(f"{URL}?cursor={cursor}"))) == ["cursor"]


def test_it_lists_in_a_constant_number_of_queries(api):
    def queries_for_list() -> int:
        return queries_for(api, f"{URL}?limit=200")

    def a_group_with_everything(name):
        group = ChannelGroupFactory(name=name)
        ChannelFactory.create_batch(2, group=group)
        quick_sync(group)
        done = GroupSync.objects.create(group=group, group_name=name, created_at=NOW, finished_at=NOW)
        ChannelGroup.objects.filter(pk=group.pk).update(last_sync=done)
        GroupSync.objects.create(group=group, group_name=name, created_at=NOW)

    queries_for_list()  # the token's first use is noted once
    a_group_with_everything("First")
    few = queries_for_list()
    for number in range(15):
        a_group_with_everything(f"Group {number}")

    assert queries_for_list() == few


def test_it_renames_a_group_and_its_schedule_still_syncs_it(api):
    group = ChannelGroupFactory(name="Nws", description="Daily news")
    schedule = quick_sync(group)

    body = api.patch(f"{URL}/{group.pk}", {"name": "News"}).json()

    assert (body["name"], body["description"]) == ("News", "Daily news")
    assert [item["id"] for item in body["schedules"]] == [schedule.pk]
    schedule.refresh_from_db()
    assert schedule.params == {"group_id": group.pk}


def test_it_changes_only_the_description_a_patch_sends(api):
    group = ChannelGroupFactory(name="News", description="Old")

    body = api.patch(f"{URL}/{group.pk}", {"description": "New"}).json()

    assert (body["name"], body["description"]) == ("News", "New")


def test_it_deletes_a_group_keeps_its_channels_and_disables_its_schedule_as_the_api(api, editor):
    group = ChannelGroupFactory(name="News")
    channel = ChannelFactory(group=group)
    schedule = quick_sync(group)

    response = api.delete(f"{URL}/{group.pk}")

    assert response.status_code == 204 and response.content == b""
    assert not ChannelGroup.objects.exists() and Channel.objects.get() == channel
    schedule.refresh_from_db()
    assert schedule.enabled is False
    entry = ScheduleAuditEntry.objects.get(action="disable")
    assert (entry.via, entry.actor, entry.schedule_id) == (Via.API, editor, schedule.pk)
    assert "Its channel group “News”" in str(entry.changes)


# --- validation: the pages' messages, naming the field, nothing written ----------------------------------

@pytest.mark.parametrize(("fields", "field", "message"), [
    ({"name": ""}, "name", "This field is required."),
    ({"name": "   "}, "name", "This field is required."),
    ({"name": "Taken"}, "name", "Channel group with this Name already exists."),
    ({"name": "x" * 101}, "name", "Ensure this value has at most 100 characters (it has 101)."),
])
def test_it_refuses_a_bad_name_in_the_pages_words(api, fields, field, message):
    ChannelGroupFactory(name="Taken")

    assert errors_of(api.post(URL, fields)) == {field: [message]}
    assert ChannelGroup.objects.count() == 1


HOSTILE = [
    ({"name": 7}, "name"),
    ({"name": None}, "name"),
    ({"name": ["News"]}, "name"),
    ({"description": {"a": 1}}, "description"),
    ({"name": "a\u0000b"}, "name"),
    ({"name": "\ud800"}, "name"),
    ({"description": "x\u0000"}, "description"),
    ({"name": "x" * 100_000}, "name"),
    ({"id": 7}, "id"),
    ({"channels": [1]}, "channels"),
    ({"cooldown_until": "2026-03-27T00:00:00Z"}, "cooldown_until"),
]


@pytest.mark.parametrize(("fields", "field"), HOSTILE)
def test_it_refuses_hostile_input_on_create_naming_the_field(api, fields, field):
    errors = errors_of(api.post(URL, {"name": "News", **fields}))

    assert field in errors and all(isinstance(m, str) and m for m in errors[field])
    assert not ChannelGroup.objects.exists()


@pytest.mark.parametrize(("fields", "field"), HOSTILE)
def test_it_refuses_hostile_input_on_patch_and_keeps_the_group(api, fields, field):
    group = ChannelGroupFactory(name="Old", description="Kept")

    errors = errors_of(api.patch(f"{URL}/{group.pk}", fields))

    assert field in errors
    group.refresh_from_db()
    assert (group.name, group.description) == ("Old", "Kept")


def test_it_keeps_the_group_when_a_rename_is_refused(api):
    ChannelGroupFactory(name="News")
    group = ChannelGroupFactory(name="Lawyers")

    assert errors_of(api.patch(f"{URL}/{group.pk}", {"name": "News", "description": "x"})) == {
        "name": ["Channel group with this Name already exists."]}
    group.refresh_from_db()
    assert (group.name, group.description) == ("Lawyers", "")


@pytest.mark.parametrize("body", ["{not json", "[1, 2]", '"a string"', "null", "", '{"name": NaN}', "\xff\xfe"])
def test_it_answers_400_for_a_body_that_is_not_a_json_object(api, body):
    assert list(errors_of(api.post(URL, body))) == ["body"]


def test_it_answers_415_for_a_form_body(api):
    errors = errors_of(api.post(URL, "name=News", content_type="application/x-www-form-urlencoded"), status=415)

    assert "application/json" in errors["body"][0]


@pytest.mark.parametrize(("query", "field"), [("limit=0", "limit"), ("limit=201", "limit"), ("name=%00", "name"),
                                              ("cursor=%00", "cursor")])
def test_it_names_a_bad_query_parameter(api, query, field):
    assert list(errors_of(api.get(f"{URL}?{query}"))) == [field]


@pytest.mark.parametrize(("method", "suffix"), [("get", ""), ("patch", ""), ("delete", ""), ("post", "/sync")])
@pytest.mark.parametrize("group_id", ["999", "0", "-1", "abc", "99999999999999999999999", "9223372036854775808"])
def test_it_answers_404_for_an_unknown_id(api, method, suffix, group_id):
    url = f"{URL}/{group_id}{suffix}"
    response = api.patch(url, {"name": "x"}) if method == "patch" else getattr(api, method)(url)

    assert list(errors_of(response, status=404)) == ["id"]


def test_it_answers_404_naming_the_id_of_a_deleted_group(api):
    group = ChannelGroupFactory()
    group_id = group.pk
    api.delete(f"{URL}/{group_id}")

    assert errors_of(api.get(f"{URL}/{group_id}"), status=404) == {"id": [f"No channel group with id {group_id}."]}


# --- who may do what ----------------------------------------------------------------------------------------

OPERATIONS = [
    ("get", URL, None, "view"),
    ("get", URL + "/{id}", None, "view"),
    ("post", URL, {"name": "Lawyers"}, "add"),
    ("patch", URL + "/{id}", {"name": "Renamed"}, "change"),
    ("post", URL + "/{id}/sync", None, "change"),
    ("delete", URL + "/{id}", None, "delete"),
]


@pytest.fixture
def group(db):
    group = ChannelGroupFactory(name="News")
    ChannelFactory(group=group)
    return group


def call(client, method, path, body, group):
    url = path.format(id=group.pk)
    return getattr(client, method)(url, body) if body is not None else getattr(client, method)(url)


@pytest.mark.parametrize(("method", "path", "body", "needed"), OPERATIONS)
def test_it_needs_the_model_permission_of_each_operation(method, path, body, needed, group):
    others = [action for action in ALL_ACTIONS if action != needed]
    refused = call(token_client(groups_user(*others)), method, path, body, group)

    errors = errors_of(refused, status=403)
    assert f"channels.{needed}_channelgroup" in errors["__all__"][0]
    assert list(ChannelGroup.objects.values_list("name", flat=True)) == ["News"]
    assert not GroupSync.objects.exists()

    allowed = call(token_client(groups_user(needed)), method, path, body, group)
    assert allowed.status_code in (200, 201, 204), allowed.content


@pytest.mark.parametrize(("method", "path", "body", "needed"), OPERATIONS)
def test_it_answers_401_json_to_anonymous_requests(client, method, path, body, needed, group):
    response = call(client, method, path, body, group)

    errors = errors_of(response, status=401)
    assert "Authorization: Bearer" in errors["__all__"][0]
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert list(ChannelGroup.objects.values_list("name", flat=True)) == ["News"]
    assert not GroupSync.objects.exists()


def test_it_accepts_the_browser_session_with_its_csrf_token(editor):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(editor)
    browser.get("/account/tokens")  # sets the CSRF cookie, as any page with a form does
    csrf = browser.cookies["csrftoken"].value

    refused = browser.post(URL, {"name": "News"}, content_type="application/json")
    assert "CSRF" in errors_of(refused, status=403)["__all__"][0]
    accepted = browser.post(URL, {"name": "News"}, content_type="application/json", HTTP_X_CSRFTOKEN=csrf)
    assert accepted.status_code == 201, accepted.content


def test_it_uses_the_time_given_to_it_for_created_at(api, time_machine):
    time_machine.move_to(NOW + dt.timedelta(hours=1), tick=False)

    assert create(api)["created_at"] == "2026-03-26T13:00:00Z"
    assert ChannelGroup.objects.get().created_at == timezone.now()
