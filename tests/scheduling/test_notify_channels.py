"""A schedule's choice of notification channels (`notify_channels`): the model's rule, the editor, the API, the admin."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from scheduling.models import ScheduleAuditEntry, ScheduledTask
from tests.api_clients import ALL_ACTIONS, token_client, user_with
from tests.factories import NotificationChannelFactory, ScheduledTaskFactory, UserFactory, grant
from tests.scheduling.conftest import at
from tests.scheduling.test_admin import form_data
from tests.scheduling.test_views_editor import ALL, HTMX, daily

pytestmark = pytest.mark.django_db

NOW = at("2026-05-01 12:00")
SECRET = "123456789:AAE-secret-bot-token"


@pytest.fixture
def phone(db):
    return NotificationChannelFactory(name="Phone", target=f"tgram://{SECRET}/42")


@pytest.fixture
def mail(db):
    return NotificationChannelFactory(name="Mail", target="ops@example.com")


# --- the model ------------------------------------------------------------------------------------

def test_it_keeps_the_ids_sorted_and_once(phone, mail):
    schedule = ScheduledTaskFactory.build(notify_channels=[mail.pk, phone.pk, mail.pk])
    schedule.full_clean()
    assert schedule.notify_channels == sorted([phone.pk, mail.pk])


@pytest.mark.parametrize("value, message", [
    ([999], "There is no notification channel with the id 999"),
    ([2**70], "There is no notification channel with the id"),
    ("1", "Give a list of notification channel ids"),
    ([True], "Give a list of notification channel ids"),
    (["1"], "Give a list of notification channel ids"),
])
def test_it_refuses_what_is_not_a_list_of_existing_channels(value, message):
    schedule = ScheduledTaskFactory.build(notify_channels=value)
    with pytest.raises(ValidationError) as refused:
        schedule.full_clean()
    assert message in refused.value.message_dict["notify_channels"][0]


def test_empty_means_every_channel(phone):
    schedule = ScheduledTaskFactory.build(notify_channels=None)
    schedule.full_clean()
    assert schedule.notify_channels == []


# --- the editor -----------------------------------------------------------------------------------

@pytest.fixture
def manager(client):
    client.force_login(grant(UserFactory(), *ALL, "delete_backup"))  # backup schedules clean up by default
    return client


def test_the_editor_offers_each_channel_by_name_with_its_address_masked(manager, phone, mail):
    fragment = manager.get("/schedules/new", **HTMX).content.decode()

    assert "Alerts go to" in fragment and "None ticked: all channels." in fragment
    assert f'value="{phone.pk}"' in fragment and "Phone (tgram://…)" in fragment
    assert "Mail (ops@example.com)" in fragment
    assert SECRET not in fragment


def test_the_editor_says_when_there_is_no_channel_yet(manager):
    assert "No notification channel yet" in manager.get("/schedules/new", **HTMX).content.decode()


def test_the_editor_saves_the_channels_ticked_and_audits_them(manager, phone, mail):
    manager.post("/schedules/new", daily(notify_channels=[str(mail.pk)]), **HTMX)
    schedule = ScheduledTask.objects.get()
    assert schedule.notify_channels == [mail.pk]

    page = manager.get(f"/schedules/{schedule.pk}/edit", **HTMX).content.decode()
    assert f'value="{mail.pk}" id="id_notify_channels_' in page and "checked" in page

    manager.post(f"/schedules/{schedule.pk}/edit", daily(), **HTMX)  # none ticked: all channels
    assert ScheduledTask.objects.get().notify_channels == []
    entry = ScheduleAuditEntry.objects.filter(schedule=schedule, action="update").get()
    assert entry.changes == {"notify_channels": [[mail.pk], []]}


def test_the_editor_refuses_a_channel_that_is_not_offered(manager, phone):
    response = manager.post("/schedules/new", daily(notify_channels=["999"]), **HTMX)
    assert 'id="id_notify_channels_error"' in response.content.decode()
    assert not ScheduledTask.objects.exists()


# --- the API --------------------------------------------------------------------------------------

@pytest.fixture
def api(db):
    return token_client(grant(user_with(*ALL_ACTIONS, username="editor"), "delete_backup"))


BACKUP = {"name": "Nightly backup", "task_type": "DATABASE_BACKUP", "schedule_kind": "daily", "schedule_time": "02:00"}


def test_the_api_sets_shows_and_clears_the_channels(api, phone, mail):
    created = api.post("/api/schedules", {**BACKUP, "notify_channels": [mail.pk, phone.pk]})
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["notify_channels"] == sorted([phone.pk, mail.pk])

    assert api.get(f"/api/schedules/{body['id']}").json()["notify_channels"] == sorted([phone.pk, mail.pk])
    assert api.patch(f"/api/schedules/{body['id']}", {"notify_channels": None}).json()["notify_channels"] == []
    assert api.post("/api/schedules", BACKUP).json()["notify_channels"] == []


def test_the_api_names_the_field_of_a_channel_that_does_not_exist(api, phone):
    response = api.post("/api/schedules", {**BACKUP, "notify_channels": [phone.pk, 999]})

    assert response.status_code == 400
    assert response.json()["errors"] == {"notify_channels": [
        "There is no notification channel with the id 999: see /notifications for the channels."]}


@pytest.mark.parametrize("value", ["1", [1.5], ["1"], [True], {"id": 1}])
def test_the_api_refuses_what_is_not_a_list_of_ids(api, value):
    response = api.post("/api/schedules", {**BACKUP, "notify_channels": value})

    assert response.status_code == 400
    assert any(field.startswith("body") or "notify_channels" in field for field in response.json()["errors"])
    assert not ScheduledTask.objects.exists()


# --- the admin ------------------------------------------------------------------------------------

def test_the_admin_edits_the_channels_with_the_same_form(staff_client, phone, mail):
    response = staff_client.post(reverse("admin:scheduling_scheduledtask_add"),
                                 form_data(notify_channels=[str(phone.pk)]))
    assert response.status_code == 302
    schedule = ScheduledTask.objects.get()
    assert schedule.notify_channels == [phone.pk]

    page = staff_client.get(reverse("admin:scheduling_scheduledtask_change", args=[schedule.pk])).content.decode()
    assert "Alerts go to" in page and "Phone (tgram://…)" in page
    assert SECRET not in page
    # Saved again without touching it, the choice stays (the field is in the admin's form).
    staff_client.post(reverse("admin:scheduling_scheduledtask_change", args=[schedule.pk]),
                      form_data(name="Renamed", notify_channels=[str(phone.pk)]))
    assert ScheduledTask.objects.get().notify_channels == [phone.pk]


def test_saving_through_the_service_checks_the_channels(make_schedule):
    with pytest.raises(ValidationError):
        make_schedule(now=NOW, notify_channels=[12345])
    assert not ScheduledTask.objects.exists()
