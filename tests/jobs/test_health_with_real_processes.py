"""/healthz against real processes: the scheduler loop, the worker cluster and its safety net."""

from importlib import import_module

import pytest
from django.apps import apps

from scheduling.models import HeartbeatSource, SchedulerHeartbeat
from tests.servers import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def health(client) -> tuple[int, dict]:
    response = client.get("/healthz")
    return response.status_code, response.json()


@pytest.fixture
def safety_net():
    """The django-q2 schedule a migration creates; earlier transactional tests flushed it away."""
    import_module("scheduling.migrations.0002_safety_net_schedule").create(apps, None)


def test_it_is_degraded_while_only_the_safety_net_runs_and_down_without_workers(client, safety_net, start_cluster,
                                                                               scheduler):
    cluster = start_cluster()
    wait_until(lambda: health(client)[1]["status"] == "ok", timeout=10, message="never healthy")

    scheduler.popen.kill()  # the loop dies without a word; the cluster's safety net goes on
    # django-q2 looks for due schedules 30 s after the cluster starts, then every 30 s.
    wait_until(lambda: SchedulerHeartbeat.objects.filter(source=HeartbeatSource.SAFETY_NET).exists(),
               timeout=45, interval=0.5, message="the cluster's safety net never ran the scheduler's step")
    wait_until(lambda: health(client)[1]["status"] == "degraded", timeout=15, interval=0.5,
               message=f"never degraded: {health(client)}")

    status, body = health(client)
    assert status == 200
    assert body["scheduler"]["mode"] == "safety_net"
    assert [(p["what"], p["start"]) for p in body["problems"]] == [
        ("Scheduler loop not running", "manage.py schedule_tick --loop")]

    cluster.stop()
    wait_until(lambda: health(client)[0] == 503, timeout=15, interval=0.5, message="never down without workers")
    assert "Workers down" in [p["what"] for p in health(client)[1]["problems"]]
