"""The channels API: /api/channels[/<id>] (list, add, get, patch with the groups, delete) and
/api/channels/<id>/videos."""

import datetime as dt

import pytest

from channels.models import Channel, ChannelGroup, Video
from tests.api_clients import ALL_ACTIONS, queries_for, token_client, user_with
from tests.factories import ChannelFactory, ChannelGroupFactory, VideoFactory, grant

pytestmark = pytest.mark.django_db

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 3, 26, 12, 0, tzinfo=UTC)
URL = "/api/channels"
CHANNEL_ID = "UCq1w2e3r4t5y6u7i8o9p0aZ"
FIELDS = {"id", "youtube_id", "title", "youtube_url", "enabled", "groups", "group_names", "status", "status_text",
          "created_at", "last_checked_at", "last_success_at", "last_outcome", "last_http_status", "last_new_count",
          "last_error", "consecutive_failures", "next_attempt_at", "video_count", "newest_video_at"}


@pytest.fixture(autouse=True)
def frozen(time_machine):
    time_machine.move_to(NOW, tick=False)


def channels_user(*actions, **fields):
    return user_with(*actions, model="channel", app="channels", **fields)


@pytest.fixture
def editor(db):
    return grant(channels_user(*ALL_ACTIONS, username="editor"), "view_video", "change_channelgroup")


@pytest.fixture
def api(editor):
    return token_client(editor)


def errors_of(response, status=400) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    return response.json()["errors"]


def at(day: int, hour: int = 0) -> dt.datetime:
    return dt.datetime(2026, 3, day, hour, tzinfo=UTC)


# --- add ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("reference", [
    CHANNEL_ID, f"https://www.youtube.com/channel/{CHANNEL_ID}", f" youtube.com/channel/{CHANNEL_ID}/videos ",
    f"https://www.youtube.com/feeds/videos.xml?channel_id={CHANNEL_ID}"])
def test_it_adds_a_channel_by_id_channel_url_or_feed_url(api, reference):
    news = ChannelGroupFactory(name="News")

    response = api.post(URL, {"reference": reference, "groups": [news.pk]})

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == FIELDS
    channel = Channel.objects.get()
    assert (body["id"], body["youtube_id"], body["title"]) == (channel.pk, CHANNEL_ID, CHANNEL_ID)
    assert (body["groups"], body["group_names"]) == ([news.pk], ["News"])
    assert (body["status"], body["status_text"], body["video_count"]) == ("never_synced", "Not synced yet", 0)
    assert body["youtube_url"] == f"https://www.youtube.com/channel/{CHANNEL_ID}"
    assert body["created_at"] == "2026-03-26T12:00:00Z"


def test_it_adds_a_channel_with_a_title_in_no_group(api):
    body = api.post(URL, {"reference": CHANNEL_ID, "title": "  Some news  "}).json()

    assert (body["title"], body["groups"]) == ("Some news", [])


def test_it_lets_a_channel_already_there_join_the_groups_with_200(api):
    news, law = ChannelGroupFactory(name="News"), ChannelGroupFactory(name="Law")
    channel = ChannelFactory(youtube_id=CHANNEL_ID, title="Kept", group=news)

    response = api.post(URL, {"reference": f"https://www.youtube.com/channel/{CHANNEL_ID}", "groups": [law.pk],
                              "title": "Ignored"})

    assert response.status_code == 200, response.content
    assert (response.json()["id"], response.json()["title"]) == (channel.pk, "Kept")
    assert sorted(response.json()["group_names"]) == ["Law", "News"]
    assert Channel.objects.count() == 1


