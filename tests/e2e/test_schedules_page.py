"""/schedules in a real browser: the original plan's "Schedules page" walkthrough, the editor by keyboard
alone, the live preview with a DST day, inline errors, Run now's toasts."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from common.formatting import format_instant
from scheduling import services
from scheduling.models import ScheduledTask
from tests.factories import ChannelFactory, ChannelGroupFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def two_schedules(db):
    now = timezone.now()
    group = ChannelGroupFactory(name="News")
    ChannelFactory.create_batch(2, group=group)
    backup = services.schedule_save(schedule=ScheduledTask(
        name="Nightly backup", task_type="DATABASE_BACKUP", schedule_kind="daily", schedule_time="02:00",
        params={}), now=now)
    sync = services.schedule_save(schedule=ScheduledTask(
        name="News sync", task_type="QUICK_SYNC_GROUP", schedule_kind="daily", schedule_time="05:30",
        params={"group_id": group.pk}), now=now)
    return backup, sync


def row(page, name):
    return page.locator("#schedule-list tbody tr", has=page.get_by_role("link", name=name, exact=True))


def open_editor(page, button):
    button.click()
    dialog = page.locator("dialog#page-dialog")
    expect(dialog).to_be_visible()
    return dialog


def test_it_walks_the_schedules_page_steps_of_the_manual_test_plan(logged_in_page, two_schedules):
    page = logged_in_page
    backup, _ = two_schedules

    # 1. Open /schedules; verify list with filters and statuses.
    page.goto("/schedules")
    expect(page.locator("#schedule-list tbody tr")).to_have_count(2)
    expect(row(page, "News sync")).to_contain_text("Quick sync of a channel group: News")
    expect(row(page, "Nightly backup")).to_contain_text("Every day at 02:00 (UTC)")
    expect(row(page, "Nightly backup").get_by_role("switch")).to_have_attribute("aria-checked", "true")
    page.get_by_label("Task").select_option(label="Quick sync of a channel group")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#schedule-list tbody tr")).to_have_count(1)
    expect(row(page, "News sync")).to_be_visible()
    page.get_by_role("link", name="Clear filters").click()
    expect(page.locator("#schedule-list tbody tr")).to_have_count(2)

    # 2. Toggle enable/disable; confirm status updates.
    switch = row(page, "Nightly backup").get_by_role("switch")
    switch.click()
    expect(row(page, "Nightly backup").get_by_role("switch")).to_have_attribute("aria-checked", "false")
    expect(row(page, "Nightly backup")).to_contain_text("None (disabled)")
    expect(page.locator("#toasts")).to_contain_text("Schedule “Nightly backup” disabled.")
    assert not ScheduledTask.objects.get(pk=backup.pk).enabled
    page.get_by_label("State").select_option("disabled")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#schedule-list tbody tr")).to_have_count(1)
    row(page, "Nightly backup").get_by_role("switch").click()
    expect(row(page, "Nightly backup").get_by_role("switch")).to_have_attribute("aria-checked", "true")
    assert ScheduledTask.objects.get(pk=backup.pk).enabled
    page.goto("/schedules")

    # 3. Edit schedule (switch to Weekly Mon,Wed,Fri at 04:00); save. Verify next run.
    dialog = open_editor(page, row(page, "Nightly backup").get_by_role("link", name="Edit Nightly backup"))
    expect(dialog.get_by_role("heading", name="Edit “Nightly backup”")).to_be_visible()
    dialog.get_by_label("Weekly on chosen days").check()
    dialog.get_by_label("Time (HH:MM, 24-hour)").fill("04:00")
    for day in ("Mon", "Wed", "Fri"):
        dialog.get_by_label(day, exact=True).check()
    expect(dialog.locator("#schedule-preview")).to_contain_text("at 04:00")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden()
    saved = ScheduledTask.objects.get(pk=backup.pk)
    assert (saved.schedule_kind, saved.schedule_days, saved.schedule_time) == ("weekly", ["mon", "wed", "fri"], "04:00")
    expected = saved.next_after(timezone.now())
    assert saved.next_run_at == expected and expected.weekday() in (0, 2, 4) and expected.hour == 4
    expect(row(page, "Nightly backup")).to_contain_text(saved.describe())
    expect(row(page, "Nightly backup").locator("td[data-label='Next run'] time")).to_have_text(
        format_instant(expected))
    expect(page.locator("#toasts")).to_contain_text("Schedule “Nightly backup” saved.")
    expect(page.locator(":focus")).to_have_attribute("id", f"edit-{backup.pk}")  # focus back on its Edit button

    # 4. Delete schedule; verify removal.
    dialog = open_editor(page, row(page, "Nightly backup").get_by_role("link", name="Delete Nightly backup"))
    expect(dialog.get_by_role("heading")).to_have_text("Delete “Nightly backup”?")
    dialog.get_by_role("button", name="Delete “Nightly backup”").click()
    expect(dialog).to_be_hidden()
    expect(row(page, "Nightly backup")).to_have_count(0)
    expect(page.locator("#schedule-list tbody tr")).to_have_count(1)
    expect(page.locator("#toasts")).to_contain_text("Schedule “Nightly backup” deleted.")
    assert not ScheduledTask.objects.filter(pk=backup.pk).exists()


def test_it_runs_now_and_offers_run_anyway_while_a_run_is_active(logged_in_page, two_schedules):
    page = logged_in_page
    backup, _ = two_schedules
    page.goto("/schedules")
    run_now = row(page, "Nightly backup").get_by_role("button", name="Run now: Nightly backup")
    run_now.click()
    expect(page.locator("#toasts")).to_contain_text("“Nightly backup” started: 1 job created.")
    expect(row(page, "Nightly backup")).to_contain_text("Dispatched")  # the list refreshed itself
    # No worker runs in this test, so the job stays queued: a second click is refused, with a way out.
    run_now = row(page, "Nightly backup").get_by_role("button", name="Run now: Nightly backup")
    run_now.click()
    alert = page.locator("#toasts [role=alert]")
    expect(alert).to_contain_text("is still busy with an earlier run")
    alert.get_by_role("button", name="Run anyway").click()
    expect(alert).to_be_hidden()
    # The first success toast may still be showing: count the toasts, then the runs.
    expect(page.locator("#toasts .toast-success").filter(has_text="started: 1 job created")).to_have_count(2)
    assert backup.runs.count() == 2
    expect(row(page, "Nightly backup")).to_contain_text("Dispatched")


def tab_to(page, selector: str, *, limit: int = 80):
    """Press Tab until the focused element matches `selector` (keyboard only, as a person would)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement && document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"Tab never reached {selector}")


