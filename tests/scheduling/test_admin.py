"""The schedule admin: staff create, edit, enable/disable and run schedules through the services."""

import pytest
from django.urls import reverse

from jobs.models import Job
from scheduling.models import ScheduledTask, ScheduleRun
from tests.factories import ChannelGroupFactory
from tests.scheduling.conftest import at

pytestmark = pytest.mark.django_db

ADD = reverse("admin:scheduling_scheduledtask_add")
CHANGELIST = reverse("admin:scheduling_scheduledtask_changelist")


def form_data(**overrides) -> dict:
    data = {
        "name": "Nightly backup",
        "task_type": "DATABASE_BACKUP",
        # The backup settings as the form shows them (its initial values).
        "database_backup-backup_type": "full",
        "database_backup-retention_days": "30",
        "database_backup-cleanup_old": "on",
        "database_backup-copy_offsite": "on",
        "enabled": "on",
        "schedule_kind": "daily",
        "schedule_time": "02:00",
        "interval_minutes": "",
        "cron_expr": "",
        "timezone": "UTC",
        "grace_minutes": "60",
        "overlap_policy": "skip",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def test_it_creates_a_schedule_with_its_next_run(staff_client):
    response = staff_client.post(ADD, form_data(schedule_kind="weekly", schedule_days=["mon", "wed", "fri"],
                                                schedule_time="04:00", timezone="Europe/Berlin"))
    assert response.status_code == 302
    schedule = ScheduledTask.objects.get()
    assert schedule.schedule_days == ["mon", "wed", "fri"]
    assert schedule.describe() == "Every Mon, Wed, Fri at 04:00 (Europe/Berlin)"
    assert schedule.next_run_at is not None
    assert schedule.params["retention_days"] == 30


def test_it_shows_validation_errors_next_to_their_fields(staff_client):
    response = staff_client.post(ADD, form_data(schedule_time="25:00", timezone="Mars/Base"))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "HH:MM" in errors["schedule_time"][0]
    assert "Mars/Base" in errors["timezone"][0]
    assert not ScheduledTask.objects.exists()


def test_it_validates_quick_sync_params_under_their_own_input(staff_client):
    response = staff_client.post(ADD, form_data(task_type="QUICK_SYNC_GROUP", **{"quick_sync_group-group_id": "404"}))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["quick_sync_group-group_id"] == ["No such channel group; choose one from the list."]
    assert not ScheduledTask.objects.exists()


def test_it_requires_the_group_only_for_quick_syncs(staff_client):
    response = staff_client.post(ADD, form_data(task_type="QUICK_SYNC_GROUP"))
    assert response.context["adminform"].form.errors == {
        "quick_sync_group-group_id": ["Choose the channel group to sync."]}


def test_it_creates_a_quick_sync_schedule_with_a_group_picker(staff_client):
    group = ChannelGroupFactory(name="News")
    page = staff_client.get(ADD).content.decode()
    assert f'<option value="{group.pk}">News</option>' in page
    assert 'name="params"' not in page.replace('type="hidden" name="params"', "")

    response = staff_client.post(ADD, form_data(name="Sync News", task_type="QUICK_SYNC_GROUP", schedule_time="05:30",
                                                **{"quick_sync_group-group_id": str(group.pk)}))
    assert response.status_code == 302
    assert ScheduledTask.objects.get().params == {"group_id": group.pk}


def test_it_shows_the_stored_params_when_editing(staff_client, make_schedule):
    schedule = make_schedule(now=at("2026-05-01 12:00"), params={"retention_days": 9, "cleanup_old": True})
    page = staff_client.get(reverse("admin:scheduling_scheduledtask_change", args=[schedule.pk])).content.decode()
    assert 'name="database_backup-retention_days" value="9"' in page
    assert 'id="id_database_backup-cleanup_old" checked>' in page


def test_it_labels_task_types_and_names_the_group_in_the_list(staff_client, make_schedule):
    group = ChannelGroupFactory(name="News")
    make_schedule(now=at("2026-05-01 12:00"), name="Sync News", task_type="QUICK_SYNC_GROUP",
                  params={"group_id": group.pk})
    content = staff_client.get(CHANGELIST).content.decode()
    assert "Quick sync of a channel group: News" in content
    assert "QUICK_SYNC_GROUP</td>" not in content


def test_it_names_a_deleted_group_and_an_uninstalled_task_type_in_the_list(staff_client, make_schedule):
    group = ChannelGroupFactory(name="Gone")
    make_schedule(now=at("2026-05-01 12:00"), name="Orphan sync", task_type="QUICK_SYNC_GROUP",
                  params={"group_id": group.pk})
    group.delete()
    leftover = make_schedule(now=at("2026-05-01 12:00"), name="Leftover")
    ScheduledTask.objects.filter(pk=leftover.pk).update(task_type="NO_LONGER_INSTALLED")

    content = staff_client.get(CHANGELIST).content.decode()

    assert "Quick sync of a channel group: a deleted group</td>" in content
    assert ">NO_LONGER_INSTALLED</td>" in content


def test_it_lists_schedules_with_their_description(staff_client, make_schedule):
    make_schedule(now=at("2026-05-01 12:00"), schedule_kind="interval", interval_minutes=15, name="Often")
    content = staff_client.get(CHANGELIST).content.decode()
    assert "Every 15 minutes" in content
    assert "Often" in content


def test_it_disables_and_enables_with_actions(staff_client, make_schedule):
    schedule = make_schedule(now=at("2026-05-01 12:00"))
    response = staff_client.post(CHANGELIST, {"action": "disable_schedules", "_selected_action": [schedule.pk]},
                                 follow=True)
    assert "1 schedule disabled." in response.content.decode()
    schedule.refresh_from_db()
    assert (schedule.enabled, schedule.next_run_at) == (False, None)

    response = staff_client.post(CHANGELIST, {"action": "enable_schedules", "_selected_action": [schedule.pk]},
                                 follow=True)
    assert "1 schedule enabled." in response.content.decode()
    schedule.refresh_from_db()
    assert schedule.enabled and schedule.next_run_at is not None


def test_it_runs_now_from_the_admin_and_refuses_a_second_time(staff_client, make_schedule):
    schedule = make_schedule(now=at("2026-05-01 12:00"))
    action = {"action": "run_now", "_selected_action": [schedule.pk]}
    content = staff_client.post(CHANGELIST, action, follow=True).content.decode()
    assert ("“Nightly backup” started: 1 job created. No worker is running, so the jobs wait until one starts "
            "(manage.py qcluster).") in content
    assert ScheduleRun.objects.get().trigger == "manual"
    assert Job.objects.count() == 1

    content = staff_client.post(CHANGELIST, action, follow=True).content.decode()
    assert "“Nightly backup” is still busy with an earlier run: 1 job queued (waiting for a worker)." in content
    assert Job.objects.count() == 1

    forced = {"action": "run_now_forced", "_selected_action": [schedule.pk]}
    staff_client.post(CHANGELIST, forced, follow=True)
    assert Job.objects.count() == 2
    assert schedule.audit_entries.filter(action="run_now", via="admin").count() == 2


def test_it_shows_run_history_read_only(staff_client, make_schedule):
    from scheduling import services
    schedule = make_schedule(now=at("2026-05-01 12:00"))
    run = services.schedule_run_now(schedule=schedule, now=at("2026-05-01 12:30"))
    assert staff_client.get(reverse("admin:scheduling_schedulerun_change", args=[run.pk])).status_code == 200
    assert staff_client.get(reverse("admin:scheduling_schedulerun_add")).status_code == 403


@pytest.fixture
def viewer_client(client, db):
    from django.contrib.auth.models import Permission

    from tests.factories import UserFactory

    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_scheduledtask"))
    client.force_login(viewer)
    return client


def test_it_offers_no_actions_to_staff_who_may_only_view(viewer_client, make_schedule):
    schedule = make_schedule(now=at("2026-05-01 12:00"))
    response = viewer_client.get(CHANGELIST)
    assert response.status_code == 200
    assert b"run_now" not in response.content
    for action in ("run_now", "disable_schedules"):
        viewer_client.post(CHANGELIST, {"action": action, "_selected_action": [schedule.pk]})
    schedule.refresh_from_db()
    assert schedule.enabled
    assert not ScheduleRun.objects.exists()


def test_it_disables_a_schedule_that_no_longer_validates_and_says_why_it_cannot_enable_it(staff_client,
                                                                                            make_schedule):
    group = ChannelGroupFactory(name="News")
    schedule = make_schedule(now=at("2026-05-01 12:00"), name="Sync News", task_type="QUICK_SYNC_GROUP",
                             params={"group_id": group.pk})
    group_id = group.pk
    group.delete()

    content = staff_client.post(CHANGELIST, {"action": "disable_schedules", "_selected_action": [schedule.pk]},
                                follow=True).content.decode()
    assert "1 schedule disabled." in content
    schedule.refresh_from_db()
    assert (schedule.enabled, schedule.next_run_at) == (False, None)

    content = staff_client.post(CHANGELIST, {"action": "enable_schedules", "_selected_action": [schedule.pk]},
                                follow=True).content.decode()
    assert ("Sync News was not enabled: Channel group: No such channel group; choose one from the list."
            in content)
    assert group_id
    schedule.refresh_from_db()
    assert not schedule.enabled


def test_the_change_page_links_its_recent_runs_and_each_run_links_its_jobs(staff_client, make_schedule):
    from scheduling import services

    schedule = make_schedule(now=at("2026-05-01 12:00"))
    run = services.schedule_run_now(schedule=schedule, now=at("2026-05-01 12:30"))
    job = run.jobs.get()

    page = staff_client.get(reverse("admin:scheduling_scheduledtask_change", args=[schedule.pk])).content.decode()
    assert f'<a href="{reverse("admin:scheduling_schedulerun_change", args=[run.pk])}">Run #{run.pk}</a>' in page

    page = staff_client.get(reverse("admin:scheduling_schedulerun_change", args=[run.pk])).content.decode()
    assert f'<a href="/jobs/{job.pk}">#{job.pk}</a> (Queued)' in page
    assert f'href="{reverse("admin:scheduling_scheduledtask_change", args=[schedule.pk])}">Nightly backup</a>' in page


def test_deleting_in_the_admin_keeps_the_history(staff_client, make_schedule):
    from scheduling import services

    schedule = make_schedule(now=at("2026-05-01 12:00"))
    run = services.schedule_run_now(schedule=schedule, now=at("2026-05-01 12:30"))

    staff_client.post(reverse("admin:scheduling_scheduledtask_delete", args=[schedule.pk]), {"post": "yes"})

    assert not ScheduledTask.objects.exists()
    run.refresh_from_db()
    assert run.schedule_name == "Nightly backup"
    assert schedule.audit_entries.model.objects.filter(action="delete", via="admin").count() == 1


def test_an_edit_in_the_admin_is_audited_with_its_diff(staff_client, staff, make_schedule):
    schedule = make_schedule(now=at("2026-05-01 12:00"))
    url = reverse("admin:scheduling_scheduledtask_change", args=[schedule.pk])

    response = staff_client.post(url, form_data(schedule_time="04:15"))

    assert response.status_code == 302
    entry = schedule.audit_entries.get(action="update")
    assert (entry.via, entry.actor, entry.changes) == ("admin", staff, {"schedule_time": ["02:00", "04:15"]})
