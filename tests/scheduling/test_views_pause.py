"""/schedules/<id>/pause and /resume, and the pause as the list and a schedule's page show it
(works / validates / permissions / method / bad id)."""

import pytest
from django.utils import timezone

from common.actors import Via
from scheduling import services
from scheduling.models import AuditAction, ScheduleAuditEntry, ScheduledTask
from tests.factories import UserFactory, grant
from tests.scheduling.conftest import at, refreshed

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
NOW = at("2026-05-01 12:00")  # Fri 1 May 2026, 14:00 CEST


@pytest.fixture(autouse=True)
def frozen(time_machine):
    time_machine.move_to(NOW, tick=False)


@pytest.fixture
def manager(client):
    client.force_login(grant(UserFactory(), "view_scheduledtask", "change_scheduledtask"))
    return client


@pytest.fixture
def viewer(client):
    client.force_login(grant(UserFactory(), "view_scheduledtask"))
    return client


@pytest.fixture
def berlin(make_schedule):
    return make_schedule(now=NOW, name="Nightly backup", timezone="Europe/Berlin")


def paused(schedule, until=at("2026-05-04 06:00"), reason="server maintenance"):
    return services.schedule_pause(schedule=schedule, until=until, reason=reason, now=timezone.now())


# --- the dialog's form ----------------------------------------------------------------------------

def test_it_offers_a_datetime_local_input_in_the_schedules_zone(manager, berlin):
    response = manager.get(f"/schedules/{berlin.pk}/pause", **HTMX)
    content = response.content.decode()

    assert response.templates[0].name == "scheduling/_pause.html"  # the dialog's content, no page around it
    assert '<h2 id="dialog-title">Pause “Nightly backup”</h2>' in content
    assert 'type="datetime-local" name="until"' in content
    assert "in the schedule&#x27;s time zone, Europe/Berlin (it is now Fri 1 May 2026, 14:00 CEST there)" in content
    assert 'name="reason" placeholder="e.g. server maintenance" maxlength="200"' in content


def test_it_shows_the_form_as_a_page_without_javascript(manager, berlin):
    response = manager.get(f"/schedules/{berlin.pk}/pause")
    assert response.templates[0].name == "scheduling/pause_page.html"
    assert '<h1 id="dialog-title">Pause “Nightly backup”</h1>' in response.content.decode()


def test_it_fills_in_the_current_pause_on_the_wall_clock(manager, berlin):
    paused(berlin)
    content = manager.get(f"/schedules/{berlin.pk}/pause", **HTMX).content.decode()
    assert 'value="2026-05-04T08:00"' in content  # 06:00 UTC is 08:00 CEST
    assert 'value="server maintenance"' in content


def test_it_pauses_until_a_local_time_and_says_so(manager, berlin):
    response = manager.post(f"/schedules/{berlin.pk}/pause", {"until": "2026-05-04T08:00", "reason": "server maintenance"},
                            **HTMX)

    assert response.status_code == 200
    assert response["HX-Reswap"] == "none"
    assert '"schedules-changed"' in response["HX-Trigger"] and '"close-dialog"' in response["HX-Trigger"]
    assert ("“Nightly backup” paused until Mon 4 May 2026, 08:00 CEST — server maintenance. It resumes by itself then."
            in response.content.decode())
    berlin = refreshed(berlin)
    assert (berlin.paused_until, berlin.pause_reason) == (at("2026-05-04 06:00"), "server maintenance")
    entry = ScheduleAuditEntry.objects.get(action=AuditAction.PAUSE)
    assert (entry.via, entry.at) == (Via.PAGE, NOW)


def test_it_pauses_without_javascript_and_goes_back(manager, berlin):
    response = manager.post(f"/schedules/{berlin.pk}/pause",
                            {"until": "2026-05-04T08:00", "_next": f"/schedules/{berlin.pk}"})
    assert response.status_code == 302 and response["Location"] == f"/schedules/{berlin.pk}"
    assert refreshed(berlin).paused_until == at("2026-05-04 06:00")
    assert refreshed(berlin).pause_reason == ""


