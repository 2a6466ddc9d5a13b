"""POST /api/schedules/<id>/pause and /resume; the pause in every schedule the API shows.

Permissions, 401 and unknown ids are in test_api_schedules.py with every other operation.
"""

import pytest

from common.actors import Via
from scheduling import services, tick
from scheduling.models import AuditAction, ScheduleAuditEntry, ScheduledTask
from tests.api_clients import ALL_ACTIONS, token_client, user_with
from tests.scheduling.conftest import at

pytestmark = pytest.mark.django_db

NOW = at("2026-05-01 12:00")
BACKUP = {"name": "Nightly backup", "task_type": "DATABASE_BACKUP", "schedule_kind": "daily", "schedule_time": "02:00",
          "timezone": "Europe/Berlin"}


@pytest.fixture(autouse=True)
def frozen(time_machine):
    time_machine.move_to(NOW, tick=False)


@pytest.fixture
def editor(db):
    return user_with(*ALL_ACTIONS, username="editor")


@pytest.fixture
def api(editor):
    return token_client(editor)


@pytest.fixture
def schedule(db):
    return services.schedule_save(schedule=ScheduledTask(**BACKUP), now=NOW)


def errors_of(response, status=400) -> dict:
    assert response.status_code == status, response.content
    return response.json()["errors"]


def test_it_pauses_until_an_instant_with_an_offset_and_shows_the_pause(api, editor, schedule):
    response = api.post(f"/api/schedules/{schedule.pk}/pause",
                        {"until": "2026-05-04T08:00:00+02:00", "reason": "server maintenance"})

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["paused_until"] == "2026-05-04T06:00:00Z"
    assert body["pause_reason"] == "server maintenance"
    assert body["description"] == ("Every day at 02:00 (Europe/Berlin). "
                                   "Paused until Mon 4 May 2026, 08:00 CEST — server maintenance")
    assert body["enabled"] is True
    assert api.get(f"/api/schedules/{schedule.pk}").json()["paused_until"] == "2026-05-04T06:00:00Z"
    [item] = api.get("/api/schedules").json()["items"]
    assert item["pause_reason"] == "server maintenance"
    entry = ScheduleAuditEntry.objects.get(action=AuditAction.PAUSE)
    assert (entry.actor, entry.via) == (editor, Via.API)


def test_a_schedule_that_is_not_paused_says_so_with_nulls(api, schedule):
    body = api.get(f"/api/schedules/{schedule.pk}").json()
    assert (body["paused_until"], body["pause_reason"]) == (None, None)
    assert body["description"] == "Every day at 02:00 (Europe/Berlin)"


def test_it_resumes_with_an_empty_body_or_an_empty_object(api, schedule):
    services.schedule_pause(schedule=schedule, until=at("2026-05-04 06:00"), reason="", now=NOW)

    body = api.post(f"/api/schedules/{schedule.pk}/resume").json()

    assert body["paused_until"] is None and body["description"] == "Every day at 02:00 (Europe/Berlin)"
    assert ScheduleAuditEntry.objects.get(action=AuditAction.RESUME).via == Via.API
    assert api.post(f"/api/schedules/{schedule.pk}/resume", {}).status_code == 200  # not paused: as it is
    assert ScheduleAuditEntry.objects.filter(action=AuditAction.RESUME).count() == 1


def test_the_pass_resumes_it_and_the_api_shows_it(api, schedule):
    api.post(f"/api/schedules/{schedule.pk}/pause", {"until": "2026-05-01T14:30:00+02:00"})
    tick.run_pass(now=at("2026-05-01 12:30"))
    assert api.get(f"/api/schedules/{schedule.pk}").json()["paused_until"] is None


@pytest.mark.parametrize(("body", "errors"), [
    (None, {"until": ["Give the date and time the pause ends."]}),
    ({"reason": "maintenance"}, {"until": ["Give the date and time the pause ends."]}),
    ({"until": "2026-05-01T13:00:00+02:00"},
     {"until": ["Choose a time in the future: it is already Fri 1 May 2026, 14:00 CEST (Europe/Berlin)."]}),
    ({"until": "2027-05-02T00:00:00Z"},
     {"until": ["A pause lasts at most 365 days (until Sat 1 May 2027, 14:00 CEST (Europe/Berlin)); to stop a schedule "
                "for longer, disable it."]}),
    ({"until": "2026-05-04T08:00:00+02:00", "reason": "x" * 201},
     {"reason": ["Ensure this value has at most 200 characters (it has 201)."]}),
    ({"until": "2026-05-04T08:00:00+02:00", "reason": "a\u0000b"}, {"reason": ["Text must not contain NUL characters."]}),
    ({"until": "2026-05-04T08:00:00+02:00", "reason": 7}, {"reason": ["Input should be a valid string"]}),
    ({"until": "2026-05-04T08:00:00", "reason": ""}, {"until": ["Input should have timezone info"]}),
    ({"until": "next monday"}, {"until": ["Use ISO-8601 with an offset, e.g. 2026-03-01T00:00:00Z."]}),
    ({"until": "2026-05-04T08:00:00Z", "paused_until": "2026-05-04T08:00:00Z"}, {"paused_until": ["Read-only: leave it out."]}),
    ({"until": "2026-05-04T08:00:00Z", "why": "x"}, {"why": ["Unknown field."]}),
])
def test_it_refuses_an_invalid_pause_naming_the_field(api, schedule, body, errors):
    response = api.post(f"/api/schedules/{schedule.pk}/pause", body) if body is not None else \
        api.post(f"/api/schedules/{schedule.pk}/pause")

    assert errors_of(response) == errors
    assert ScheduledTask.objects.get().paused_until is None
    assert not ScheduleAuditEntry.objects.filter(action=AuditAction.PAUSE).exists()


def test_it_refuses_to_pause_a_disabled_schedule(api, schedule):
    services.schedule_set_enabled(schedule=schedule, enabled=False, now=NOW)
    assert errors_of(api.post(f"/api/schedules/{schedule.pk}/pause", {"until": "2026-05-04T08:00:00Z"})) == {
        "__all__": ["“Nightly backup” is disabled, so it does not run and cannot be paused. Enable it first, "
                    "or leave it disabled."]}


def test_resume_takes_no_fields(api, schedule):
    assert errors_of(api.post(f"/api/schedules/{schedule.pk}/resume", {"until": None})) == {"until": ["Unknown field."]}


def test_a_patch_cannot_set_the_pause(api, schedule):
    errors = errors_of(api.patch(f"/api/schedules/{schedule.pk}", {"paused_until": "2026-05-04T08:00:00Z",
                                                                    "pause_reason": "x"}))
    assert errors == {"paused_until": ["Read-only: leave it out."], "pause_reason": ["Read-only: leave it out."]}
    assert ScheduledTask.objects.get().paused_until is None
