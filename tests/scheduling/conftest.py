import datetime as dt

import pytest
from django.utils import timezone

from scheduling import services
from scheduling.models import ScheduledTask
from tests.factories import ChannelFactory, ChannelGroupFactory

UTC = dt.timezone.utc


def at(text: str) -> dt.datetime:
    """An aware UTC instant from '2026-03-29 05:30' or an ISO string with offset."""
    value = dt.datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@pytest.fixture
def make_schedule(db):
    """Create a schedule the way every entrance does: through the service, at a given instant."""

    def make(*, now: dt.datetime, **fields) -> ScheduledTask:
        base = {"name": "Nightly backup", "task_type": "DATABASE_BACKUP", "schedule_kind": "daily",
                "schedule_time": "02:00", "timezone": "UTC", "params": {}}
        return services.schedule_save(schedule=ScheduledTask(**{**base, **fields}), now=now)

    return make


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
