"""The schedule editor, its live preview, a schedule's history and the upcoming runs."""

import datetime as dt
import html
import io
import re
from pathlib import Path

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from common.actors import Via
from scheduling.models import ScheduleAuditEntry, ScheduledTask
from tests.factories import ChannelFactory, ChannelGroupFactory, UserFactory, grant

pytestmark = pytest.mark.django_db

ALL = ("view_scheduledtask", "add_scheduledtask", "change_scheduledtask", "delete_scheduledtask")
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def manager(client):
    client.user = grant(UserFactory(), *ALL, "delete_backup")  # backup schedules clean up by default
    client.force_login(client.user)
    return client


def daily(**fields):
    return {"name": "Nightly", "task_type": "DATABASE_BACKUP", "schedule_kind": "daily", "schedule_time": "02:00",
            "timezone": "UTC", "enabled": "on", "grace_minutes": "60", "overlap_policy": "skip",
            "database_backup-backup_type": "full", "database_backup-retention_days": "30", **fields}


def test_it_renders_the_editor_fragment_for_htmx_and_a_page_without(manager):
    fragment = manager.get("/schedules/new", **HTMX).content.decode()
    assert fragment.lstrip().startswith('<div id="schedule-editor"') and "<html" not in fragment
    assert 'hx-trigger="input changed delay:400ms' in fragment
    assert 'list="timezone-options"' in fragment and '<option value="Europe/Berlin">' in fragment
    assert "Cron cheatsheet" in fragment and "<summary>Advanced</summary>" in fragment
    page = manager.get("/schedules/new").content.decode()
    assert "<html" in page and "<h1 id=\"dialog-title\">New schedule</h1>" in page


def test_it_creates_a_schedule_through_the_service(manager):
    response = manager.post("/schedules/new", daily(), **HTMX)
    assert response.status_code == 200
    assert response["HX-Reswap"] == "none" and "close-dialog" in response["HX-Trigger"]
    assert "Schedule “Nightly” created." in response.content.decode()
    schedule = ScheduledTask.objects.get(name="Nightly")
    assert schedule.next_run_at is not None
    assert schedule.params["retention_days"] == 30
    entry = ScheduleAuditEntry.objects.get(schedule=schedule)
    assert (entry.action, entry.via) == ("create", Via.PAGE)


def test_it_creates_a_quick_sync_with_the_group_chosen_by_name(manager):
    group = ChannelGroupFactory(name="Lawyers")
    fragment = manager.get("/schedules/new", **HTMX).content.decode()
    assert f'<option value="{group.pk}">Lawyers</option>' in fragment
    manager.post("/schedules/new", daily(task_type="QUICK_SYNC_GROUP", **{"quick_sync_group-group_id": group.pk}),
                 **HTMX)
    assert ScheduledTask.objects.get().params == {"group_id": group.pk}


def test_it_rerenders_the_form_with_inline_errors_and_200(manager):
    response = manager.post("/schedules/new", daily(schedule_time="25:00"), **HTMX)
    assert response.status_code == 200
    content = response.content.decode()
    assert 'aria-invalid="true"' in content
    assert 'id="id_schedule_time_error"' in content and "(got &#x27;25:00&#x27;)" in content
    assert not ScheduledTask.objects.exists()


@pytest.mark.parametrize(("fields", "field"), [
    ({"schedule_kind": "weekly", "schedule_days": []}, "schedule_days"),
    ({"schedule_kind": "interval", "interval_minutes": "4"}, "interval_minutes"),
    ({"schedule_kind": "cron", "cron_expr": "61 * * * *"}, "cron_expr"),
    # Valid fields, but 02:xx on the last Sunday of March only: the hour Berlin's clocks skip.
    ({"schedule_kind": "cron", "cron_expr": "*/15 2 25-31 3 */7", "timezone": "Europe/Berlin"}, "cron_expr"),
    ({"timezone": "Mars/Olympus"}, "timezone"),
    ({"task_type": "QUICK_SYNC_GROUP"}, "quick_sync_group-group_id"),
    ({"database_backup-retention_days": "0"}, "database_backup-retention_days"),
])
def test_it_puts_each_rule_under_its_own_field(manager, fields, field):
    response = manager.post("/schedules/new", daily(**fields), **HTMX)
    assert f'id="id_{field}_error"' in response.content.decode(), field
    assert not ScheduledTask.objects.exists()