@pytest.mark.parametrize(("fields", "field", "message"), [
    ({"reference": "@somehandle"}, "reference", "“@somehandle” is a handle, not a channel id"),
    ({"reference": "https://vimeo.com/channel/x"}, "reference", "is not a YouTube address"),
    ({"reference": ""}, "reference", "This field is required."),
    ({"reference": "x" * 501}, "reference", "Ensure this value has at most 500 characters (it has 501)."),
    ({"title": "x" * 201}, "title", "Ensure this value has at most 200 characters (it has 201)."),
    ({"groups": [987654]}, "groups", "Select a valid choice. 987654 is not one of the available choices."),
])
def test_it_refuses_what_the_page_refuses_in_its_words(api, fields, field, message):
    errors = errors_of(api.post(URL, {"reference": CHANNEL_ID, **fields}))

    assert list(errors) == [field] and message in errors[field][0]
    assert not Channel.objects.exists()


# --- list and get ---------------------------------------------------------------------------------------

@pytest.fixture
def archive(db):
    """Channels of each status, in two groups."""
    news, law = ChannelGroupFactory(name="News"), ChannelGroupFactory(name="Law")
    return {
        "ok": ChannelFactory(group=news, last_checked_at=at(26), last_outcome="synced"),
        "outage": ChannelFactory(group=news, last_checked_at=at(26), last_outcome="feed_outage"),
        "never_synced": ChannelFactory(groups=[news, law]),
        "disabled": ChannelFactory(group=law, enabled=False, consecutive_failures=2),
        "backoff": ChannelFactory(last_checked_at=at(26), last_outcome="not_found", consecutive_failures=1,
                                  next_attempt_at=at(26, 13)),
        "failing": ChannelFactory(last_checked_at=at(26), last_outcome="server_error", consecutive_failures=3,
                                  next_attempt_at=at(26, 11)),
        "news": news, "law": law,
    }


def ids(api, query=""):
    response = api.get(f"{URL}{query}")
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["items"]]


def test_it_lists_channels_by_id_and_filters_by_group(api, archive):
    assert ids(api) == sorted(c.pk for k, c in archive.items() if isinstance(c, Channel))
    assert ids(api, f"?group={archive['news'].pk}") == [archive[k].pk for k in ("ok", "outage", "never_synced")]
    assert ids(api, f"?group={archive['law'].pk}") == [archive[k].pk for k in ("never_synced", "disabled")]
    assert ids(api, "?group=987654") == []


@pytest.mark.parametrize(("status", "expected"), [
    ("ok", ["ok", "outage"]), ("never_synced", ["never_synced"]), ("disabled", ["disabled"]),
    ("backoff", ["backoff"]), ("failing", ["failing"])])
def test_it_filters_by_status_and_shows_the_same_status(api, archive, status, expected):
    items = api.get(f"{URL}?status={status}").json()["items"]

    assert [item["id"] for item in items] == [archive[key].pk for key in expected]
    assert {item["status"] for item in items} == {status}


def test_it_filters_by_last_outcome_and_by_youtube_id(api, archive):
    assert ids(api, "?last_outcome=server_error") == [archive["failing"].pk]
    assert ids(api, "?last_outcome=none") == [archive["never_synced"].pk, archive["disabled"].pk]
    assert ids(api, f"?youtube_id={archive['ok'].youtube_id}") == [archive["ok"].pk]
    assert ids(api, f"?status=ok&group={archive['news'].pk}&last_outcome=synced") == [archive["ok"].pk]


def test_it_says_a_channels_state_in_the_pages_words(api, archive):
    body = api.get(f"{URL}/{archive['backoff'].pk}").json()

    assert body["status"] == "backoff"
    assert body["status_text"] == "Feed not found (HTTP 404); 1 failure in a row; next try after Thu 26 Mar 2026, 13:00 UTC"
    assert body["next_attempt_at"] == "2026-03-26T13:00:00Z"


def test_it_counts_a_channels_videos(api):
    channel = ChannelFactory()
    VideoFactory(channel=channel, published_at=at(1))
    VideoFactory(channel=channel, published_at=at(3))

    body = api.get(f"{URL}/{channel.pk}").json()

    assert (body["video_count"], body["newest_video_at"]) == (2, "2026-03-03T00:00:00Z")


