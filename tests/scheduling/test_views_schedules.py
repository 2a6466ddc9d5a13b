"""The /schedules list and its actions: toggle, run now, delete (works / permissions / method / bad id)."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from common.actors import Via
from scheduling.models import ScheduleAuditEntry, ScheduledTask, ScheduleRun
from tests.factories import ChannelGroupFactory, ScheduledTaskFactory, UserFactory, grant

pytestmark = pytest.mark.django_db

ALL = ("view_scheduledtask", "add_scheduledtask", "change_scheduledtask", "delete_scheduledtask")
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def manager(client):
    user = grant(UserFactory(), *ALL)
    client.force_login(user)
    return client


@pytest.fixture
def viewer(client):
    client.force_login(grant(UserFactory(), "view_scheduledtask"))
    return client


def make(make_schedule, **fields):
    return make_schedule(now=timezone.now(), **fields)


def test_it_lists_schedules_with_task_summary_zone_and_next_run(manager, make_schedule):
    group = ChannelGroupFactory(name="News")
    make(make_schedule, name="News sync", task_type="QUICK_SYNC_GROUP", params={"group_id": group.pk},
         timezone="Europe/Berlin", schedule_time="05:30")
    content = manager.get("/schedules").content.decode()
    assert "News sync" in content
    assert "Quick sync of a channel group" in content and ": News" in content
    assert "Every day at 05:30 (Europe/Berlin)" in content
    # The schedule's own wall clock, and UTC on hover and for screen readers, in the one format.
    assert re.search(r'<time datetime="[^"]+" title="\w{3} \d+ \w{3} \d{4}, \d\d:\d\d UTC">\w{3} \d+ \w{3} \d{4}, '
                     r'\d\d:\d\d CES?T<', content)
    assert re.search(r'<span class="muted">in [0-9.]+ (min|h|d)</span>', content)  # relative: "in 3 h"


def test_it_names_a_deleted_group_and_an_uninstalled_task_type_in_the_list(manager, make_schedule):
    group = ChannelGroupFactory(name="Gone")
    make(make_schedule, name="Orphan sync", task_type="QUICK_SYNC_GROUP", params={"group_id": group.pk})
    group.delete()
    leftover = make(make_schedule, name="Leftover")
    ScheduledTask.objects.filter(pk=leftover.pk).update(task_type="NO_LONGER_INSTALLED")

    content = manager.get("/schedules").content.decode()

    assert 'Quick sync of a channel group<span class="muted">: a deleted group</span>' in content
    assert '<td data-label="Task">NO_LONGER_INSTALLED</td>' in content


def test_it_filters_by_task_type_and_state(manager, make_schedule):
    group = ChannelGroupFactory()
    make(make_schedule, name="Backup on")
    make(make_schedule, name="Backup off", enabled=False)
    make(make_schedule, name="Sync", task_type="QUICK_SYNC_GROUP", params={"group_id": group.pk})
    failing = make(make_schedule, name="Broken")
    ScheduledTask.objects.filter(pk=failing.pk).update(last_outcome="partly_failed")

    def names(query):
        return [s.name for s in manager.get(f"/schedules?{query}").context["schedules"]]

    assert names("type=QUICK_SYNC_GROUP") == ["Sync"]
    assert names("state=disabled") == ["Backup off"]
    assert names("state=enabled") == ["Backup on", "Broken", "Sync"]
    assert names("state=failing") == ["Broken"]
    assert len(names("type=NOPE&state=whatever")) == 4  # bad filter values are ignored


def test_it_answers_in_a_constant_number_of_queries(manager):
    group = ChannelGroupFactory()
    counts = []
    for total in (50, 500):
        ScheduledTask.objects.all().delete()
        ScheduledTask.objects.bulk_create(
            [ScheduledTaskFactory.build(name=f"S{i:04}", next_run_at=timezone.now()) for i in range(total // 2)]
            + [ScheduledTaskFactory.build(name=f"Q{i:04}", task_type="QUICK_SYNC_GROUP",
                                          params={"group_id": group.pk}) for i in range(total // 2)])
        manager.get("/schedules")  # warm the session and permission caches alike for both sizes
        with CaptureQueriesContext(connection) as queries:
            response = manager.get("/schedules")
        assert response.status_code == 200 and len(response.context["schedules"]) == 50
        counts.append(len(queries))
    assert counts[0] == counts[1], counts
    assert counts[1] <= 17, counts  # with the live check and the simulated-runs banner: one query each


def test_it_pages_through_many_schedules(manager):
    ScheduledTask.objects.bulk_create([ScheduledTaskFactory.build(name=f"S{i:03}") for i in range(120)])
    response = manager.get("/schedules?page=3")
    assert [s.name for s in response.context["schedules"]][:1] == ["S100"]
    assert "Page 3 of 3" in response.content.decode()


def test_it_hides_actions_the_user_may_not_do(viewer, make_schedule):
    make(make_schedule)
    content = viewer.get("/schedules").content.decode()
    assert "Nightly backup" in content
    for action in ("New schedule", "Run now", "Delete…", 'role="switch"', "/edit"):
        assert action not in content


def test_it_refuses_users_without_view_permission(client, make_schedule):
    client.force_login(UserFactory())
    assert client.get("/schedules").status_code == 403
    assert client.get("/schedules/upcoming").status_code == 403


def test_it_sends_anonymous_visitors_to_log_in(client):
    response = client.get("/schedules")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_it_toggles_through_the_service_with_an_audit_entry(manager, make_schedule):
    schedule = make(make_schedule)
    response = manager.post(f"/schedules/{schedule.pk}/toggle", {"enabled": "false"}, **HTMX)
    assert response.status_code == 200
    content = response.content.decode()
    assert 'aria-checked="false"' in content and "disabled." in content and 'hx-swap-oob' in content
    schedule.refresh_from_db()
    assert not schedule.enabled and schedule.next_run_at is None
    entry = ScheduleAuditEntry.objects.get(schedule=schedule, action="disable")
    assert entry.via == Via.PAGE and entry.actor_name
    manager.post(f"/schedules/{schedule.pk}/toggle", {"enabled": "true"}, **HTMX)
    schedule.refresh_from_db()
    assert schedule.enabled and schedule.next_run_at is not None


def test_it_toggles_without_javascript_too(manager, make_schedule):
    schedule = make(make_schedule)
    response = manager.post(f"/schedules/{schedule.pk}/toggle", {"enabled": "false"}, follow=True)
    assert response.redirect_chain[-1][0] == "/schedules"
    assert "Schedule “Nightly backup” disabled." in response.content.decode()


def test_it_says_why_a_schedule_cannot_be_enabled(manager, make_schedule):
    group = ChannelGroupFactory()
    schedule = make(make_schedule, task_type="QUICK_SYNC_GROUP", params={"group_id": group.pk}, enabled=False)
    group.delete()
    response = manager.post(f"/schedules/{schedule.pk}/toggle", {"enabled": "true"}, **HTMX)
    assert response.status_code == 200
    assert 'role="alert"' in response.content.decode() and "was not enabled" in response.content.decode()
    schedule.refresh_from_db()
    assert not schedule.enabled


def test_it_runs_now_and_refuses_with_409_while_a_run_is_active(manager, make_schedule):
    schedule = make(make_schedule)
    response = manager.post(f"/schedules/{schedule.pk}/run_now", **HTMX)
    assert response.status_code == 200 and "started: 1 job created." in response.content.decode()
    assert "schedules-changed" in response["HX-Trigger"]
    response = manager.post(f"/schedules/{schedule.pk}/run_now", **HTMX)
    assert response.status_code == 409
    content = response.content.decode()
    assert 'role="alert"' in content and "Run anyway" in content and 'name="force"' in content
    response = manager.post(f"/schedules/{schedule.pk}/run_now", {"force": "1"}, **HTMX)
    assert response.status_code == 200
    assert ScheduleRun.objects.filter(schedule=schedule).count() == 2
    assert ScheduleAuditEntry.objects.filter(schedule=schedule, action="run_now", via=Via.PAGE).count() == 2


def test_it_confirms_then_deletes_and_keeps_history(manager, make_schedule):
    schedule = make(make_schedule)
    confirmation = manager.get(f"/schedules/{schedule.pk}/delete", **HTMX).content.decode()
    assert "Delete “Nightly backup”?" in confirmation
    response = manager.post(f"/schedules/{schedule.pk}/delete", **HTMX)
    assert response.status_code == 200 and "deleted" in response.content.decode()
    assert not ScheduledTask.objects.filter(pk=schedule.pk).exists()
    assert ScheduleAuditEntry.objects.filter(schedule_name="Nightly backup", action="delete", via="page").exists()


def test_it_redirects_to_the_list_after_deleting_from_the_schedules_own_page(manager, make_schedule):
    schedule = make(make_schedule)
    response = manager.post(f"/schedules/{schedule.pk}/delete", {"_next": "/schedules"}, **HTMX)
    assert response["HX-Redirect"] == "/schedules"


def test_it_refuses_an_outside_next_url(manager, make_schedule):
    schedule = make(make_schedule)
    response = manager.post(f"/schedules/{schedule.pk}/toggle", {"_next": "https://evil.example/"})
    assert response["Location"] == "/schedules"


@pytest.mark.parametrize("action", ["toggle", "run_now"])
def test_it_rejects_get_for_writes(manager, make_schedule, action):
    schedule = make(make_schedule)
    assert manager.get(f"/schedules/{schedule.pk}/{action}").status_code == 405


@pytest.mark.parametrize("path", ["/schedules/999", "/schedules/999/edit", "/schedules/999/delete"])
def test_it_answers_404_for_an_unknown_schedule(manager, path):
    assert manager.get(path).status_code == 404


@pytest.mark.parametrize("action", ["toggle", "run_now", "delete"])
def test_it_answers_404_for_writes_to_an_unknown_schedule(manager, action):
    assert manager.post(f"/schedules/999/{action}").status_code == 404


@pytest.mark.parametrize(("action", "needs"), [("toggle", "change"), ("run_now", "change"), ("delete", "delete")])
def test_it_refuses_writes_without_their_permission(client, make_schedule, action, needs):
    schedule = make(make_schedule)
    others = [p for p in ALL if not p.startswith(needs)]
    client.force_login(grant(UserFactory(), *others))
    assert client.post(f"/schedules/{schedule.pk}/{action}").status_code == 403
    assert ScheduledTask.objects.filter(pk=schedule.pk, enabled=True).exists()
    assert not ScheduleRun.objects.exists()