def test_it_edits_a_schedule_and_records_the_diff(manager, make_schedule):
    schedule = make_schedule(now=timezone.now())
    form = manager.get(f"/schedules/{schedule.pk}/edit", **HTMX).content.decode()
    assert "Edit “Nightly backup”" in form and 'value="02:00"' in form
    manager.post(f"/schedules/{schedule.pk}/edit",
                 daily(name="Nightly backup", schedule_kind="weekly", schedule_days=["mon", "wed", "fri"],
                       schedule_time="04:00"), **HTMX)
    schedule.refresh_from_db()
    assert (schedule.schedule_kind, schedule.schedule_days, schedule.schedule_time) == (
        "weekly", ["mon", "wed", "fri"], "04:00")
    assert schedule.next_run_at.weekday() in (0, 2, 4)
    entry = ScheduleAuditEntry.objects.get(schedule=schedule, action="update")
    assert entry.changes["schedule_kind"] == ["daily", "weekly"] and entry.via == "page"
    history = manager.get(f"/schedules/{schedule.pk}").content.decode()
    assert "<code>schedule_kind</code>: daily → weekly" in history


def test_it_saves_without_javascript_and_redirects(manager):
    response = manager.post("/schedules/new", daily())
    assert response.status_code == 302 and response["Location"] == "/schedules"


def test_it_limits_task_types_and_fixes_params_for_other_pages(manager):
    group = ChannelGroupFactory(name="News")
    fragment = manager.get(f"/schedules/new?task_type=QUICK_SYNC_GROUP&quick_sync_group-group_id={group.pk}"
                           "&fixed=quick_sync_group-group_id&name=News+sync", **HTMX).content.decode()
    assert 'type="hidden" name="task_type" value="QUICK_SYNC_GROUP"' in fragment
    assert f'type="hidden" name="quick_sync_group-group_id" value="{group.pk}"' in fragment
    assert "database_backup-retention_days" not in fragment
    assert 'value="News sync"' in fragment
    assert '<input type="hidden" name="_fixed" value="quick_sync_group-group_id">' in fragment


@pytest.mark.parametrize(("path", "missing"), [("/schedules/new", "add"), ("/schedules/{pk}/edit", "change")])
def test_it_refuses_the_editor_without_permission(client, make_schedule, path, missing):
    schedule = make_schedule(now=timezone.now())
    client.force_login(grant(UserFactory(), *[p for p in ALL if not p.startswith(missing)]))
    url = path.format(pk=schedule.pk)
    assert client.get(url).status_code == 403
    assert client.post(url, daily(name="Changed")).status_code == 403
    assert not ScheduledTask.objects.filter(name="Changed").exists()


def test_it_rejects_other_methods_on_the_editor(manager):
    assert manager.put("/schedules/new").status_code == 405
    assert manager.get("/schedules/preview").status_code == 405


def test_it_previews_the_next_runs_with_a_dst_note(manager):
    with time_machine.travel(dt.datetime(2026, 3, 26, 12, tzinfo=dt.timezone.utc), tick=False):
        response = manager.post("/schedules/preview", daily(schedule_time="02:30", timezone="Europe/Berlin"))
    content = response.content.decode()
    assert "Every day at 02:30 (Europe/Berlin)" in content
    assert content.count("<li") == 5
    assert "Sun 29 Mar 2026, 03:30 CEST" in content
    assert "Clocks go forward: runs at 03:30 instead of 02:30." in content
    assert not ScheduledTask.objects.exists()  # nothing written


def test_it_previews_validation_messages_instead_of_runs(manager):
    content = manager.post("/schedules/preview", daily(schedule_time="25:00", name="")).content.decode()
    assert "Not a valid schedule yet" in content and "25:00" in content and "<ol" not in content


def test_it_previews_interval_schedules_on_the_whole_minute(manager):
    with time_machine.travel(dt.datetime(2026, 5, 1, 8, 3, 49, tzinfo=dt.timezone.utc), tick=False):
        content = manager.post("/schedules/preview", daily(schedule_kind="interval", interval_minutes="15")).content
    assert b"08:18 UTC" in content and b":49" not in content


def test_it_refuses_the_preview_to_users_who_cannot_edit(client):
    client.force_login(grant(UserFactory(), "view_scheduledtask"))
    assert client.post("/schedules/preview", daily()).status_code == 403


