"""GET /api/health: the /healthz report in the API, no login needed, more detail for staff."""

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from core.models import ApiToken
from core.services import api_token_revoke
from jobs.models import JobStatus
from scheduling import services
from scheduling.models import ScheduledTask, SchedulerHeartbeat
from tests.api_clients import ApiClient, token_client, token_for
from tests.core.test_health import NOW, fake_cluster
from tests.factories import BackupFactory, JobFactory, UserFactory

pytestmark = pytest.mark.django_db

PUBLIC_KEYS = {"status", "checked_at", "database", "scheduler", "workers", "queue", "problems"}


@pytest.fixture
def frozen(time_machine):
    time_machine.move_to(NOW, tick=False)


@pytest.fixture
def healthy(frozen):
    SchedulerHeartbeat.objects.create(name="host:1", last_pass_at=NOW - dt.timedelta(seconds=3), lateness_seconds=0.2)
    fake_cluster("cluster-a", workers=(101, 102))


@pytest.fixture
def admin(db):
    return UserFactory(username="root", is_staff=True)


def test_it_answers_anonymous_monitors_with_the_healthz_report(client, healthy, api_urls_afresh):
    JobFactory(status=JobStatus.QUEUED, available_at=NOW - dt.timedelta(seconds=12))

    response = client.get("/api/health")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert response.json() == client.get("/healthz").json()
    assert set(response.json()) == PUBLIC_KEYS
    assert response.json()["queue"] == {"depth": 1, "running": 0, "oldest_queued_age_seconds": 12.0}


def test_it_answers_503_with_the_report_when_down(client, frozen):
    SchedulerHeartbeat.objects.create(name="host:1", last_pass_at=NOW)  # a scheduler, but no worker cluster

    response = client.get("/api/health")

    assert response.status_code == 503
    assert response.json() == client.get("/healthz").json()
    assert response.json()["status"] == "down"
    assert response.json()["problems"] == [{"what": "Workers down", "effect": "No job runs: queued jobs wait for a "
                                            "worker.", "start": "manage.py qcluster", "severity": "down"}]


def test_it_answers_degraded_with_a_200(client, frozen):
    SchedulerHeartbeat.objects.create(name="host:1", last_pass_at=NOW - dt.timedelta(seconds=20), source="safety_net")
    fake_cluster()

    response = client.get("/api/health")

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["scheduler"]["mode"]) == ("degraded", "safety_net")


def test_it_answers_without_a_database(client, monkeypatch):
    from core import health

    monkeypatch.setattr(health, "_database", lambda: {"ok": False, "error": "OperationalError"})

    response = client.get("/api/health")

    assert response.status_code == 503
    assert response.json() == {**client.get("/healthz").json(), "checked_at": response.json()["checked_at"]}
    assert response.json()["database"] == {"ok": False, "error": "OperationalError"}
    assert response.json()["workers"] == {"ok": False} and response.json()["queue"] == {}


def test_a_token_sent_while_the_database_is_down_gets_a_503_in_words_not_a_500(monkeypatch):
    """Checking a token needs the database: with it gone the answer is the API's 503, which a monitor
    reads as down, never a 500 with a traceback in the log."""
    from django.db import OperationalError

    from core import api

    def no_database(**kwargs):
        raise OperationalError("unable to open database file")

    monkeypatch.setattr(api, "api_token_use", no_database)

    response = ApiClient("arc_" + "x" * 43).get("/api/health")

    assert response.status_code == 503
    assert response.json() == {"errors": {"__all__": [
        "The database cannot be reached (OperationalError); try again when it is back."]}}


@pytest.mark.parametrize("who", ["token", "session"])
def test_it_gives_a_user_who_is_not_staff_the_public_report(healthy, who):
    user = UserFactory(username="bob")
    client = token_client(user) if who == "token" else Client()
    if who == "session":
        client.force_login(user)

    body = client.get("/api/health").json()

    assert set(body) == PUBLIC_KEYS
    assert "host:1" not in str(body) and "cluster-a" not in str(body)


@pytest.mark.parametrize("who", ["token", "session"])
def test_it_gives_staff_the_scheduler_the_clusters_and_the_backups(healthy, admin, who):
    client = token_client(admin) if who == "token" else Client()
    if who == "session":
        client.force_login(admin)
    services.schedule_save(schedule=ScheduledTask(name="Nightly backup", task_type="DATABASE_BACKUP",
                                                  schedule_time="02:00", params={"cleanup_old": False}), now=NOW)
    newest = BackupFactory(started_at=NOW - dt.timedelta(hours=5))

    response = client.get("/api/health")

    assert response.status_code == 200
    body = response.json()
    assert body["scheduler"]["name"] == "host:1"
    details = body["details"]
    assert details["clusters"] == [{"id": "cluster-a", "host": details["clusters"][0]["host"], "pid": 100,
                                    "status": "Idle", "workers": 2}]
    assert details["backups"] == {"newest_good_id": newest.pk, "newest_good_at": "2026-05-01T00:30:00+00:00",
                                  "age_seconds": 18000.0, "stale_after_seconds": 172800.0, "stale": False,
                                  "offsite": {"enabled": False, "remote": "", "problem": ""}}
    assert set(details["software"]) == {"python", "django", "database"}
    # The rest is the report staff see on /healthz.
    staff_healthz = Client()
    staff_healthz.force_login(admin)
    assert {key: value for key, value in body.items() if key != "details"} == staff_healthz.get("/healthz").json()


def test_it_tells_staff_when_the_newest_good_backup_is_stale(healthy, admin):
    services.schedule_save(schedule=ScheduledTask(name="Nightly backup", task_type="DATABASE_BACKUP",
                                                  schedule_time="02:00", params={"cleanup_old": False}), now=NOW)
    BackupFactory(started_at=NOW - dt.timedelta(days=3))

    backups = token_client(admin).get("/api/health").json()["details"]["backups"]

    assert (backups["age_seconds"], backups["stale"]) == (259200.0, True)


def test_it_gives_staff_only_the_software_without_a_database(admin, monkeypatch):
    from core import health

    client = token_client(admin)
    monkeypatch.setattr(health, "_database", lambda: {"ok": False, "error": "OperationalError"})

    response = client.get("/api/health")

    assert response.status_code == 503
    assert (response.json()["details"]["clusters"], response.json()["details"]["backups"]) == (None, None)


@pytest.mark.parametrize("authorization", ["Bearer not-a-token", "Basic YWxpY2U6c2VjcmV0", "Bearer", "nonsense"])
def test_it_refuses_credentials_it_cannot_accept_instead_of_ignoring_them(healthy, authorization):
    """A script whose token is wrong learns it here, rather than silently getting the public report."""
    response = Client(HTTP_AUTHORIZATION=authorization).get("/api/health")

    assert response.status_code == 401
    assert list(response.json()["errors"]) == ["__all__"]
    assert response["WWW-Authenticate"] == 'Bearer realm="api", error="invalid_request"'


def test_it_refuses_a_revoked_token(healthy, admin):
    raw = token_for(admin)
    api_token_revoke(token=ApiToken.objects.get(user=admin), now=timezone.now())

    assert ApiClient(raw).get("/api/health").status_code == 401


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_it_only_answers_get(client, method):
    assert getattr(client, method)("/api/health").status_code == 405


def test_the_document_says_no_login_is_needed(user_client):
    operation = user_client.get("/api/openapi.json").json()["paths"]["/api/health"]["get"]

    assert {} in operation["security"]  # anonymous allowed
    assert {"BearerToken": []} in operation["security"]
    assert set(operation["responses"]) == {"200", "401", "429", "503"}  # 429: too many refused tokens
