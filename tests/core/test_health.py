"""GET /healthz: JSON for monitors, no login, 503 when jobs cannot run."""

import datetime as dt

import pytest
from django_q.conf import Conf
from django_q.signing import SignedPackage
from django_q.status import Status

from jobs.models import JobStatus
from scheduling.models import HeartbeatSource, SchedulerHeartbeat
from tests import broker
from tests.factories import JobFactory
from tests.jobs.conftest import at

pytestmark = pytest.mark.django_db

NOW = at("2026-05-01 05:30")


def fake_cluster(name: str = "cluster-a", *, status=Conf.IDLE, workers=(101, 102)) -> None:
    """What a running qcluster's sentinel writes to the shared cache every half second."""
    stat = Status(pid=100, cluster_id=name)
    stat.status, stat.workers = str(status), list(workers)
    broker.report_cluster(f"{Conf.Q_STAT}:{name}", SignedPackage.dumps(stat, True), 3)


@pytest.fixture
def frozen(time_machine):
    time_machine.move_to(NOW, tick=False)


@pytest.fixture
def healthy(frozen):
    SchedulerHeartbeat.objects.create(name="host:1", last_pass_at=NOW - dt.timedelta(seconds=3), lateness_seconds=0.2)
    fake_cluster()


def test_it_reports_ok_without_login(client, healthy):
    JobFactory(status=JobStatus.QUEUED, available_at=NOW - dt.timedelta(seconds=12))
    JobFactory(status=JobStatus.QUEUED, available_at=NOW - dt.timedelta(seconds=2))
    JobFactory(status=JobStatus.RUNNING)
    JobFactory(status=JobStatus.COMPLETED)

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert "no-cache" in response["Cache-Control"]
    assert response.json() == {
        "status": "ok",
        "checked_at": "2026-05-01T05:30:00+00:00",
        "database": {"ok": True},
        # No "name": the scheduler's host:pid is for staff only.
        "scheduler": {"ok": True, "mode": "scheduler", "last_pass_at": "2026-05-01T05:29:57+00:00",
                      "age_seconds": 3.0, "lateness_seconds": 0.2},
        "workers": {"ok": True, "clusters": 1, "workers": 2},
        "queue": {"depth": 2, "running": 1, "oldest_queued_age_seconds": 12.0},
        "problems": [],
    }


def test_it_is_down_without_a_live_cluster(client, frozen):
    SchedulerHeartbeat.objects.create(name="host:1", last_pass_at=NOW)

    response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "down"
    assert body["workers"] == {"ok": False, "clusters": 0, "workers": 0}
    assert body["scheduler"]["ok"] is True


def test_it_is_down_when_the_cluster_is_stopping(client, frozen):
    SchedulerHeartbeat.objects.create(name="host:1", last_pass_at=NOW)
    fake_cluster(status=Conf.STOPPING)

    assert client.get("/healthz").status_code == 503


def test_it_is_down_when_the_scheduler_heartbeat_is_stale(client, frozen):
    SchedulerHeartbeat.objects.create(name="host:1", last_pass_at=NOW - dt.timedelta(seconds=31))
    fake_cluster()

    response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "down"
    assert body["scheduler"]["ok"] is False and body["scheduler"]["mode"] is None
    assert body["scheduler"]["age_seconds"] == 31.0
    assert body["problems"] == [{"what": "Scheduler down", "effect": "No schedule fires.",
                                 "start": "manage.py schedule_tick --loop", "severity": "down"}]


def test_it_is_degraded_when_only_the_clusters_safety_net_runs_the_schedules(client, frozen):
    # The loop was killed 40 s ago; the cluster still runs the same pass every minute.
    SchedulerHeartbeat.objects.create(name="host:1", last_pass_at=NOW - dt.timedelta(seconds=40))
    SchedulerHeartbeat.objects.create(name="qcluster safety net", source=HeartbeatSource.SAFETY_NET,
                                      last_pass_at=NOW - dt.timedelta(seconds=50))
    fake_cluster()

    response = client.get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["scheduler"]["ok"] is False and body["scheduler"]["mode"] == "safety_net"
    assert [p["what"] for p in body["problems"]] == ["Scheduler loop not running"]
    assert body["problems"][0]["start"] == "manage.py schedule_tick --loop"


