"""The API's manners, across every endpoint: PATCH merges (RFC 7396), action POSTs take an empty
body, a 401 says what is wrong with the credentials, a path no endpoint has answers the API's JSON 404
(a trailing slash too), and one mistake gets one message."""

import json
import logging

import pytest
from django.core.exceptions import ValidationError
from django.test import Client, RequestFactory
from django.utils import timezone

from common.api import ErrorsOut, error_responses, errors_of, merge_patch, refuse_unknown_query
from core.models import ApiToken
from core.services import api_token_create, api_token_revoke
from jobs.models import Job
from scheduling import services
from scheduling.models import ScheduledTask
from tests.api_clients import ALL_ACTIONS, ApiClient, token_for, user_with
from tests.factories import ChannelFactory, JobFactory, StaffFactory, UserFactory, grant

BACKUP = {"name": "Nightly backup", "task_type": "DATABASE_BACKUP", "schedule_kind": "daily", "schedule_time": "02:00"}


def errors_in(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json; charset=utf-8"
    return response.json()["errors"]


@pytest.fixture
def schedule(db):
    return services.schedule_save(schedule=ScheduledTask(**BACKUP), now=timezone.now())


@pytest.fixture
def api(db):
    return ApiClient(token_for(StaffFactory(username="admin")))


# --- JSON Merge Patch --------------------------------------------------------------------------------

# RFC 7396, appendix A: target, patch, result.
RFC_7396_EXAMPLES = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize("target, patch, result", RFC_7396_EXAMPLES)
def test_it_merges_as_rfc_7396_says(target, patch, result):
    before = repr(target)

    assert merge_patch(target, patch) == result
    assert repr(target) == before  # the stored value is not changed in place


def test_it_keeps_the_backup_config_retention_write_by_age(api, db):
    """/api/backup_config replaces the retention whole, as its docstring says: setting `retention_days`
    makes a calendar retention "by age" again (the schedules API's PATCH merge is not used there)."""
    services.schedule_save(schedule=ScheduledTask(**{**BACKUP, "params": {"retention_mode": "calendar", "keep_last": 5,
                                                                         "force_backup": True}}), now=timezone.now())

    body = api.post("/api/backup_config", {"retention_days": 12}).json()

    assert body["retention"] == "keeps 12 days"
    assert ScheduledTask.objects.get().params == {"backup_type": "full", "retention_days": 12, "cleanup_old": True,
                                                  "force_backup": True, "copy_offsite": True}


# --- action POSTs take an empty body ----------------------------------------------------------------------

# Bodies a script sends when it has nothing to say: `curl -X POST` (none, no Content-Type), a client that
# always says JSON, and `curl -d ''` (an empty form).
EMPTY_BODIES = [None, "application/json", "application/x-www-form-urlencoded"]


def actions_without_a_required_body(document: dict) -> list[str]:
    return sorted(path for path, operations in document["paths"].items()
                  if "post" in operations and not operations["post"].get("requestBody", {}).get("required"))


@pytest.mark.parametrize("content_type", EMPTY_BODIES)
def test_it_accepts_an_empty_body_on_every_action_post(api, schedule, content_type):
    """Walks the OpenAPI document, so endpoints added later are covered too. A path id other than a
    schedule's is 1, which may not exist: a 404 from the endpoint still means the body was taken (ninja
    reads the body before the endpoint runs), while a refused body is a 415 or a 400 naming `body`."""
    paths = actions_without_a_required_body(api.get("/api/openapi.json").json())
    assert {"/api/schedules/{schedule_id}/toggle", "/api/schedules/{schedule_id}/run_now",
            "/api/schedules/{schedule_id}/resume"} <= set(paths)

    for path in paths:
        url = path.replace("{schedule_id}", str(schedule.pk))
        url = "/".join("1" if part.startswith("{") else part for part in url.split("/"))
        # The test client sets a Content-Type only with a body, so an empty one's goes in by hand.
        response = api.generic("POST", url, "", **({"CONTENT_TYPE": content_type} if content_type else {}))

        assert response.wsgi_request.META.get("CONTENT_TYPE", "") == (content_type or "")  # as curl sends it
        assert response.status_code < 500 and response.status_code not in (405, 415, 422), (path, response.content)
        if response.status_code == 400:
            assert "body" not in response.json()["errors"], (path, response.content)


# --- a query parameter an operation does not take is named, not ignored -----------------------------------

def operations_with_query_parameters(document: dict) -> list[tuple[str, str, list[str]]]:
    return sorted((method, path, sorted(parameter["name"] for parameter in operation.get("parameters", [])
                                        if parameter["in"] == "query"))
                  for path, operations in document["paths"].items() for method, operation in operations.items()
                  if any(parameter["in"] == "query" for parameter in operation.get("parameters", [])))


def test_it_names_a_query_parameter_an_operation_does_not_take(api, schedule):
    """`?stauts=failed` would otherwise list every job, and a script would never know. Walks the OpenAPI
    document, so operations added later are covered too."""
    ids = {"{schedule_id}": schedule.pk, "{channel_id}": ChannelFactory().pk}
    named = set()
    for method, path, names in operations_with_query_parameters(api.get("/api/openapi.json").json()):
        url = path
        for placeholder, pk in ids.items():
            url = url.replace(placeholder, str(pk))
        response = api.generic(method.upper(), f"{url}?stauts=failed", "{}", content_type="application/json")

        assert errors_in(response, 400)["stauts"] == [f"Unknown query parameter: this takes {', '.join(names)}."], path
        named.add(path)
    assert {"/api/jobs", "/api/channels/{channel_id}/videos", "/api/schedules/preview", "/api/schedules/export",
            "/api/schedules/import"} <= named


def test_it_names_a_query_parameter_without_a_name(api):
    """`?=failed` (a name lost while a script built the URL) is named so that it can be told apart."""
    assert errors_in(api.get("/api/jobs?=failed"), 400) == {"(no name)": [
        "Unknown query parameter: this takes cursor, job_type, limit, origin, origin_url, q, status."]}


# --- a 401 says what is wrong -----------------------------------------------------------------------------

MISSING = "Authentication required: log in, or send Authorization: Bearer <token> with an active API token."
NOT_BEARER = ("Malformed Authorization header: it is not of the form “Bearer <token>”. Scripts send "
              "Authorization: Bearer <token> with a token from /account/tokens.")
NOTHING_AFTER_BEARER = ("Malformed Authorization header: no token follows “Bearer”. Scripts send "
                        "Authorization: Bearer <token> with a token from /account/tokens.")
NOT_A_TOKEN = ("Malformed API token: a token of this server is “arc_” followed by 43 letters, digits, “-” or “_”. "
               "Check that it was copied whole.")
UNKNOWN = ("Unknown API token: this server has no such token. Check that it was copied whole, or create a new one at "
           "/account/tokens.")
REVOKED = "This API token was revoked: scripts using it are refused. Create a new one at /account/tokens."
INACTIVE = "This API token's account is disabled: ask an administrator."


def refused(headers: dict, path: str = "/api/schedules") -> tuple[str, str]:
    response = Client(headers=headers).get(path)
    [message] = errors_in(response, 401)["__all__"]
    return message, response["WWW-Authenticate"]


@pytest.mark.django_db
@pytest.mark.parametrize("header, message", [
    ("Bearer", NOTHING_AFTER_BEARER),
    ("Bearer ", NOTHING_AFTER_BEARER),
    ("bearer   ", NOTHING_AFTER_BEARER),
    ("Basic dXNlcjpwYXNz", NOT_BEARER),
    ("Token arc_" + "a" * 43, NOT_BEARER),
    ("arc_" + "a" * 43, NOT_BEARER),  # the token without its scheme
    ("Bearer arc_aaa arc_bbb", NOT_BEARER),
    ("", NOT_BEARER),
    ("Bearer nope", NOT_A_TOKEN),
    ("Bearer arc_" + "a" * 42, NOT_A_TOKEN),  # cut short
    ("Bearer arc_" + "a" * 43 + '"', NOT_A_TOKEN),  # copied with a quote
])
def test_it_says_what_is_malformed_about_the_credentials(header, message):
    assert refused({"Authorization": header}) == (message, 'Bearer realm="api", error="invalid_request"')


@pytest.mark.django_db
def test_it_says_credentials_are_missing_without_any():
    assert refused({}) == (MISSING, 'Bearer realm="api"')


@pytest.mark.django_db
def test_it_tells_an_unknown_token_apart_without_telling_who_exists():
    """An unknown token's answer is the same whoever the server knows: it names no user and no token."""
    unknown = "arc_" + "b" * 43
    nobody = refused({"Authorization": f"Bearer {unknown}"})
    token, raw = api_token_create(user=UserFactory(username="alice"), name="nas", now=timezone.now())

    somebody = refused({"Authorization": f"Bearer {unknown}"})
    almost = refused({"Authorization": f"Bearer {raw[:-1]}{'A' if raw[-1] != 'A' else 'B'}"})

    assert nobody == somebody == almost == (UNKNOWN, 'Bearer realm="api", error="invalid_token"')


@pytest.mark.django_db
def test_it_tells_a_revoked_token_and_a_disabled_accounts_token_apart():
    alice = user_with("view", username="alice")
    token, raw = api_token_create(user=alice, name="nas script", now=timezone.now())
    _, other = api_token_create(user=user_with("view", username="bob"), name="laptop", now=timezone.now())
    assert ApiClient(raw).get("/api/schedules").status_code == 200
    api_token_revoke(token=token, now=timezone.now())
    type(alice).objects.filter(username="bob").update(is_active=False)

    assert refused({"Authorization": f"Bearer {raw}"}) == (REVOKED, 'Bearer realm="api", error="invalid_token"')
    assert refused({"Authorization": f"Bearer {other}"}) == (INACTIVE, 'Bearer realm="api", error="invalid_token"')
    assert not ApiToken.objects.filter(name="laptop", last_used_at__isnull=False).exists()


@pytest.mark.django_db
def test_it_refuses_a_malformed_header_even_with_a_login_session(client):
    """A script's broken header is its mistake to hear about, not something a session covers up."""
    client.force_login(user_with(*ALL_ACTIONS))

    response = client.get("/api/schedules", headers={"Authorization": "Bearer"})

    assert errors_in(response, 401) == {"__all__": [NOTHING_AFTER_BEARER]}


@pytest.mark.django_db
def test_it_logs_no_credentials_of_a_refused_header(settings, caplog):
    """Ninja's own parser logs a header of another scheme whole when DEBUG is on: a password in Basic."""
    settings.DEBUG = True

    with caplog.at_level(logging.DEBUG):
        refused({"Authorization": "Basic dXNlcjpwYXNz"})
        refused({"Authorization": "Bearer arc_" + "c" * 43})

    assert "dXNlcjpwYXNz" not in caplog.text and "c" * 43 not in caplog.text


# --- a path no endpoint has: the API's JSON 404 -------------------------------------------------------------

NO_SUCH = "No such endpoint. The endpoints are listed at /api/docs and /api/openapi.json."


def no_slash(path: str) -> str:
    return f"No such endpoint. Leave out the trailing slash: {path}. The endpoints are listed at /api/docs and " \
           "/api/openapi.json."


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["get", "post", "patch", "delete", "put", "head", "options"])
@pytest.mark.parametrize("who", ["anonymous", "token"])
@pytest.mark.parametrize("path, hint", [
    ("/api/schedules/", "/api/schedules"),
    ("/api/schedules/{id}/", "/api/schedules/{id}"),
    ("/api/schedules/{id}/toggle/", "/api/schedules/{id}/toggle"),
    ("/api/schedules//", "/api/schedules"),
    ("/api/openapi.json/", "/api/openapi.json"),
    ("/api/nothing", None),
    ("/api/nothing/", None),
    ("/api/schedules/{id}/nothing", None),
    ("/api/", None),
    ("/api", None),  # not Django's slash redirect (which a POST cannot follow)
])
def test_it_answers_a_path_no_endpoint_has_with_the_apis_json_404(schedule, method, who, path, hint, api_urls_afresh):
    """Never Django's HTML page, never an APPEND_SLASH redirect (which would turn a POST into a GET)."""
    client = ApiClient(token_for(UserFactory())) if who == "token" else Client()
    url = path.format(id=schedule.pk)

    response = getattr(client, method)(url)

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json; charset=utf-8"
    if method != "head":
        assert response.json() == {"errors": {"path": [no_slash(hint.format(id=schedule.pk)) if hint else NO_SUCH]}}


