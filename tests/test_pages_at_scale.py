"""Pages at scale: every list page, API list and `/metrics` costs the same number of SQL queries with a
handful of rows as with more than a page of them, on its first page and on a deep one.

The sizes are small here (3 of each kind, then 55): a page that reads per row, or per page shown, costs
more queries at the larger size. How long the pages take at 10,000 schedules and 1,000,000 jobs is
measured by `make bench` (bench/pages.py), not here.
"""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from backups.models import Backup
from channels.models import Channel
from common.api import IdCursorPagination
from jobs.models import Job, JobStatus
from scheduling import selectors
from scheduling.models import ScheduledTask, ScheduleRun
from tests.factories import (
    BackupFactory,
    ChannelFactory,
    ChannelGroupFactory,
    JobFactory,
    ScheduledTaskFactory,
    VideoFactory,
)

pytestmark = pytest.mark.django_db

UTC = dt.timezone.utc
SMALL, LARGE = 3, 55  # LARGE: more than one page (50) of each
_serial = itertools.count()


def _grow(count: int) -> None:
    """Add `count` of each kind, in the mix a page shows: backup and quick-sync schedules (their groups
    named in the list), runs with jobs, jobs of several types and statuses, channels with videos in a
    group, backups."""
    for _ in range(count):
        n = next(_serial)
        group = ChannelGroupFactory()
        channel = ChannelFactory(group=group)
        VideoFactory.create_batch(2, channel=channel)
        backup_schedule = ScheduledTaskFactory()
        sync_schedule = ScheduledTaskFactory(task_type="QUICK_SYNC_GROUP", params={"group_id": group.pk},
                                             last_outcome="failed" if n % 2 else "succeeded")
        run = ScheduleRun.objects.create(schedule=sync_schedule, schedule_name=sync_schedule.name,
                                         due_at=dt.datetime(2026, 1, 1, tzinfo=UTC) + dt.timedelta(minutes=n),
                                         outcome="succeeded" if n % 2 else "failed")
        run.jobs.add(
            JobFactory(job_type="QUICK_SYNC", status=JobStatus.FAILED if n % 2 else JobStatus.COMPLETED,
                       params={"channel_id": channel.pk, "group_id": group.pk, "group_sync_id": 1}),
            JobFactory(job_type="DATABASE_BACKUP", status=JobStatus.FAILED),
        )
        JobFactory(job_type="DATABASE_BACKUP", status=JobStatus.QUEUED)
        BackupFactory(started_at=dt.datetime(2026, 11, 1, tzinfo=UTC) + dt.timedelta(hours=n),
                      offsite_job=JobFactory(job_type="BACKUP_OFFSITE_COPY") if n % 2 else None)
        assert backup_schedule.pk


def _middle(model) -> int:
    return model.objects.order_by("-pk").values_list("pk", flat=True).first() // 2 or 1


def _cursor(model) -> str:
    return IdCursorPagination.Cursor(p=str(_middle(model))).encode_as_param()


def _middle_page() -> int:
    return 1 + ScheduledTask.objects.count() // 50 // 2


PAGES = {
    "/schedules": lambda: "/schedules",
    "/schedules?page=<middle>": lambda: f"/schedules?page={_middle_page()}",
    "/schedules?state=failing": lambda: "/schedules?state=failing",
    "/jobs": lambda: "/jobs",
    "/jobs?before=<middle id>": lambda: f"/jobs?before={_middle(Job)}",
    "/jobs?status=failed": lambda: "/jobs?status=failed",
    "/api/schedules": lambda: "/api/schedules",
    "/api/schedules?cursor=<middle id>": lambda: f"/api/schedules?cursor={_cursor(ScheduledTask)}",
    "/api/jobs": lambda: "/api/jobs",
    "/api/jobs?cursor=<middle id>": lambda: f"/api/jobs?cursor={_cursor(Job)}",
    "/api/channels": lambda: "/api/channels",
    "/api/channels?cursor=<middle id>": lambda: f"/api/channels?cursor={_cursor(Channel)}",
    "/api/backups": lambda: "/api/backups",
    "/api/backups?cursor=<middle id>": lambda: f"/api/backups?cursor={_cursor(Backup)}",
    "/metrics": lambda: "/metrics",
}


def _queries(client, url: str) -> list[str]:
    client.get(url)  # once before: what a first request alone does (a session's first touch) is not counted
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return [query["sql"] for query in captured.captured_queries]


@pytest.mark.parametrize("page", PAGES)
def test_it_costs_the_same_queries_with_3_rows_of_each_kind_or_55(staff_client, page):
    _grow(SMALL)
    few = _queries(staff_client, PAGES[page]())
    _grow(LARGE - SMALL)

    many = _queries(staff_client, PAGES[page]())

    assert len(many) == len(few), "\n".join(many)


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's plan; PostgreSQL's planner reads a small table whole")
def test_a_page_of_schedules_walks_the_name_index_instead_of_sorting_every_row():
    _grow(SMALL)
    page = selectors.schedule_list()[50:100]

    plan = page.explain()

    assert "USING INDEX scheduled_task_name_idx" in plan and "TEMP B-TREE" not in plan, plan
