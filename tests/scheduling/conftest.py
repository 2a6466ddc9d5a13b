import datetime as dt

import pytest
from django.utils import timezone

from tests.factories import ChannelFactory, ChannelGroupFactory

UTC = dt.timezone.utc


def at(text: str) -> dt.datetime:
    """An aware UTC instant from '2026-03-29 05:30' or an ISO string with offset."""
    value = dt.datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@pytest.fixture
def news_group(db):
    group = ChannelGroupFactory(name="News")
    ChannelFactory.create_batch(3, group=group)
    ChannelFactory(group=group, enabled=False)
    return group


def refreshed(obj):
    obj.refresh_from_db()
    return obj


__all__ = ["at", "refreshed", "timezone"]