@pytest.mark.django_db
def test_it_answers_404_not_a_csrf_403_to_a_browser_posting_to_a_trailing_slash(api_urls_afresh):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user_with(*ALL_ACTIONS))

    response = browser.post("/api/schedules/", BACKUP, content_type="application/json")

    assert errors_in(response, 404) == {"path": [no_slash("/api/schedules")]}
    assert not ScheduledTask.objects.exists()


@pytest.mark.django_db
def test_it_answers_a_method_a_path_does_not_take_with_a_json_405(api, schedule, api_urls_afresh):
    response = api.put(f"/api/schedules/{schedule.pk}", BACKUP, content_type="application/json")

    assert errors_in(response, 405) == {"__all__": ["PUT is not allowed here; this path takes GET, PATCH, DELETE."]}
    assert response["Allow"] == "GET, PATCH, DELETE"


# --- one mistake, one message --------------------------------------------------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize("fields, field, message", [
    ({"schedule_kind": "hourly"}, "schedule_kind", "Choose one of: daily, weekly, interval, cron (got 'hourly')."),
    ({"schedule_kind": "h" * 17}, "schedule_kind", f"Choose one of: daily, weekly, interval, cron (got '{'h' * 17}')."),
    ({"overlap_policy": "sometimes"}, "overlap_policy", "Choose one of: skip, allow (got 'sometimes')."),
    ({"timezone": ""}, "timezone", "Unknown time zone ''; use an IANA name such as 'Europe/Berlin' or 'UTC'."),
    ({"timezone": "Z" * 65}, "timezone",
     f"Unknown time zone '{'Z' * 65}'; use an IANA name such as 'Europe/Berlin' or 'UTC'."),
    ({"task_type": "T" * 65}, "task_type",
     f"Unknown task type '{'T' * 65}'. Known: BACKUP_RESTORE_DRILL, DATABASE_BACKUP, QUICK_SYNC_GROUP."),
    ({"schedule_kind": "interval", "interval_minutes": -1}, "interval_minutes",
     "The interval must be at least 5 minutes (got -1)."),
    ({"schedule_time": "02:00" * 4}, "schedule_time",
     f"Enter the time as HH:MM in 24-hour format, 00:00 to 23:59 (got '{'02:00' * 4}')."),
    # What only Django checks keeps its message: clean() has no word on these.
    ({"grace_minutes": 4}, "grace_minutes", "Ensure this value is greater than or equal to 5."),
    ({"schedule_kind": "cron", "cron_expr": ",".join(map(str, range(60))) + " * * * *"}, "cron_expr",
     "Ensure this value has at most 120 characters (it has 177)."),
    # The schema's refusals, in the API's words: which item of a list, a field the server keeps, a typo.
    ({"schedule_kind": "weekly", "schedule_days": ["mon", 5]}, "schedule_days", "Item 2: Input should be a valid string"),
    ({"next_run_at": "2026-03-26T08:00:00Z"}, "next_run_at", "Read-only: leave it out."),
    ({"schedule_tme": "03:00"}, "schedule_tme", "Unknown field."),
])
def test_it_gives_one_mistake_one_message(fields, field, message):
    api = ApiClient(token_for(grant(user_with(*ALL_ACTIONS), "delete_backup")))

    assert errors_in(api.post("/api/schedules", {**BACKUP, **fields}), 400) == {field: [message]}
    assert not ScheduledTask.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("body", [[BACKUP], "Nightly backup", 5, None])