def test_it_shows_runs_with_lateness_jobs_and_the_audit_trail(manager, make_schedule):
    group = ChannelGroupFactory(name="News")
    ChannelFactory.create_batch(2, group=group)
    schedule = make_schedule(now=timezone.now(), task_type="QUICK_SYNC_GROUP", params={"group_id": group.pk})
    manager.post(f"/schedules/{schedule.pk}/run_now", **HTMX)
    content = manager.get(f"/schedules/{schedule.pk}").content.decode()
    run = schedule.runs.get()
    assert f'href="/schedules/runs/{run.pk}"' in content
    for job in run.jobs.all():
        # Its number, not a link to a page the manager may not open (jobs.view_job).
        assert f"#{job.pk} <span" in content and f'href="/jobs/{job.pk}"' not in content
    grant(manager.user, "view_job")
    content = manager.get(f"/schedules/{schedule.pk}").content.decode()
    for job in run.jobs.all():
        assert f'href="/jobs/{job.pk}"' in content
    assert "Run now" in content and "2 jobs created." in content
    assert "<strong>Run now</strong> by" in content and " on the pages," in content and "via Pages" not in content
    assert "<strong>Created</strong>" in content


def test_it_shows_the_run_page_with_a_link_back(manager, make_schedule):
    schedule = make_schedule(now=timezone.now())
    manager.post(f"/schedules/{schedule.pk}/run_now", **HTMX)
    run = schedule.runs.get()
    content = manager.get(f"/schedules/runs/{run.pk}").content.decode()
    assert f'href="/schedules/{schedule.pk}"' in content and "Times are shown in UTC." in content
    assert manager.get("/schedules/runs/999").status_code == 404


def test_it_lists_upcoming_runs_by_day_in_the_viewers_zone_and_marks_dst_days(manager, make_schedule):
    now = dt.datetime(2026, 3, 26, 12, tzinfo=dt.timezone.utc)
    with time_machine.travel(now, tick=False):
        make_schedule(now=now, name="Berlin night", schedule_time="02:30", timezone="Europe/Berlin")
        make_schedule(now=now, name="Off", enabled=False)
        make_schedule(now=now, name="Often", schedule_kind="interval", interval_minutes=30)
        response = manager.get("/schedules/upcoming?tz=Europe/Berlin")
    content = response.content.decode()
    days = response.context["days"]
    assert len(days) == 8  # today and the next seven days, in Berlin
    sunday = next(day for day in days if day["date"] == dt.date(2026, 3, 29))
    assert sunday["clock_change"] == "forward"
    assert "DST: clocks go forward 60 min in Europe/Berlin" in content
    assert "Clocks go forward: runs at 03:30 instead of 02:30." in content
    assert "Off" not in [item.schedule.name for day in days for item in day["runs"]]
    assert "48 runs this day" in content  # a frequent schedule's day is one line


def test_it_shows_upcoming_runs_in_a_zone_typed_in_any_case(manager):
    response = manager.get("/schedules/upcoming?tz=america/new_york")
    assert response.context["zone"] == "America/New_York" and 'id="id_tz_error"' not in response.content.decode()


def test_it_falls_back_to_utc_for_an_unknown_zone(manager):
    response = manager.get("/schedules/upcoming?tz=Nowhere/Land")
    assert response.context["zone"] == "UTC"
    assert 'id="id_tz_error"' in response.content.decode()


# --- one mistake, one true message; times and zones as people type them ---------------------------

def field_errors(content: str, field: str) -> list[str]:
    """The messages under one input, as the page shows them."""
    match = re.search(rf'<ul class="errorlist" id="id_{field}_error">(.*?)</ul>', content, re.S)
    return [html.unescape(item) for item in re.findall(r"<li>(.*?)</li>", match[1])] if match else []


@pytest.mark.parametrize(("typed", "message"), [
    ("3", "The interval must be at least 5 minutes (got 3)."),
    ("ten", "Enter a whole number."),
])
def test_it_gives_an_interval_below_five_one_true_message(manager, typed, message):
    fields = daily(schedule_kind="interval", interval_minutes=typed)
    content = manager.post("/schedules/new", fields, **HTMX).content.decode()
    assert field_errors(content, "interval_minutes") == [message]
    preview = html.unescape(manager.post("/schedules/preview", fields).content.decode())
    assert preview.count(message) == 1 and "is required" not in preview
    assert not ScheduledTask.objects.exists()