@pytest.mark.parametrize(("until", "expected"), [
    ("2026-03-29T02:30", at("2026-03-29 01:30")),  # the clocks skip 02:00-03:00: 03:30 CEST
    ("2026-10-25T02:30", at("2026-10-25 00:30")),  # 02:30 happens twice: the first, CEST
])
def test_it_reads_a_wall_time_inside_a_dst_change_as_the_scheduler_does(manager, make_schedule, time_machine,
                                                                          until, expected):
    time_machine.move_to(at("2026-03-01 12:00"), tick=False)
    schedule = make_schedule(now=at("2026-03-01 12:00"), timezone="Europe/Berlin")
    manager.post(f"/schedules/{schedule.pk}/pause", {"until": until}, **HTMX)
    assert refreshed(schedule).paused_until == expected


@pytest.mark.parametrize(("data", "field", "message"), [
    ({"until": ""}, "until", "Give the date and time the pause ends."),
    ({"until": "tomorrow"}, "until", "Enter a valid date/time."),
    ({"until": "2026-05-01T13:59"}, "until", "Choose a time in the future: it is already Fri 1 May 2026, 14:00 CEST"),
    ({"until": "2027-05-02T14:00"}, "until", "A pause lasts at most 365 days"),
    ({"until": "2026-05-04T08:00", "reason": "x" * 201}, "reason", "at most 200 characters (it has 201)"),
    ({"until": "2026-05-04T08:00", "reason": "a\x00b"}, "reason", "Null characters are not allowed."),
])
def test_it_answers_an_invalid_pause_with_the_form_and_its_message_under_the_input(manager, berlin, data, field,
                                                                                    message):
    response = manager.post(f"/schedules/{berlin.pk}/pause", data, **HTMX)

    assert response.status_code == 200  # htmx swaps it into the dialog
    assert "HX-Trigger" not in response
    form = response.context["form"]
    assert list(form.errors) == [field]
    assert message in form.errors[field][0]
    assert 'aria-invalid="true"' in response.content.decode()
    assert refreshed(berlin).paused_until is None
    assert not ScheduleAuditEntry.objects.filter(action=AuditAction.PAUSE).exists()


def test_it_refuses_to_pause_a_disabled_schedule(manager, make_schedule):
    schedule = make_schedule(now=NOW, name="Off", enabled=False)
    response = manager.post(f"/schedules/{schedule.pk}/pause", {"until": "2026-05-04T08:00"}, **HTMX)
    assert "“Off” is disabled, so it does not run and cannot be paused." in response.content.decode()
    assert 'role="alert"' in response.content.decode()
    assert refreshed(schedule).paused_until is None


# --- resume ---------------------------------------------------------------------------------------

def test_it_resumes_now(manager, berlin):
    paused(berlin)
    response = manager.post(f"/schedules/{berlin.pk}/resume", **HTMX)

    assert response["HX-Reswap"] == "none" and '"schedules-changed"' in response["HX-Trigger"]
    assert "“Nightly backup” resumed. Next run: Sat 2 May 2026, 02:00 CEST (Europe/Berlin)." in response.content.decode()
    assert refreshed(berlin).paused_until is None
    assert ScheduleAuditEntry.objects.get(action=AuditAction.RESUME).via == Via.PAGE


def test_it_resumes_without_javascript_and_goes_back(manager, berlin):
    paused(berlin)
    response = manager.post(f"/schedules/{berlin.pk}/resume", {"_next": f"/schedules/{berlin.pk}"})
    assert response.status_code == 302 and response["Location"] == f"/schedules/{berlin.pk}"
    assert refreshed(berlin).paused_until is None


def test_resuming_a_schedule_that_is_not_paused_changes_nothing(manager, berlin):
    response = manager.post(f"/schedules/{berlin.pk}/resume", **HTMX)
    assert "“Nightly backup” is not paused." in response.content.decode()
    assert not ScheduleAuditEntry.objects.filter(action=AuditAction.RESUME).exists()


# --- what the pages show --------------------------------------------------------------------------