@pytest.mark.parametrize(("query", "field"), [("status=sleeping", "status"), ("last_outcome=great", "last_outcome"),
                                              ("group=abc", "group"), ("group=0", "group"), ("group=-1", "group"),
                                              ("group=99999999999999999999", "group"), ("youtube_id=%00", "youtube_id"),
                                              ("limit=0", "limit"), ("cursor=%00", "cursor")])
def test_it_names_a_bad_query_parameter(api, query, field):
    assert list(errors_of(api.get(f"{URL}?{query}"))) == [field]


def test_it_pages_channels_by_keyset_and_keeps_its_place_while_channels_are_added(api):
    first_ones = [ChannelFactory().pk for _ in range(3)]
    first = api.get(f"{URL}?limit=2").json()
    added = ChannelFactory().pk

    second = api.get(first["next"]).json()

    assert [item["id"] for item in first["items"]] == first_ones[:2]
    assert [item["id"] for item in second["items"]] == [first_ones[2], added]


@pytest.mark.parametrize("cursor", ["not-base64!", "cD1hYmM=", "cD0tMQ==", "w6k="])
def test_it_answers_400_for_a_channel_cursor_it_did_not_make(api, cursor):
    ChannelFactory()

    assert list(errors_of(api.get(f"{URL}?cursor={cursor}"))) == ["cursor"]


def test_it_lists_channels_in_a_constant_number_of_queries(api):
    def queries_for_list() -> int:
        return queries_for(api, f"{URL}?limit=200")

    def a_channel_with_everything():
        channel = ChannelFactory(groups=[ChannelGroupFactory(), ChannelGroupFactory()])
        VideoFactory.create_batch(2, channel=channel)

    queries_for_list()  # the token's first use is noted once
    a_channel_with_everything()
    few = queries_for_list()
    for _ in range(15):
        a_channel_with_everything()

    assert queries_for_list() == few


# --- patch and delete ---------------------------------------------------------------------------------------

def test_it_renames_disables_and_moves_a_channel_in_one_patch(api):
    news, law, other = (ChannelGroupFactory(name=name) for name in ("News", "Law", "Other"))
    channel = ChannelFactory(title="Old", groups=[news, other])

    body = api.patch(f"{URL}/{channel.pk}", {"title": " New ", "enabled": False, "groups": [law.pk, news.pk]}).json()

    assert (body["title"], body["enabled"], body["status"]) == ("New", False, "disabled")
    assert sorted(body["group_names"]) == ["Law", "News"]
    channel.refresh_from_db()
    assert (channel.title, channel.enabled) == ("New", False)
    assert set(channel.groups.all()) == {news, law}
    assert ChannelGroup.objects.count() == 3  # leaving a group deletes nothing


def test_it_changes_only_what_a_patch_sends(api):
    news = ChannelGroupFactory(name="News")
    channel = ChannelFactory(title="Kept", group=news)
    before = api.get(f"{URL}/{channel.pk}").json()

    body = api.patch(f"{URL}/{channel.pk}", {"enabled": False}).json()

    assert {k: v for k, v in body.items() if k not in ("enabled", "status", "status_text")} == \
        {k: v for k, v in before.items() if k not in ("enabled", "status", "status_text")}
    assert api.patch(f"{URL}/{channel.pk}", {}).json() == body


def test_it_takes_a_channel_out_of_every_group_with_an_empty_list(api):
    channel = ChannelFactory(groups=[ChannelGroupFactory(), ChannelGroupFactory()])

    assert api.patch(f"{URL}/{channel.pk}", {"groups": []}).json()["groups"] == []
    assert not channel.groups.exists()


def test_it_gives_an_emptied_title_back_to_the_id(api):
    channel = ChannelFactory(title="Named")

    assert api.patch(f"{URL}/{channel.pk}", {"title": "  "}).json()["title"] == channel.youtube_id