def test_it_says_the_body_must_be_a_json_object(api, body):
    assert errors_in(api.post("/api/schedules", json.dumps(body)), 400) == {"body": ["The body must be a JSON object."]}
    assert not ScheduledTask.objects.exists()


@pytest.mark.django_db
def test_it_gives_one_message_per_mistake_on_patch_too(schedule):
    api = ApiClient(token_for(user_with(*ALL_ACTIONS)))

    errors = errors_in(api.patch(f"/api/schedules/{schedule.pk}", {"schedule_kind": "hourly", "timezone": "",
                                                                   "overlap_policy": "x"}), 400)

    assert {field: len(messages) for field, messages in errors.items()} == {
        "schedule_kind": 1, "timezone": 1, "overlap_policy": 1}


# --- pages of a list (make mutation) ----------------------------------------------------------------


@pytest.mark.django_db
def test_it_refuses_a_list_parameter_given_twice_naming_it(api, schedule):
    errors = errors_in(api.get("/api/schedules?limit=2&limit=3&enabled=true"), 400)
    assert errors == {"limit": ["Give this parameter once: it takes one value."]}


@pytest.mark.django_db
def test_it_pages_a_list_by_id_with_the_limit_asked(api):
    ids = [services.schedule_save(schedule=ScheduledTask(**{**BACKUP, "name": f"Backup {n}"}), now=timezone.now()).pk
           for n in range(3)]

    first = api.get("/api/schedules?limit=2").json()
    second = api.get(first["next"]).json()

    assert [item["id"] for item in first["items"]] == ids[:2]
    assert [item["id"] for item in second["items"]] == ids[2:]
    assert second["next"] is None
    assert [item["id"] for item in api.get(second["previous"]).json()["items"]] == ids[:2]


