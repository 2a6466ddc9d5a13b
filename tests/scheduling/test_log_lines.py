"""A schedule change is one log line with its ids, once committed (the formats: tests/common/test_logs.py)."""

import datetime as dt
import logging

import pytest

from common.actors import Actor, Via
from scheduling import services

NOW = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.timezone.utc)


@pytest.mark.django_db
def test_it_logs_each_schedule_change_with_its_id_once_committed(make_schedule, staff, caplog,
                                                                 django_capture_on_commit_callbacks):
    caplog.set_level(logging.INFO, logger="scheduling.audit")
    schedule = make_schedule(now=NOW)
    schedule.schedule_time = "03:00"
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.schedule_save(schedule=schedule, now=NOW, actor=Actor(Via.PAGE, staff))
        assert [r for r in caplog.records if getattr(r, "action", "") == "update"] == []  # not before the commit
    for callback in callbacks:
        callback()

    [line] = [r for r in caplog.records if getattr(r, "event", "") == "schedule_change" and r.action == "update"]
    assert (line.schedule_id, line.via, line.actor, line.fields) == (schedule.pk, "page", staff.username,
                                                                       ["schedule_time"])
    assert line.getMessage() == "Schedule update: Nightly backup"