@pytest.mark.parametrize(("typed", "stored"), [("5:30pm", "17:30"), ("5:30 PM", "17:30"), ("12:15am", "00:15"),
                                               ("7 p.m.", "19:00"), ("7:30", "07:30"), (" 17:30 ", "17:30")])
def test_it_understands_times_as_people_type_them(manager, typed, stored):
    content = manager.post("/schedules/preview", daily(schedule_time=typed)).content.decode()
    assert f"Every day at {stored} (UTC)" in content
    manager.post("/schedules/new", daily(schedule_time=typed), **HTMX)
    assert ScheduledTask.objects.get().schedule_time == stored


@pytest.mark.parametrize("typed", ["5:30p", "17:30pm", "noon", "5.30", "5:30pm and a bit"])
def test_it_refuses_a_time_it_does_not_understand_whole(manager, typed):
    content = manager.post("/schedules/new", daily(schedule_time=typed), **HTMX).content.decode()
    assert field_errors(content, "schedule_time") == [
        f"Enter the time as HH:MM in 24-hour format, 00:00 to 23:59 (got {typed!r})."]
    assert not ScheduledTask.objects.exists()


def test_the_time_input_takes_the_whole_text(manager):
    """A maxlength of 5 let the browser cut "5:30pm" to "5:30p" while it was typed."""
    fragment = manager.get("/schedules/new", **HTMX).content.decode()
    time_input = re.search(r'<input[^>]*name="schedule_time"[^>]*>', fragment)[0]
    assert "maxlength" not in time_input and "pattern" not in time_input and "inputmode" not in time_input


def test_it_matches_the_time_zone_whatever_its_case_and_stores_it_as_iana_spells_it(manager):
    content = manager.post("/schedules/preview", daily(timezone="europe/berlin")).content.decode()
    assert "Every day at 02:00 (Europe/Berlin)" in content
    manager.post("/schedules/new", daily(timezone=" europe/BERLIN "), **HTMX)
    assert ScheduledTask.objects.get().timezone == "Europe/Berlin"


def test_the_quick_sync_editor_names_its_group_in_its_title(manager):
    group = ChannelGroupFactory(name="News")
    query = f"task_type=QUICK_SYNC_GROUP&quick_sync_group-group_id={group.pk}&fixed=quick_sync_group-group_id"
    fragment = manager.get(f"/schedules/new?{query}", **HTMX).content.decode()
    assert 'id="dialog-title">New schedule: Quick sync of News</h2>' in fragment
    # A mistake re-renders the form: the title still names the group.
    fields = daily(task_type="QUICK_SYNC_GROUP", schedule_time="25:00", _task_types="QUICK_SYNC_GROUP",
                   _fixed="quick_sync_group-group_id", **{"quick_sync_group-group_id": group.pk})
    content = manager.post("/schedules/new", fields, **HTMX).content.decode()
    assert 'id="dialog-title">New schedule: Quick sync of News</h2>' in content
    manager.post("/schedules/new", {**fields, "schedule_time": "05:30", "name": "Morning"}, **HTMX)
    schedule = ScheduledTask.objects.get()
    fragment = manager.get(f"/schedules/{schedule.pk}/edit?{query}", **HTMX).content.decode()
    assert 'id="dialog-title">Edit “Morning”: Quick sync of News</h2>' in fragment
    # Opened from /schedules, nothing is fixed: the plain title.
    assert 'id="dialog-title">Edit “Morning”</h2>' in manager.get(f"/schedules/{schedule.pk}/edit", **HTMX).content.decode()


# --- the preview's DST rows ------------------------------------------------------------------------