@pytest.mark.django_db
def test_it_says_why_text_with_nul_cannot_be_stored(api):
    """NUL would be a 500 on PostgreSQL (SQLite stores it): a 400 naming the field, on every database."""
    errors = errors_in(api.post("/api/schedules", {**BACKUP, "name": "a\u0000b"}), 400)
    assert errors["name"] == ["Text must not contain NUL characters."]
    assert not ScheduledTask.objects.exists()


# --- the frame's parts, as the next router uses them (make mutation) -------------------------------------

def test_it_documents_the_errors_every_operation_can_answer_beside_its_own_in_order():
    """Any operation can refuse a body or a query (400), credentials (401), a permission (403), and a
    throttled address (429); the document lists them with the operation's own, by number."""
    assert list(error_responses(409, 404, 403)) == [400, 401, 403, 404, 409, 429]
    assert set(error_responses().values()) == {ErrorsOut}


def test_it_names_a_models_error_by_the_apis_field_name():
    """channels.api adds a channel by `reference`, which the model stores as `youtube_id`: a refusal of the
    model must name the field the caller sent."""
    error = errors_of(ValidationError({"youtube_id": ["Not a YouTube channel id."], "title": ["Too long."]}),
                      rename={"youtube_id": "reference"})

    assert (error.status, error.errors) == (400, {"reference": ["Not a YouTube channel id."], "title": ["Too long."]})


