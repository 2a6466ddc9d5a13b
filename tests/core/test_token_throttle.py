"""Refused API tokens are throttled per address: past the limit within a window, that address gets 429 with
Retry-After, the right token too, until the window ends. A request without a token is not a failure."""

import datetime as dt

import pytest
import time_machine
from django.conf import settings
from django.test import Client

from common.formatting import format_instant
from core.models import ApiToken
from core.services import TOKEN_PREFIX, api_token_revoke
from tests.api_clients import ApiClient, token_for, user_with

pytestmark = pytest.mark.django_db

UTC = dt.timezone.utc
WINDOW_START = dt.datetime(2026, 12, 4, 22, 0, tzinfo=UTC)  # a window boundary: 300 s divides the epoch seconds
ATTACKER = "203.0.113.7"
ELSEWHERE = "198.51.100.20"
UNKNOWN = TOKEN_PREFIX + "x" * 43
URL = "/api/schedules"


@pytest.fixture
def frozen():
    with time_machine.travel(WINDOW_START + dt.timedelta(seconds=30), tick=False) as traveller:
        yield traveller


@pytest.fixture
def token(db):
    return token_for(user_with("view"))


def get(token: str | None, *, address: str = ATTACKER, **headers):
    return ApiClient(token, REMOTE_ADDR=address).get(URL, **headers)


def test_three_hundred_wrong_tokens_get_429_and_then_the_right_token_too_until_the_window_ends(frozen, token):
    limit = settings.API_TOKEN_FAILURE_LIMIT
    statuses = [get(UNKNOWN).status_code for _ in range(300)]
    assert statuses == [401] * limit + [429] * (300 - limit)

    refused = get(token)

    assert refused.status_code == 429
    assert refused["Retry-After"] == "270"  # the window ends at 22:05:00
    until = format_instant(WINDOW_START + dt.timedelta(minutes=5))
    assert refused.json() == {"errors": {"Authorization": [
        f"Too many refused API tokens from your address (the limit is {limit} per 5 min): every token is refused "
        f"until {until}. Try again in 270 s (Retry-After)."]}}
    frozen.shift(dt.timedelta(seconds=269))
    assert get(token)["Retry-After"] == "1"
    frozen.shift(dt.timedelta(seconds=1))

    assert get(token).status_code == 200
    assert get(UNKNOWN).status_code == 401  # a new window, a new count


def test_another_address_is_not_throttled(frozen, token):
    for _ in range(settings.API_TOKEN_FAILURE_LIMIT + 5):
        get(UNKNOWN)
    assert get(token).status_code == 429
    assert get(token, address=ELSEWHERE).status_code == 200
    assert get(UNKNOWN, address=ELSEWHERE).status_code == 401


def test_a_forged_forwarded_for_header_does_not_give_a_fresh_address(frozen, token):
    for number in range(settings.API_TOKEN_FAILURE_LIMIT):
        get(UNKNOWN, HTTP_X_FORWARDED_FOR=f"10.0.0.{number}")
    assert get(token, HTTP_X_FORWARDED_FOR="10.9.9.9").status_code == 429


def test_an_ipv6_client_is_counted_by_its_slash_64(frozen, token):
    for number in range(settings.API_TOKEN_FAILURE_LIMIT):
        get(UNKNOWN, address=f"2001:db8:1:2::{number + 1:x}")
    assert get(token, address="2001:db8:1:2:ffff::9").status_code == 429
    assert get(token, address="2001:db8:1:3::1").status_code == 200


def test_no_token_is_no_failure(frozen, token):
    anonymous = Client(REMOTE_ADDR=ATTACKER)
    assert {anonymous.get(URL).status_code for _ in range(settings.API_TOKEN_FAILURE_LIMIT + 5)} == {401}
    assert get(token).status_code == 200


def test_the_right_token_is_no_failure(frozen, token):
    for _ in range(settings.API_TOKEN_FAILURE_LIMIT + 5):
        assert get(token).status_code == 200


def test_every_kind_of_refusal_counts(frozen, settings, token):
    settings.API_TOKEN_FAILURE_LIMIT = 5
    revoked = token_for(user_with("view"))
    api_token_revoke(token=ApiToken.objects.get(prefix=revoked[:12]), now=WINDOW_START)
    disabled = token_for(user_with("view", is_active=False))
    refusals = [
        get(None, HTTP_AUTHORIZATION="Basic dXNlcjpwYXNz"),  # not of the form Bearer <token>
        get("not-a-token-of-ours"),
        get(UNKNOWN),
        get(revoked),
        get(disabled),
    ]
    assert [response.status_code for response in refusals] == [401] * 5

    assert get(token).status_code == 429


def test_a_browser_session_sending_a_token_is_throttled_too(frozen, token, client):
    client.force_login(user_with("view"))
    for _ in range(settings.API_TOKEN_FAILURE_LIMIT):
        get(UNKNOWN)
    assert client.get(URL, REMOTE_ADDR=ATTACKER, HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 429
    assert client.get(URL, REMOTE_ADDR=ATTACKER).status_code == 200  # the session alone is no token guess


def test_the_openapi_document_names_the_429_of_every_operation(user_client):
    document = user_client.get("/api/openapi.json").json()
    operations = [(method, path, operation) for path, methods in document["paths"].items()
                  for method, operation in methods.items()]
    assert operations
    missing = [f"{method.upper()} {path}" for method, path, operation in operations
               if "429" not in operation["responses"]]
    assert missing == []
