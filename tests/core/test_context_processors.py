"""The status badge in the page header (core.context_processors.health_badge)."""

import datetime as dt

import pytest

from scheduling.models import SchedulerHeartbeat
from tests.core.test_health import fake_cluster
from tests.jobs.conftest import at

pytestmark = pytest.mark.django_db

NOW = at("2026-05-01 05:30")


def badge(html: str) -> str:
    start = html.index('<p id="health-badge"')
    return html[start:html.index("</p>", start) + 4]


def test_it_says_all_is_well_in_words(user_client, time_machine):
    time_machine.move_to(NOW, tick=False)
    SchedulerHeartbeat.objects.create(name="host:1", last_pass_at=NOW)
    fake_cluster()

    html = badge(user_client.get("/jobs").content.decode())

    assert 'class="health-badge badge badge-ok" role="status"' in html
    assert '<span class="visually-hidden">System status: </span>All systems running' in html


def test_it_says_what_is_down(user_client, time_machine):
    time_machine.move_to(NOW, tick=False)
    SchedulerHeartbeat.objects.create(name="host:1", last_pass_at=NOW - dt.timedelta(minutes=5))

    html = badge(user_client.get("/jobs").content.decode())

    assert "badge-error" in html
    assert "Scheduler down, workers down" in html


def test_it_is_not_shown_before_login(client):
    assert 'id="health-badge"' not in client.get("/login/").content.decode()


def test_it_costs_nothing_on_pages_that_do_not_show_it(user_client, django_assert_max_num_queries):
    # The admin renders with the same context processors but not the badge.
    from django.contrib.auth.models import User

    User.objects.filter(pk=user_client.session["_auth_user_id"]).update(is_staff=True, is_superuser=True)
    with django_assert_max_num_queries(20) as captured:
        user_client.get("/admin/")

    assert not [q for q in captured.captured_queries if "scheduling_schedulerheartbeat" in q["sql"]]
