"""common.db.update_rows: each row's own values, in one executemany, stamped like save()."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.db import connection

from common.db import update_rows
from scheduling.models import ScheduledTask
from tests.factories import ScheduledTaskFactory

pytestmark = pytest.mark.django_db

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def raw(column: str, pk: int):
    """The column as the database holds it (on SQLite: text), not as the ORM reads it back."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM scheduled_tasks WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def test_it_writes_each_rows_own_values_and_only_the_fields_named(django_assert_num_queries):
    first, second = ScheduledTaskFactory(name="First"), ScheduledTaskFactory(name="Second")
    first.next_run_at, first.last_outcome = dt.datetime(2026, 5, 2, 2, 0, tzinfo=UTC), "succeeded"
    second.next_run_at, second.last_outcome = dt.datetime(2026, 5, 3, 2, 0, tzinfo=UTC), "missed"
    first.name = second.name = "not written"

    with django_assert_num_queries(1):
        update_rows(ScheduledTask, [first, second], ["next_run_at", "last_outcome"], now=NOW)

    rows = ScheduledTask.objects.order_by("pk").values_list("name", "next_run_at", "last_outcome")
    assert list(rows) == [("First", dt.datetime(2026, 5, 2, 2, 0, tzinfo=UTC), "succeeded"),
                          ("Second", dt.datetime(2026, 5, 3, 2, 0, tzinfo=UTC), "missed")]


def test_it_sets_the_auto_now_columns_to_now_like_save():
    schedule = ScheduledTaskFactory()
    ScheduledTask.objects.filter(pk=schedule.pk).update(updated_at=dt.datetime(2026, 1, 1, tzinfo=UTC))
    schedule.last_outcome = "failed"

    update_rows(ScheduledTask, [schedule], ["last_outcome"], now=NOW)

    assert schedule.updated_at == NOW
    assert ScheduledTask.objects.get().updated_at == NOW


def test_it_stores_a_datetime_as_the_orm_does_whatever_its_zone():
    instant = dt.datetime(2026, 5, 2, 4, 30, tzinfo=ZoneInfo("Europe/Berlin"))  # 02:30 UTC
    by_orm, by_helper = ScheduledTaskFactory(), ScheduledTaskFactory()
    ScheduledTask.objects.filter(pk=by_orm.pk).update(next_run_at=instant)
    by_helper.next_run_at = instant

    update_rows(ScheduledTask, [by_helper], ["next_run_at"], now=NOW)

    assert raw("next_run_at", by_helper.pk) == raw("next_run_at", by_orm.pk)
    # On SQLite the lookups compare text: a value stored in another form would not be found.
    assert set(ScheduledTask.objects.filter(next_run_at=dt.datetime(2026, 5, 2, 2, 30, tzinfo=UTC))) == {
        by_orm, by_helper}


def test_it_adapts_json_values():
    schedule = ScheduledTaskFactory()
    schedule.params = {"retention_days": 7, "cleanup_old": True}

    update_rows(ScheduledTask, [schedule], ["params"], now=NOW)

    assert ScheduledTask.objects.get().params == {"retention_days": 7, "cleanup_old": True}


def test_it_writes_nothing_for_no_rows(django_assert_num_queries):
    with django_assert_num_queries(0):
        update_rows(ScheduledTask, [], ["last_outcome"], now=NOW)


@pytest.mark.parametrize("name", ["runs", "id"])
def test_it_refuses_what_is_not_a_column_to_write(name):
    with pytest.raises(ValueError, match=f"ScheduledTask.{name} is not one"):
        update_rows(ScheduledTask, [ScheduledTaskFactory()], [name], now=NOW)
