"""GET /metrics: Prometheus' text format, read from the database at each scrape, for a token or staff."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from prometheus_client.parser import text_string_to_metric_families

from backups.models import BackupStatus
from channels.models import GroupSync, SyncOutcome
from common.models import Chore
from core import metrics
from jobs.models import JobStatus
from scheduling import history
from scheduling.models import HeartbeatSource, RunOutcome, SchedulerHeartbeat, ScheduleRun
from tests.core.test_health import fake_cluster
from tests.factories import (
    BackupFactory,
    ChannelFactory,
    ChannelGroupFactory,
    JobFactory,
    ScheduledTaskFactory,
    UserFactory,
)
from tests.jobs.conftest import at

pytestmark = pytest.mark.django_db

NOW = at("2026-05-01 05:30")
TOKEN = "s3cret-metrics-token"


def ago(seconds: float) -> dt.datetime:
    return NOW - dt.timedelta(seconds=seconds)


@pytest.fixture(autouse=True)
def frozen(time_machine, settings):
    time_machine.move_to(NOW, tick=False)
    settings.METRICS_TOKEN = TOKEN


def scraped(client) -> dict:
    """{(name, ((label, value), ...)): value} of every sample, read with prometheus-client's own parser."""
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.content.decode())
            for sample in family.samples}


def world(copies: int = 1) -> None:
    """A known state of every app, `copies` times over (the query count must not grow with it)."""
    for _ in range(copies):
        good = ScheduledTaskFactory(last_outcome=RunOutcome.SUCCEEDED)
        failing = ScheduledTaskFactory(last_outcome=RunOutcome.FAILED)
        ScheduledTaskFactory(task_type="QUICK_SYNC_GROUP", enabled=False, params={"group_id": 1})
        for schedule, outcome, late in ((good, RunOutcome.SUCCEEDED, 0.2), (good, RunOutcome.SUCCEEDED, 4),
                                        (failing, RunOutcome.FAILED, 40), (failing, RunOutcome.MISSED, 7200)):
            ScheduleRun.objects.create(schedule=schedule, schedule_name=schedule.name, trigger="scheduled",
                                       due_at=ago(1000 + late), created_at=ago(1000), outcome=outcome)
        ScheduleRun.objects.create(schedule=None, schedule_name="Gone", trigger="manual", due_at=ago(50),
                                   created_at=ago(50), outcome=RunOutcome.SUCCEEDED)
        ScheduleRun.objects.create(schedule=failing, schedule_name=failing.name, trigger="scheduled",  # a day ago
                                   due_at=ago(86402), created_at=ago(86401), outcome=RunOutcome.FAILED)
        for status, seconds in ((JobStatus.COMPLETED, 0.3), (JobStatus.COMPLETED, 20), (JobStatus.FAILED, 2)):
            JobFactory(status=status, started_at=ago(500), finished_at=ago(500 - seconds))
        JobFactory(job_type="QUICK_SYNC", status=JobStatus.QUEUED, available_at=ago(90))
        JobFactory(job_type="QUICK_SYNC", status=JobStatus.QUEUED, available_at=ago(30))
        JobFactory(job_type="QUICK_SYNC", status=JobStatus.RUNNING, started_at=ago(5))
        BackupFactory(started_at=ago(3600 * 5), size_bytes=1234)
        BackupFactory(started_at=ago(3600 * 30), size_bytes=999, status=BackupStatus.DELETED)
        outage, fine = ChannelGroupFactory(), ChannelGroupFactory(cooldown_until=NOW + dt.timedelta(hours=1))
        outage.last_sync = GroupSync.objects.create(group=outage, finished_at=ago(60), outage=True)
        fine.last_sync = GroupSync.objects.create(group=fine, finished_at=ago(60))
        outage.save(), fine.save()
        ChannelFactory(group=outage, last_outcome=SyncOutcome.SERVER_ERROR)
        ChannelFactory(group=fine, last_outcome=SyncOutcome.SYNCED)
        ChannelFactory(group=fine, enabled=False)


def processes() -> None:
    """A loop scheduler's heartbeat, two worker clusters with three workers, the last history prune."""
    SchedulerHeartbeat.objects.create(name="host:1", source=HeartbeatSource.LOOP, last_pass_at=ago(2),
                                      lateness_seconds=0.25)
    Chore.objects.create(name=history.CHORE, next_at=NOW, last_done_at=ago(3600))
    fake_cluster("a", workers=(1, 2))
    fake_cluster("b", workers=(3,))