def test_it_creates_a_weekly_schedule_by_keyboard_alone(logged_in_page):
    page = logged_in_page
    page.goto("/schedules")
    tab_to(page, "#new-schedule")
    page.keyboard.press("Enter")
    dialog = page.locator("dialog#page-dialog")
    expect(dialog).to_be_visible()
    expect(page.locator(":focus")).to_have_attribute("name", "name")  # focus moved into the dialog
    page.keyboard.type("Weekly backup")
    tab_to(page, "input[name=schedule_kind]")
    # Arrow keys move through a radio group: daily -> weekly.
    page.keyboard.press("ArrowRight")
    expect(dialog.get_by_label("Weekly on chosen days")).to_be_checked()
    tab_to(page, "input[name=schedule_time]")
    page.keyboard.type("04:00")
    for day in ("mon", "wed", "fri"):
        tab_to(page, f"input[name=schedule_days][value={day}]")
        page.keyboard.press("Space")
    tab_to(page, "input[name=timezone]")
    page.keyboard.press("Control+a")
    page.keyboard.type("Europe/Berlin")
    expect(dialog.locator("#schedule-preview")).to_contain_text("Every Mon, Wed, Fri at 04:00 (Europe/Berlin)")
    tab_to(page, "#schedule-form button[type=submit]")
    page.keyboard.press("Enter")
    expect(dialog).to_be_hidden()
    saved = ScheduledTask.objects.get(name="Weekly backup")
    assert (saved.schedule_kind, saved.schedule_days, saved.schedule_time, saved.timezone) == (
        "weekly", ["mon", "wed", "fri"], "04:00", "Europe/Berlin")
    expect(row(page, "Weekly backup")).to_contain_text("Every Mon, Wed, Fri at 04:00 (Europe/Berlin)")
    expect(page.locator(":focus")).to_have_attribute("id", "new-schedule")  # focus back where it started
    page.keyboard.press("Escape")  # nothing open: Esc does nothing harmful