@pytest.mark.parametrize(("fields", "field"), [
    ({"title": "x" * 201}, "title"),
    ({"groups": [987654]}, "groups"),
])
def test_it_changes_nothing_when_one_field_of_a_patch_is_refused(api, fields, field):
    news, law = ChannelGroupFactory(name="News"), ChannelGroupFactory(name="Law")
    channel = ChannelFactory(title="Kept", group=news)

    errors = errors_of(api.patch(f"{URL}/{channel.pk}", {"title": "New", "enabled": False, "groups": [law.pk],
                                                        **fields}))

    assert list(errors) == [field]
    channel.refresh_from_db()
    assert (channel.title, channel.enabled, list(channel.groups.all())) == ("Kept", True, [news])


def test_it_deletes_a_channel_and_its_videos_and_keeps_its_groups(api):
    news = ChannelGroupFactory(name="News")
    channel, other = ChannelFactory(group=news), ChannelFactory(group=news)
    VideoFactory.create_batch(2, channel=channel)
    kept = VideoFactory(channel=other)

    response = api.delete(f"{URL}/{channel.pk}")

    assert response.status_code == 204 and response.content == b""
    assert list(Channel.objects.all()) == [other] and list(Video.objects.all()) == [kept]
    assert list(ChannelGroup.objects.all()) == [news]


# --- hostile input ------------------------------------------------------------------------------------------

HOSTILE = [
    ({"title": 7}, "title"),
    ({"title": None}, "title"),
    ({"enabled": "yes"}, "enabled"),
    ({"enabled": None}, "enabled"),
    ({"enabled": 1}, "enabled"),
    ({"groups": "1"}, "groups"),
    ({"groups": ["1"]}, "groups"),
    ({"groups": [1.5]}, "groups"),
    ({"groups": [0]}, "groups"),
    ({"groups": [-1]}, "groups"),
    ({"groups": [2**63]}, "groups"),
    ({"groups": list(range(1, 1002))}, "groups"),
    ({"title": "a\u0000b"}, "title"),
    ({"title": "\ud800"}, "title"),
    ({"title": "x" * 100_000}, "title"),
    ({"id": 7}, "id"),
    ({"youtube_id": CHANNEL_ID}, "youtube_id"),
    ({"video_count": 3}, "video_count"),
]


@pytest.mark.parametrize(("fields", "field"), [*HOSTILE, ({"reference": 7}, "reference"),
                                               ({"reference": None}, "reference"),
                                               ({"reference": "UC\u0000"}, "reference"),
                                               ({"reference": "\udfff"}, "reference")])
def test_it_refuses_hostile_input_on_add_naming_the_field(api, fields, field):
    errors = errors_of(api.post(URL, {"reference": CHANNEL_ID, **fields}))

    assert field in errors and all(isinstance(m, str) and m for m in errors[field])
    assert not Channel.objects.exists()


@pytest.mark.parametrize(("fields", "field"), HOSTILE)
def test_it_refuses_hostile_input_on_patch_and_keeps_the_channel(api, fields, field):
    news = ChannelGroupFactory()
    channel = ChannelFactory(title="Kept", group=news)

    assert field in errors_of(api.patch(f"{URL}/{channel.pk}", fields))
    channel.refresh_from_db()
    assert (channel.title, channel.enabled, list(channel.groups.all())) == ("Kept", True, [news])


def test_it_requires_a_reference_to_add(api):
    assert list(errors_of(api.post(URL, {"title": "x"}))) == ["reference"]


@pytest.mark.parametrize("body", ["{not json", "[1, 2]", '"a string"', "null", "", '{"title": NaN}', "\xff\xfe",
                                  '{"groups": [1e999]}'])
def test_it_answers_400_for_a_body_that_is_not_a_json_object(api, body):
    channel = ChannelFactory()

    assert list(errors_of(api.post(URL, body))) == ["body"]
    assert list(errors_of(api.patch(f"{URL}/{channel.pk}", body))) == ["body"]


def test_it_answers_415_for_a_form_body(api):
    assert "application/json" in errors_of(api.post(URL, f"reference={CHANNEL_ID}",
                                                    content_type="application/x-www-form-urlencoded"),
                                           status=415)["body"][0]


