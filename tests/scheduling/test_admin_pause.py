"""The pause in the schedule admin: shown in the list, set in the change form through the model's rule,
lifted by "Resume now"."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from scheduling import services
from scheduling.models import AuditAction, ScheduleAuditEntry
from tests.factories import UserFactory
from tests.scheduling.conftest import at, refreshed
from tests.scheduling.test_admin import CHANGELIST, form_data

pytestmark = pytest.mark.django_db

NOW = at("2026-05-01 12:00")  # 14:00 in Berlin


@pytest.fixture(autouse=True)
def frozen(time_machine):
    time_machine.move_to(NOW, tick=False)


@pytest.fixture
def berlin(make_schedule):
    return make_schedule(now=NOW, timezone="Europe/Berlin")


def change_url(schedule) -> str:
    return reverse("admin:scheduling_scheduledtask_change", args=[schedule.pk])


def change(staff_client, schedule, **fields):
    return staff_client.post(change_url(schedule), form_data(timezone=schedule.timezone, **fields))


def test_the_list_shows_the_pause_and_filters_by_it(staff_client, berlin, make_schedule):
    make_schedule(now=NOW, name="Running")
    services.schedule_pause(schedule=berlin, until=at("2026-05-04 06:00"), reason="server maintenance", now=NOW)

    content = staff_client.get(CHANGELIST).content.decode()
    assert "Paused until Mon 4 May 2026, 08:00 CEST — server maintenance" in content

    paused = staff_client.get(CHANGELIST + "?paused=yes").context["cl"].result_list
    assert [s.name for s in paused] == ["Nightly backup"]
    assert [s.name for s in staff_client.get(CHANGELIST + "?paused=no").context["cl"].result_list] == ["Running"]


def test_it_pauses_from_the_change_form_on_the_schedules_wall_clock(staff_client, staff, berlin):
    page = staff_client.get(change_url(berlin)).content.decode()
    assert 'type="datetime-local" name="paused_until"' in page
    assert "in the schedule's time zone, Europe/Berlin" in page

    response = change(staff_client, berlin, paused_until="2026-05-04T08:00", pause_reason="server maintenance")

    assert response.status_code == 302
    berlin = refreshed(berlin)
    assert (berlin.paused_until, berlin.pause_reason) == (at("2026-05-04 06:00"), "server maintenance")
    entry = ScheduleAuditEntry.objects.get(action=AuditAction.PAUSE)
    assert (entry.via, entry.actor) == ("admin", staff)
    assert not ScheduleAuditEntry.objects.filter(action=AuditAction.UPDATE).exists()  # nothing else changed


def test_saving_the_form_unchanged_leaves_the_pause_alone(staff_client, berlin):
    services.schedule_pause(schedule=berlin, until=at("2026-05-04 06:00:30"), reason="server maintenance", now=NOW)
    page = staff_client.get(change_url(berlin)).content.decode()
    assert 'value="2026-05-04T08:00"' in page  # whole minutes, as the input shows them

    change(staff_client, berlin, paused_until="2026-05-04T08:00", pause_reason="server maintenance")

    assert refreshed(berlin).paused_until == at("2026-05-04 06:00:30")
    assert ScheduleAuditEntry.objects.filter(action=AuditAction.PAUSE).count() == 1


def test_it_changes_only_the_reason(staff_client, berlin):
    services.schedule_pause(schedule=berlin, until=at("2026-05-04 06:00:30"), reason="", now=NOW)
    change(staff_client, berlin, paused_until="2026-05-04T08:00", pause_reason="moving racks")
    assert (refreshed(berlin).paused_until, refreshed(berlin).pause_reason) == (at("2026-05-04 06:00:30"),
                                                                                "moving racks")


def test_emptying_paused_until_resumes(staff_client, berlin):
    services.schedule_pause(schedule=berlin, until=at("2026-05-04 06:00"), reason="server maintenance", now=NOW)
    change(staff_client, berlin, paused_until="", pause_reason="server maintenance")
    assert (refreshed(berlin).paused_until, refreshed(berlin).pause_reason) == (None, "")
    assert ScheduleAuditEntry.objects.get(action=AuditAction.RESUME).via == "admin"


@pytest.mark.parametrize(("fields", "errors"), [
    ({"paused_until": "2026-05-01T13:00"},
     {"paused_until": ["Choose a time in the future: it is already Fri 1 May 2026, 14:00 CEST (Europe/Berlin)."]}),
    ({"paused_until": "2027-06-01T00:00"},
     {"paused_until": ["A pause lasts at most 365 days (until Sat 1 May 2027, 14:00 CEST (Europe/Berlin)); to stop a "
                       "schedule for longer, disable it."]}),
    ({"pause_reason": "server maintenance"}, {"paused_until": ["Give the date and time the pause ends."]}),
    ({"paused_until": "2026-05-04T08:00", "pause_reason": "x" * 201},
     {"pause_reason": ["Ensure this value has at most 200 characters (it has 201)."]}),
    ({"paused_until": "2026-05-04T08:00", "enabled": None},
     {"__all__": ["“Nightly backup” is disabled, so it does not run and cannot be paused. Enable it first, or "
                  "leave it disabled."]}),
    ({"paused_until": "soon"}, {"paused_until": ["Enter a valid date/time."]}),
])
def test_it_shows_the_pause_rules_messages_next_to_their_fields_and_saves_nothing(staff_client, berlin, fields,
                                                                                 errors):
    response = change(staff_client, berlin, schedule_time="04:00", **fields)

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == errors
    berlin = refreshed(berlin)
    assert (berlin.paused_until, berlin.schedule_time, berlin.enabled) == (None, "02:00", True)
    assert ScheduleAuditEntry.objects.exclude(action=AuditAction.CREATE).count() == 0


def test_it_resumes_the_selected_schedules(staff_client, berlin, make_schedule):
    running = make_schedule(now=NOW, name="Running")
    services.schedule_pause(schedule=berlin, until=at("2026-05-04 06:00"), now=NOW)

    content = staff_client.post(CHANGELIST, {"action": "resume_schedules", "_selected_action": [berlin.pk, running.pk]},
                                follow=True).content.decode()

    assert "1 schedule resumed." in content
    assert refreshed(berlin).paused_until is None
    assert ScheduleAuditEntry.objects.filter(action=AuditAction.RESUME).count() == 1
    content = staff_client.post(CHANGELIST, {"action": "resume_schedules", "_selected_action": [running.pk]},
                                follow=True).content.decode()
    assert "None of the selected schedules was paused." in content


def test_staff_who_may_only_view_can_neither_pause_nor_resume(client, berlin):
    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_scheduledtask"))
    client.force_login(viewer)
    services.schedule_pause(schedule=berlin, until=at("2026-05-04 06:00"), now=NOW)

    assert b"resume_schedules" not in client.get(CHANGELIST).content
    client.post(CHANGELIST, {"action": "resume_schedules", "_selected_action": [berlin.pk]})
    assert client.post(change_url(berlin), form_data(paused_until="")).status_code == 403
    assert refreshed(berlin).paused_until == at("2026-05-04 06:00")