def next_spring_forward(zone: ZoneInfo, after: dt.datetime) -> dt.date:
    """The next day after `after` on which the zone's clocks go forward."""
    day = after.astimezone(zone).date() + dt.timedelta(days=1)
    for _ in range(400):
        start = dt.datetime.combine(day, dt.time(0), tzinfo=zone)
        end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=zone)
        if end.utcoffset() > start.utcoffset():
            return day
        day += dt.timedelta(days=1)
    raise AssertionError("no spring-forward day within a year")


def test_it_updates_the_preview_as_the_user_types_and_flags_the_dst_day(logged_in_page):
    page = logged_in_page
    berlin = ZoneInfo("Europe/Berlin")
    # No clock is faked: the schedule is chosen so that its first run falls on the next real
    # spring-forward day (02:30 does not exist there, so it runs at 03:30).
    day = next_spring_forward(berlin, timezone.now())
    page.goto("/schedules")
    dialog = open_editor(page, page.get_by_role("link", name="New schedule"))
    preview = dialog.locator("#schedule-preview")
    dialog.get_by_label("Name").fill("Spring")
    dialog.get_by_role("radio", name="Cron expression").check()
    expect(preview).to_contain_text("A cron expression is required")
    dialog.locator("input[name=cron_expr]").press_sequentially(f"30 2 {day.day} {day.month} *", delay=30)
    dialog.locator("input[name=timezone]").fill("Europe/Berlin")
    expect(preview).to_contain_text("Europe/Berlin")
    first = preview.locator("li").first
    expect(first).to_contain_text(day.strftime("%-d %b %Y"))
    expect(first).to_contain_text("03:30")
    expect(first).to_contain_text("Clocks go forward: runs at 03:30 instead of 02:30.")
    expect(first.locator(".badge")).to_have_text("DST")  # said in words, not by colour alone

    # Typing on changes the preview again; an invalid input shows its message instead of runs.
    dialog.locator("input[name=cron_expr]").fill("61 2 * * *")
    expect(preview).to_contain_text("Not a valid schedule yet")
    expect(preview.locator("ol")).to_have_count(0)


def test_it_shows_an_inline_error_for_25_00_and_focuses_the_field(logged_in_page):
    page = logged_in_page
    page.goto("/schedules")
    dialog = open_editor(page, page.get_by_role("link", name="New schedule"))
    dialog.get_by_label("Name").fill("Too late")
    dialog.get_by_label("Time (HH:MM, 24-hour)").fill("25:00")
    dialog.get_by_role("button", name="Create schedule").click()
    time_input = dialog.locator("input[name=schedule_time]")
    expect(time_input).to_have_attribute("aria-invalid", "true")
    error = dialog.locator("#id_schedule_time_error")
    expect(error).to_contain_text("00:00 to 23:59 (got '25:00')")
    expect(time_input).to_be_focused()
    assert "id_schedule_time_error" in time_input.get_attribute("aria-describedby")
    expect(dialog).to_be_visible()
    assert not ScheduledTask.objects.exists()
