"""Helpers for the JSON API's tests: users with some schedule permissions, clients sending a token."""

from __future__ import annotations

from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.services import api_token_create
from tests.factories import UserFactory

ALL_ACTIONS = ("view", "add", "change", "delete")


def user_with(*actions: str, model: str = "scheduledtask", app: str = "scheduling", **fields):
    """A plain user (not staff) holding only the given model permissions, e.g. user_with("view")."""
    user = UserFactory(**fields)
    user.user_permissions.set(Permission.objects.filter(
        content_type__app_label=app, codename__in=[f"{action}_{model}" for action in actions]))
    return user


def token_for(user, name: str = "test script") -> str:
    return api_token_create(user=user, name=name, now=timezone.now())[1]


class ApiClient(Client):
    """A test client that sends JSON bodies (a dict, list, or a str sent as it is) and a Bearer token."""

    def __init__(self, token: str | None = None, **defaults):
        if token is not None:
            defaults["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        super().__init__(**defaults)

    def post(self, path, data=None, content_type="application/json", **extra):
        return super().post(path, data if data is not None else "", content_type=content_type, **extra)

    def patch(self, path, data=None, content_type="application/json", **extra):
        return super().patch(path, data if data is not None else "", content_type=content_type, **extra)


def token_client(user) -> ApiClient:
    return ApiClient(token_for(user))


def queries_for(api, url: str) -> int:
    """How many SQL queries one successful GET of `url` costs."""
    with CaptureQueriesContext(connection) as queries:
        assert api.get(url).status_code == 200
    return len(queries)


def walk_pages(api, url: str) -> tuple[list[dict], int, dict]:
    """Follow `next` from `url` to the last page, checking that no page counts rows (keyset, no COUNT):
    (every item seen, the number of pages, the last page)."""
    seen, pages, last = [], 0, None
    while url:
        with CaptureQueriesContext(connection) as queries:
            last = api.get(url).json()
        assert not any("COUNT(" in query["sql"].upper() for query in queries.captured_queries)
        seen += last["items"]
        url, pages = last["next"], pages + 1
    return seen, pages, last