def test_it_exposes_numbers_that_match_the_database(client):
    world()
    processes()

    values = scraped(client)

    def value(name, **labels):
        return values[(name, tuple(sorted(labels.items())))]

    assert value("archive_schedules", task_type="DATABASE_BACKUP", enabled="true", last_outcome="succeeded") == 1
    assert value("archive_schedules", task_type="DATABASE_BACKUP", enabled="true", last_outcome="failed") == 1
    assert value("archive_schedules", task_type="QUICK_SYNC_GROUP", enabled="false", last_outcome="") == 1
    assert value("archive_schedule_runs_last_day", task_type="DATABASE_BACKUP", outcome="succeeded") == 2
    assert value("archive_schedule_runs_last_day", task_type="DATABASE_BACKUP", outcome="failed") == 1  # not 2
    assert value("archive_schedule_runs_last_day", task_type="DATABASE_BACKUP", outcome="missed") == 1
    assert value("archive_schedule_runs_last_day", task_type="", outcome="succeeded") == 1  # schedule deleted
    # The newest dispatched scheduled windows (the missed one was not dispatched): 0.2 s, 4 s, 40 s and
    # the one of a day ago, 1 s late.
    assert value("archive_schedule_dispatch_lateness_seconds_bucket", le="0.5") == 1
    assert value("archive_schedule_dispatch_lateness_seconds_bucket", le="1.0") == 2
    assert value("archive_schedule_dispatch_lateness_seconds_bucket", le="5.0") == 3
    assert value("archive_schedule_dispatch_lateness_seconds_bucket", le="60.0") == 4
    assert value("archive_schedule_dispatch_lateness_seconds_bucket", le="+Inf") == 4
    assert value("archive_schedule_dispatch_lateness_seconds_gsum") == pytest.approx(45.2)
    assert value("archive_scheduler_mode", mode="loop") == 1
    assert value("archive_scheduler_mode", mode="safety_net") == value("archive_scheduler_mode", mode="none") == 0
    assert value("archive_scheduler_heartbeat_age_seconds") == 2
    assert value("archive_scheduler_lateness_seconds") == 0.25

    assert value("archive_jobs", job_type="DATABASE_BACKUP", status="completed") == 2
    assert value("archive_jobs", job_type="DATABASE_BACKUP", status="failed") == 1
    assert value("archive_jobs", job_type="QUICK_SYNC", status="queued") == 2
    assert value("archive_jobs", job_type="QUICK_SYNC", status="running") == 1
    assert value("archive_job_duration_seconds_bucket", job_type="DATABASE_BACKUP", status="completed", le="0.5") == 1
    assert value("archive_job_duration_seconds_bucket", job_type="DATABASE_BACKUP", status="completed", le="30.0") == 2
    assert value("archive_job_duration_seconds_bucket", job_type="DATABASE_BACKUP", status="failed", le="5.0") == 1
    assert value("archive_job_duration_seconds_gsum", job_type="DATABASE_BACKUP", status="completed") == 20.3
    assert value("archive_queue_depth") == 2
    assert value("archive_queue_oldest_age_seconds") == 90
    assert (value("archive_worker_clusters"), value("archive_workers")) == (2, 3)

    assert value("archive_backups", status="completed") == value("archive_backups", status="deleted") == 1
    assert value("archive_backup_last_good_timestamp_seconds") == ago(3600 * 5).timestamp()
    assert value("archive_backup_last_good_size_bytes") == 1234

    assert value("archive_channels", enabled="true", last_outcome="server_error") == 1
    assert value("archive_channels", enabled="true", last_outcome="synced") == 1
    assert value("archive_channels", enabled="false", last_outcome="") == 1
    assert value("archive_channel_groups") == 2
    assert value("archive_channel_groups_feed_outage") == 1
    assert value("archive_channel_groups_cooling_down") == 1
    assert value("archive_history_last_prune_timestamp_seconds") == ago(3600).timestamp()


def test_it_answers_an_empty_database_without_the_figures_it_cannot_know(client):
    values = scraped(client)

    assert values[("archive_scheduler_mode", (("mode", "none"),))] == 1
    assert values[("archive_queue_depth", ())] == 0
    assert values[("archive_worker_clusters", ())] == 0
    assert not {name for name, _ in values} & {"archive_scheduler_heartbeat_age_seconds",
                                               "archive_backup_last_good_timestamp_seconds",
                                               "archive_history_last_prune_timestamp_seconds"}


def test_a_scrape_costs_the_same_queries_however_many_rows():
    world()
    processes()
    with CaptureQueriesContext(connection) as small:
        metrics.scrape()
    world(copies=4)
    with CaptureQueriesContext(connection) as large:
        metrics.scrape()

    assert len(small) == len(large) <= 20, [query["sql"] for query in large]
    assert not any(query["sql"].split()[0].upper() in ("INSERT", "UPDATE", "DELETE") for query in large)


# --- access --------------------------------------------------------------------------------------


def test_it_refuses_anonymous_requests(client):
    response = client.get("/metrics")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert response.content.startswith(b"Authentication required")
    assert response["Content-Type"] == "text/plain; charset=utf-8"


def test_it_refuses_a_wrong_token(client):
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}x")

    assert (response.status_code, response.content) == (401, b"Invalid token.\n")


def test_it_takes_no_token_when_none_is_set(client, settings):
    settings.METRICS_TOKEN = ""

    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer ")

    assert (response.status_code, response.content) == (401, b"No METRICS_TOKEN is set: log in as staff.\n")


def test_it_takes_the_token(client):
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")

    assert response.status_code == 200
    assert b"# TYPE archive_jobs gauge" in response.content


def test_it_takes_a_staff_session_with_or_without_a_token_set(client, settings, staff):
    client.force_login(staff)
    assert client.get("/metrics").status_code == 200
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 200


def test_it_refuses_a_user_who_is_not_staff(client):
    client.force_login(UserFactory())

    response = client.get("/metrics")

    assert (response.status_code, response.content) == (403, b"Only staff may read the metrics.\n")


def test_it_answers_get_only(client):
    assert client.post("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 405