@pytest.mark.django_db
def test_it_names_a_query_parameter_that_is_not_text(api):
    """Django would read the bytes as U+FFFD, which a text filter takes, and look for that."""
    errors = errors_in(api.get("/api/jobs?origin=%FF&job_type=%C0%AF&limit=5"), 400)

    assert errors == {name: ["Send text as UTF-8: this value has bytes that are not (e.g. %FF)."]
                      for name in ("origin", "job_type")}


def test_it_takes_a_request_whose_server_left_the_empty_query_string_out():
    """PEP 3333: QUERY_STRING "may be empty or absent"; absent, there is nothing to refuse."""
    request = RequestFactory().get("/api/jobs")
    del request.META["QUERY_STRING"]

    refuse_unknown_query(request, ["cursor", "limit"])  # no error


@pytest.mark.django_db
def test_it_gives_a_page_as_long_as_the_limit_asked_up_to_200(api):
    Job.objects.bulk_create([JobFactory.build() for _ in range(201)])

    page = api.get("/api/jobs?limit=200").json()

    assert len(page["items"]) == 200 and page["next"] is not None


@pytest.mark.django_db
def test_it_says_why_text_with_a_lone_surrogate_cannot_be_stored(api):
    """JSON's "\\ud800" is a valid escape, but half a character no database can encode (a 500 when saved).
    A text field's type refuses it already; inside a JSON object, the frame does."""
    errors = errors_in(api.post("/api/schedules", {**BACKUP, "params": {"note": "a\ud800b"}}), 400)
    assert errors == {"params": ["Text must be valid Unicode (no lone surrogates)."]}
    assert not ScheduledTask.objects.exists()