def test_a_one_shot_scheduler_from_cron_counts_as_the_scheduler(client, frozen):
    SchedulerHeartbeat.objects.create(name="host:schedule_tick", source=HeartbeatSource.ONCE,
                                      last_pass_at=NOW - dt.timedelta(seconds=70))
    fake_cluster()

    body = client.get("/healthz").json()

    assert body["status"] == "ok" and body["scheduler"]["mode"] == "scheduler"


def test_it_is_down_when_no_scheduler_ever_ran(client, frozen):
    fake_cluster()

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["scheduler"] == {"ok": False, "mode": None, "last_pass_at": None, "age_seconds": None,
                                            "lateness_seconds": None}


def test_it_takes_the_freshest_of_several_schedulers(staff_client, frozen):
    SchedulerHeartbeat.objects.create(name="old:1", last_pass_at=NOW - dt.timedelta(days=3))
    SchedulerHeartbeat.objects.create(name="qcluster safety net", source=HeartbeatSource.SAFETY_NET,
                                      last_pass_at=NOW - dt.timedelta(seconds=95))
    fake_cluster()

    response = staff_client.get("/healthz")

    assert response.status_code == 200
    assert response.json()["scheduler"]["name"] == "qcluster safety net"


def test_it_is_degraded_but_up_when_the_queue_is_backing_up(client, healthy):
    JobFactory(status=JobStatus.QUEUED, available_at=NOW - dt.timedelta(minutes=11))

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json()["status"] == "degraded"


def test_it_reports_lateness_without_judging_it(client, frozen):
    # Right after downtime, the latest window was late by design.
    SchedulerHeartbeat.objects.create(name="host:1", last_pass_at=NOW, lateness_seconds=75)
    fake_cluster()

    body = client.get("/healthz").json()

    assert body["status"] == "ok"
    assert body["scheduler"]["lateness_seconds"] == 75


def test_it_ignores_a_heartbeat_from_the_future(client, frozen):
    # Written by `schedule_tick --now <future>`, or by a host whose clock runs ahead: trusting it
    # would show the scheduler alive until that moment, whatever happens meanwhile.
    SchedulerHeartbeat.objects.create(name="simulation:1", last_pass_at=NOW + dt.timedelta(hours=1))
    fake_cluster()

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["scheduler"] == {"ok": False, "mode": None, "last_pass_at": None, "age_seconds": None,
                                            "lateness_seconds": None}


def test_it_takes_the_freshest_real_heartbeat_past_a_future_one(staff_client, frozen):
    SchedulerHeartbeat.objects.create(name="simulation:1", last_pass_at=NOW + dt.timedelta(hours=1))
    SchedulerHeartbeat.objects.create(name="host:1", last_pass_at=NOW - dt.timedelta(seconds=121))
    fake_cluster()

    response = staff_client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["scheduler"]["name"] == "host:1"
    assert response.json()["scheduler"]["age_seconds"] == 121.0


def test_it_tolerates_a_few_seconds_of_clock_skew_without_a_negative_age(client, frozen):
    SchedulerHeartbeat.objects.create(name="host:2", last_pass_at=NOW + dt.timedelta(seconds=2))
    fake_cluster()

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json()["scheduler"]["age_seconds"] == 0.0


@pytest.mark.parametrize("who", ["anonymous", "user"])
def test_it_hides_the_scheduler_name_from_all_but_staff(client, user, healthy, who):
    if who == "user":
        client.force_login(user)

    body = client.get("/healthz").json()

    assert "name" not in body["scheduler"]
    assert "host:1" not in str(body)
    # The numbers a monitor needs stay public.
    assert body["scheduler"]["age_seconds"] == 3.0 and body["scheduler"]["lateness_seconds"] == 0.2
    assert body["workers"]["clusters"] == 1 and body["queue"]["depth"] == 0


def test_it_shows_the_scheduler_name_to_staff(staff_client, healthy):
    assert staff_client.get("/healthz").json()["scheduler"]["name"] == "host:1"


def test_it_answers_head(client, healthy):
    assert client.head("/healthz").status_code == 200


def test_it_rejects_post(client):
    assert client.post("/healthz").status_code == 405


def test_it_is_down_when_the_database_is_unreachable(client, monkeypatch):
    from core import health

    monkeypatch.setattr(health, "_database", lambda: {"ok": False, "error": "OperationalError"})

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["database"] == {"ok": False, "error": "OperationalError"}