def preview_rows(manager, **fields) -> list[str]:
    content = manager.post("/schedules/preview", daily(**fields)).content.decode()
    rows = re.findall(r"<li[^>]*>(.*?)</li>", content.partition('<ol class="preview-runs">')[2], re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", row).split()) for row in rows]


def test_the_fall_back_row_keeps_its_zone(manager):
    with time_machine.travel(dt.datetime(2026, 10, 23, 12, tzinfo=dt.timezone.utc), tick=False):
        rows = preview_rows(manager, schedule_time="02:30", timezone="Europe/Berlin")
    assert rows[1].startswith("Sun 25 Oct 2026, 02:30 CEST = 00:30 UTC DST Clocks go back this day")
    # A real-time cron runs in both passes of the repeated hour: each says which.
    with time_machine.travel(dt.datetime(2026, 10, 25, 0, 10, tzinfo=dt.timezone.utc), tick=False):
        real_time = preview_rows(manager, schedule_kind="cron", cron_expr="30 * * * *", timezone="Europe/Berlin")
    assert [row.split(" = ")[0] for row in real_time[:3]] == [
        "Sun 25 Oct 2026, 02:30 CEST", "Sun 25 Oct 2026, 02:30 CET", "Sun 25 Oct 2026, 03:30 CET"]


@pytest.mark.parametrize("zone", ["UTC", "Europe/London"])  # London is on UTC in winter
def test_it_does_not_repeat_a_time_in_utc_that_reads_the_same(manager, zone):
    with time_machine.travel(dt.datetime(2026, 12, 1, 12, tzinfo=dt.timezone.utc), tick=False):
        rows = preview_rows(manager, timezone=zone)
    assert len(rows) == 5 and all("=" not in row for row in rows), rows
    assert rows[0].startswith("Wed 2 Dec 2026, 02:00 ")


def test_it_gives_utc_beside_a_local_time_that_differs(manager):
    with time_machine.travel(dt.datetime(2026, 12, 1, 12, tzinfo=dt.timezone.utc), tick=False):
        rows = preview_rows(manager, timezone="Europe/Berlin")
    assert rows[0] == "Wed 2 Dec 2026, 02:00 CET = 01:00 UTC"


def test_the_dst_rows_are_marked_with_what_every_font_has():
    """An emoji marker (⏰) shows as a box where the system font lacks it: the DST rows' rules use none."""
    css = (Path(__file__).resolve().parents[2] / "static" / "css" / "app.css").read_text()
    rules = [rule for rule in re.findall(r"[^{}]+\{[^{}]*\}", css) if "dst" in rule.split("{")[0]]
    assert rules and all(rule.isascii() for rule in rules), [rule for rule in rules if not rule.isascii()]


# --- after a simulated future pass the pages agree ------------------------------------------------------

def test_upcoming_agrees_with_next_run_after_a_simulated_future_pass_and_says_so(manager, make_schedule):
    now = dt.datetime(2026, 5, 1, 12, tzinfo=dt.timezone.utc)
    with time_machine.travel(now, tick=False):
        schedule = make_schedule(now=now)  # daily at 02:00 UTC
        assert "Simulated runs" not in manager.get("/schedules").content.decode()
        call_command("schedule_tick", "--now", "2026-05-03T02:00:30Z", "--allow-future", stdout=io.StringIO())
        schedule.refresh_from_db()
        upcoming = manager.get("/schedules/upcoming")
        listing = manager.get("/schedules").content.decode()
    assert schedule.next_run_at == dt.datetime(2026, 5, 4, 2, tzinfo=dt.timezone.utc)  # what "Next run" shows
    runs = [item.run.at for day in upcoming.context["days"] for item in day["runs"]]
    assert runs[0] == schedule.next_run_at  # not 2 and 3 May, whose windows the simulated pass has done
    for content in (upcoming.content.decode(), listing):
        text = " ".join(re.sub(r"<[^>]+>", " ", content).split())
        assert ("Simulated runs: a pass of schedule_tick --now ahead of the clock recorded 1 run of 1 schedule, "
                "up to Sun 3 May 2026, 02:00 UTC") in text
        assert "Those windows are done and will not run again: next runs come after them." in text


def test_upcoming_keeps_the_zone_on_a_time_the_clocks_repeat(manager, make_schedule):
    now = dt.datetime(2026, 10, 23, 12, tzinfo=dt.timezone.utc)
    with time_machine.travel(now, tick=False):
        make_schedule(now=now, name="Berlin night", schedule_time="02:30", timezone="Europe/Berlin")
        content = manager.get("/schedules/upcoming?tz=Europe/Berlin").content.decode()
    sunday = content.partition("Sunday 25 October 2026")[2].partition("</li>")[0]
    assert 'class="run-time">Sun 25 Oct 2026, 02:30 CEST</time>' in sunday
    assert 'class="run-time">Mon 26 Oct 2026, 02:30 CET</time>' in content.partition("Monday 26 October 2026")[2]