@pytest.mark.parametrize(("method", "suffix"), [("get", ""), ("patch", ""), ("delete", ""), ("post", "/sync"),
                                                ("get", "/videos")])
@pytest.mark.parametrize("channel_id", ["999", "0", "-1", "abc", "99999999999999999999999", "9223372036854775808"])
def test_it_answers_404_for_an_unknown_id(api, method, suffix, channel_id):
    url = f"{URL}/{channel_id}{suffix}"
    response = api.patch(url, {"title": "x"}) if method == "patch" else getattr(api, method)(url)

    assert list(errors_of(response, status=404)) == ["id"]


def test_it_answers_404_naming_a_deleted_channel(api):
    channel_id = ChannelFactory().pk
    api.delete(f"{URL}/{channel_id}")

    assert errors_of(api.get(f"{URL}/{channel_id}"), status=404) == {"id": [f"No channel with id {channel_id}."]}


# --- videos -------------------------------------------------------------------------------------------------

def titles(page) -> list[str]:
    return [item["title"] for item in page["items"]]


def test_it_lists_a_channels_videos_newest_first_by_publication(api):
    channel = ChannelFactory()
    # Found in one sync, in the feed's order (newest first): ids ascend as publication descends.
    for day in (20, 19, 18):
        VideoFactory(channel=channel, title=f"March {day}", published_at=at(day), is_short=day == 19)
    VideoFactory(title="Another channel's", published_at=at(25))

    page = api.get(f"{URL}/{channel.pk}/videos").json()

    assert titles(page) == ["March 20", "March 19", "March 18"]
    assert (page["next"], page["previous"]) == (None, None)
    assert set(page["items"][0]) == {"id", "youtube_id", "title", "description", "url", "thumbnail_url",
                                     "published_at", "is_short", "view_count", "first_seen_at"}
    assert page["items"][1]["published_at"] == "2026-03-19T00:00:00Z" and page["items"][1]["is_short"] is True


def test_it_pages_videos_and_keeps_its_place_while_newer_ones_arrive(api):
    channel = ChannelFactory()
    for day in range(1, 8):
        VideoFactory(channel=channel, title=f"March {day}", published_at=at(day), is_short=False)
    VideoFactory(channel=channel, title="March 4 bis", published_at=at(4), is_short=False)  # same instant: by id
    VideoFactory(channel=channel, title="A Short", published_at=at(5), is_short=True)

    first = api.get(f"{URL}/{channel.pk}/videos?limit=3&is_short=false").json()
    VideoFactory(channel=channel, title="March 25", published_at=at(25), is_short=False)
    second = api.get(first["next"]).json()
    third = api.get(second["next"]).json()

    assert titles(first) == ["March 7", "March 6", "March 5"]
    assert titles(second) == ["March 4 bis", "March 4", "March 3"]
    assert titles(third) == ["March 2", "March 1"] and third["next"] is None
    assert "is_short=false" in second["next"]  # the filters stay in the links
    back = api.get(third["previous"]).json()
    assert titles(back) == ["March 4 bis", "March 4", "March 3"]
    assert titles(api.get(back["previous"]).json()) == ["March 7", "March 6", "March 5"]
    assert titles(api.get(api.get(back["previous"]).json()["previous"]).json()) == ["March 25"]


def test_it_filters_videos_by_short_and_publication(api):
    channel = ChannelFactory()
    VideoFactory(channel=channel, title="Short", published_at=at(20), is_short=True)
    VideoFactory(channel=channel, title="Long", published_at=at(10), is_short=False)
    VideoFactory(channel=channel, title="Unknown", published_at=at(5), is_short=None)

    def listed(query):
        return titles(api.get(f"{URL}/{channel.pk}/videos?{query}").json())

    assert listed("is_short=true") == ["Short"]
    assert listed("is_short=false") == ["Long"]
    assert listed("published_since=2026-03-10T00:00:00%2B00:00") == ["Short", "Long"]
    assert listed("published_since=2026-03-10T01:00:00Z") == ["Short"]