def test_the_list_says_paused_until_when_and_why_and_offers_resume(manager, berlin, make_schedule):
    make_schedule(now=NOW, name="Running")
    paused(berlin)

    content = manager.get("/schedules").content.decode()

    row = content[content.index(f'id="schedule-{berlin.pk}"'):]
    row = row[:row.index("</tr>")]
    assert '<span class="badge badge-muted">Paused</span> until <time datetime="2026-05-04T06:00:00+00:00"' in row
    assert "Mon 4 May 2026, 08:00 CEST" in row and "— server maintenance" in row
    assert f'id="pause-{berlin.pk}" aria-label="Resume now: Nightly backup">Resume now</button>' in row
    assert "Pause…" not in row
    other = content[content.index("Running"):]
    assert "Pause…</a>" in other[:other.index("</tr>")]


def test_a_schedules_page_says_paused_until_and_when_it_runs_next(manager, berlin):
    paused(berlin)
    content = manager.get(f"/schedules/{berlin.pk}").content.decode()
    assert "Mon 4 May 2026, 08:00 CEST" in content and "— server maintenance" in content
    assert ">Resume now</button>" in content
    # Next run: the first window after the pause (02:00 Berlin on Tue 5 May), not one inside it.
    assert "Tue 5 May 2026, 02:00 CEST" in content and "(the first after the pause)" in content
    assert "Sat 2 May 2026, 02:00 CEST" not in content


def test_a_paused_run_shows_in_the_history_with_its_badge_and_no_lateness(manager, make_schedule):
    from scheduling import tick

    schedule = make_schedule(now=at("2026-04-30 12:00"))
    services.schedule_pause(schedule=schedule, until=at("2026-05-04 06:00"), reason="moving house",
                            now=at("2026-04-30 12:00"))
    tick.run_pass(now=at("2026-05-01 02:00:01"))
    content = manager.get(f"/schedules/{schedule.pk}").content.decode()
    assert '<span class="badge badge-muted">Paused</span> <span class="muted">Not run: paused until Mon 4 May' in content
    assert '<td data-label="Lateness"><span class="muted">—</span></td>' in content


def test_a_viewer_sees_the_pause_but_no_buttons(viewer, berlin):
    paused(berlin)
    for url in ("/schedules", f"/schedules/{berlin.pk}"):
        content = viewer.get(url).content.decode()
        assert "— server maintenance" in content
        assert "Resume now" not in content and "Pause…" not in content


def test_the_pause_button_is_not_offered_for_a_disabled_schedule(manager, make_schedule):
    schedule = make_schedule(now=NOW, enabled=False)
    content = manager.get("/schedules").content.decode()
    assert f'id="pause-{schedule.pk}"' not in content


# --- the same set as every view ---------------------------------------------------------------------

@pytest.mark.parametrize(("method", "path"), [("get", "pause"), ("post", "pause"), ("post", "resume")])
def test_it_needs_the_change_permission(viewer, berlin, method, path):
    paused(berlin)
    response = getattr(viewer, method)(f"/schedules/{berlin.pk}/{path}", {"until": "2026-05-05T08:00"})
    assert response.status_code == 403
    assert refreshed(berlin).paused_until == at("2026-05-04 06:00")


@pytest.mark.parametrize("path", ["pause", "resume"])
def test_it_asks_anonymous_visitors_to_log_in(client, berlin, path):
    response = client.post(f"/schedules/{berlin.pk}/{path}")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_resume_rejects_get(manager, berlin):
    assert manager.get(f"/schedules/{berlin.pk}/resume").status_code == 405


@pytest.mark.parametrize("path", ["pause", "resume"])
def test_it_answers_404_for_an_unknown_schedule(manager, path):
    assert manager.post(f"/schedules/999999/{path}", {"until": "2026-05-05T08:00"}).status_code == 404
    assert not ScheduledTask.objects.exists()


def test_the_list_filters_paused_schedules(manager, berlin, make_schedule):
    make_schedule(now=NOW, name="Running")
    paused(berlin)
    assert [s.name for s in manager.get("/schedules?state=paused").context["schedules"]] == ["Nightly backup"]


def test_upcoming_runs_leave_out_the_windows_inside_a_pause(manager, berlin):
    paused(berlin)  # until Mon 4 May 2026, 08:00 CEST: the runs of 2, 3 and 4 May at 02:00 do not happen
    runs = [item.run.at for day in manager.get("/schedules/upcoming").context["days"] for item in day["runs"]]
    assert runs[0] == at("2026-05-05 00:00")  # Tue 5 May 2026, 02:00 CEST
    assert len(runs) == 4  # 5 to 8 May
