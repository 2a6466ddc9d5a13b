"""Pause from the /schedules list with the keyboard alone, see "Paused until …", and resume."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from scheduling import recurrence, services
from scheduling.models import ScheduledTask
from tests.e2e.conftest import axe_violations, screenshot
from tests.e2e.test_schedules_page import row, tab_to

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def backup(db):
    return services.schedule_save(schedule=ScheduledTask(
        name="Nightly backup", task_type="DATABASE_BACKUP", schedule_kind="daily", schedule_time="02:00",
        timezone="Europe/Berlin", params={}), now=timezone.now())


def test_it_pauses_from_the_list_by_keyboard_and_shows_paused_until(logged_in_page, backup):
    page = logged_in_page
    # No clock is faked: three days from now at 08:00, on the schedule's wall clock.
    wall = dt.datetime.combine(timezone.now().astimezone(BERLIN).date() + dt.timedelta(days=3), dt.time(8, 0))
    until = recurrence.wall_to_instant(wall, BERLIN)
    page.goto("/schedules")

    tab_to(page, f"#pause-{backup.pk}")
    page.keyboard.press("Enter")
    dialog = page.locator("dialog#page-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("heading", name="Pause “Nightly backup”")).to_be_visible()
    expect(page.locator(":focus")).to_have_attribute("name", "until")  # focus moved into the dialog
    expect(dialog).to_contain_text("in the schedule's time zone, Europe/Berlin")
    assert axe_violations(page) == []

    # Submitted empty: the message under the input, focus back on it, nothing paused.
    page.keyboard.press("Enter")
    until_input = dialog.locator("input[name=until]")
    expect(until_input).to_have_attribute("aria-invalid", "true")
    expect(dialog).to_contain_text("Give the date and time the pause ends.")
    expect(until_input).to_be_focused()
    screenshot(page, "schedules-pause-dialog")

    until_input.fill(wall.strftime("%Y-%m-%dT%H:%M"))  # a datetime-local input's own keys depend on the locale
    tab_to(page, "input[name=reason]")  # Tab first steps through the date and time's own parts
    page.keyboard.type("server maintenance")
    page.keyboard.press("Enter")

    expect(dialog).to_be_hidden()
    label = recurrence.local_label(until, BERLIN)  # e.g. "Mon 4 May 2026, 08:00 CEST"
    expect(page.locator("#toasts")).to_contain_text(f"“Nightly backup” paused until {label} — server maintenance.")
    next_run = row(page, "Nightly backup").locator("td[data-label='Next run']")
    expect(next_run).to_contain_text("Paused until")
    expect(next_run).to_contain_text(label)
    expect(next_run).to_contain_text("— server maintenance")
    resume = row(page, "Nightly backup").get_by_role("button", name="Resume now: Nightly backup")
    expect(resume).to_be_focused()  # the control that replaced Pause…, so Enter resumes
    saved = ScheduledTask.objects.get(pk=backup.pk)
    assert (saved.paused_until, saved.pause_reason) == (until, "server maintenance")
    screenshot(page, "schedules-paused")

    page.keyboard.press("Enter")
    expect(page.locator("#toasts")).to_contain_text("“Nightly backup” resumed.")
    expect(row(page, "Nightly backup").get_by_role("link", name="Pause Nightly backup")).to_be_focused()
    expect(row(page, "Nightly backup")).not_to_contain_text("Paused until")
    assert ScheduledTask.objects.get(pk=backup.pk).paused_until is None