@pytest.mark.parametrize("cursor", ["not-base64!", "dD14", "dD0yMDI2LTAzLTA1VDAwOjAwOjAwJmk9MSZyPTA=",
                                    "dD0yMDI2LTAzLTA1VDAwOjAwOjAwKzAwOjAwJmk9LTEmcj0w",
                                    "dD0yMDI2LTAzLTA1VDAwOjAwOjAwKzAwOjAwJmk9MSZyPTI=", "w6k=", "%00"])
def test_it_answers_400_for_a_video_cursor_it_did_not_make(api, cursor):
    """No cursor, no zone, a negative id, r=2, non-ASCII: a cursor edited by hand names `cursor`, not a 500."""
    channel = ChannelFactory()
    VideoFactory(channel=channel)

    assert list(errors_of(api.get(f"{URL}/{channel.pk}/videos?cursor={cursor}"))) == ["cursor"]


@pytest.mark.parametrize(("query", "field"), [("is_short=maybe", "is_short"), ("published_since=yesterday",
                                                                                  "published_since"),
                                              ("published_since=2026-03-10T00:00:00", "published_since"),
                                              ("published_since=0.5", "published_since"),
                                              ("published_since=1700000000", "published_since"),
                                              ("limit=201", "limit")])
def test_it_names_a_bad_video_query_parameter(api, query, field):
    channel = ChannelFactory()

    assert list(errors_of(api.get(f"{URL}/{channel.pk}/videos?{query}"))) == [field]


def test_it_lists_videos_in_a_constant_number_of_queries(api):
    channel = ChannelFactory()

    def queries_for_list() -> int:
        return queries_for(api, f"{URL}/{channel.pk}/videos?limit=200")

    queries_for_list()
    VideoFactory(channel=channel)
    few = queries_for_list()
    VideoFactory.create_batch(30, channel=channel)

    assert queries_for_list() == few


# --- who may do what ----------------------------------------------------------------------------------------

OPERATIONS = [
    ("get", URL, None, "view_channel"),
    ("get", URL + "/{id}", None, "view_channel"),
    ("get", URL + "/{id}/videos", None, "view_video"),
    ("post", URL, {"reference": "UC" + "b" * 22}, "add_channel"),
    ("patch", URL + "/{id}", {"title": "Renamed"}, "change_channel"),
    ("delete", URL + "/{id}", None, "delete_channel"),
]
EVERY_PERMISSION = ("view_channel", "add_channel", "change_channel", "delete_channel", "view_video",
                    "view_channelgroup", "add_channelgroup", "change_channelgroup", "delete_channelgroup")


@pytest.fixture
def channel(db):
    channel = ChannelFactory(title="Kept")
    VideoFactory(channel=channel)
    return channel


def call(client, method, path, body, channel):
    url = path.format(id=channel.pk)
    return getattr(client, method)(url, body) if body is not None else getattr(client, method)(url)


def untouched(channel) -> bool:
    return list(Channel.objects.values_list("pk", "title")) == [(channel.pk, "Kept")]


@pytest.mark.parametrize(("method", "path", "body", "needed"), OPERATIONS)
def test_it_needs_the_model_permission_of_each_operation(method, path, body, needed, channel):
    from tests.factories import UserFactory

    others = [perm for perm in EVERY_PERMISSION if perm != needed]
    refused = call(token_client(grant(UserFactory(), *others)), method, path, body, channel)

    assert f"channels.{needed}" in errors_of(refused, status=403)["__all__"][0]
    assert untouched(channel)

    allowed = call(token_client(grant(UserFactory(), needed)), method, path, body, channel)
    assert allowed.status_code in (200, 201, 204), allowed.content


@pytest.mark.parametrize(("method", "path", "body", "needed"), OPERATIONS)
def test_it_answers_401_json_to_anonymous_requests(client, method, path, body, needed, channel):
    response = call(client, method, path, body, channel)

    assert "Authorization: Bearer" in errors_of(response, status=401)["__all__"][0]
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert untouched(channel)
