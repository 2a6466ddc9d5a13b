"""What every hostile-input table shares: the stored data as one comparable value, and the check that an
answer is a clear refusal naming its field (never a 500, never a traceback).

Each row of the tables in this package is (entrance, field, hostile value, expected answer). Whatever the
row, the data stored before and after the attempt must be equal: `stored_data()` is taken around it.
"""

from __future__ import annotations

import pytest
from django.apps import apps
from django.core import serializers

from tests.api_clients import ALL_ACTIONS, ApiClient, token_for
from tests.factories import ChannelFactory, ChannelGroupFactory, StaffFactory

# Every app whose rows a hostile request could change, and the accounts (a login or a token could be made).
STORED_APPS = ("auth", "core", "jobs", "notifications", "scheduling", "backups", "channels", "django_q")
# Written by reading, not by a change: a token's last use moves with every request it authenticates.
VOLATILE_FIELDS = {"core.apitoken": {"last_used_at"}, "auth.user": {"last_login"}}

ONE_MB = "x" * (1024 * 1024)
HUGE_ID = 2**63


def stored_data() -> dict[str, list[dict]]:
    """Every row of every model of STORED_APPS, serialised by Django, volatile fields left out."""
    dump = {}
    for app in STORED_APPS:
        for model in apps.get_app_config(app).get_models():
            label = model._meta.label_lower
            rows = serializers.serialize("python", model._default_manager.order_by("pk"))
            for row in rows:
                for field in VOLATILE_FIELDS.get(label, ()):
                    row["fields"].pop(field, None)
            dump[label] = rows
    return dump


def named_fields(errors: dict) -> set[str]:
    """The fields an error answer names, by their first part: `params.group_id` names `params`."""
    return {key.split(".")[0].split("[")[0] for key in errors}


def assert_refused(response, field: str, status: int = 400) -> dict:
    """The answer is `status`, JSON in the API's shape, naming `field`."""
    assert response.status_code == status, (field, response.status_code, response.content[:500])
    errors = response.json()["errors"]
    assert field in named_fields(errors), (field, errors)
    assert all(messages and all(isinstance(message, str) and message for message in messages)
               for messages in errors.values()), errors
    return errors


@pytest.fixture
def world(db):
    """A little stored data for every table to leave alone: a group with a channel, an admin's token."""
    group = ChannelGroupFactory(name="News")
    channel = ChannelFactory(title="Kurzgesagt", group=group)
    admin = StaffFactory(username="admin", is_superuser=True)
    return {"group": group, "channel": channel, "admin": admin}


@pytest.fixture
def api(world):
    return ApiClient(token_for(world["admin"]))


__all__ = ["ALL_ACTIONS", "HUGE_ID", "ONE_MB", "assert_refused", "named_fields", "stored_data"]
