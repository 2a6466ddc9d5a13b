"""The task-type registry's helpers that every entrance shares."""

import dataclasses

import pytest

from scheduling import registry
from scheduling.models import ScheduledTask
from tests.factories import ChannelGroupFactory

pytestmark = pytest.mark.django_db


def schedule(task_type: str, **params) -> ScheduledTask:
    return ScheduledTask(task_type=task_type, params=params)


def test_it_summarises_each_schedule_in_order_in_one_query_per_task_type(django_assert_num_queries):
    news = ChannelGroupFactory(name="News")
    gone = ChannelGroupFactory(name="Gone")
    gone_id = gone.pk
    gone.delete()
    schedules = [
        schedule("DATABASE_BACKUP", retention_days=14, cleanup_old=True),
        schedule("QUICK_SYNC_GROUP", group_id=news.pk),
        schedule("NO_LONGER_INSTALLED", group_id=news.pk),
        schedule("DATABASE_BACKUP", cleanup_old=False),
        schedule("QUICK_SYNC_GROUP", group_id=gone_id),
        schedule("QUICK_SYNC_GROUP", group_id=news.pk),
    ]

    # The backups' summary reads nothing; the group syncs' one reads every group at once.
    with django_assert_num_queries(1):
        summaries = registry.params_summaries(schedules)

    assert summaries == ["keeps 14 days", "News", "", "keeps all", "a deleted group", "News"]


def test_it_summarises_as_empty_what_a_task_type_gave_no_text_for(monkeypatch):
    terse = dataclasses.replace(registry.get("DATABASE_BACKUP"), name="TERSE", summarize_params=lambda many: ["one"])
    monkeypatch.setitem(registry._task_types, "TERSE", terse)

    assert registry.params_summaries([schedule("TERSE"), schedule("TERSE")]) == ["one", ""]
