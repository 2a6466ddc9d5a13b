"""The newcomer's slips in a real browser: the editor's Save in view at 1280x720 and 375 px, a time typed
whole ("5:30pm"), the quick-sync editor naming its group, the DST rows' marker, and the API tokens page at
375 px (its own labels, nothing scrolling sideways)."""

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from core.services import api_token_create, api_token_revoke
from tests.e2e.conftest import log_in, screenshot
from tests.factories import ChannelFactory, ChannelGroupFactory, UserFactory, grant

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SIZES = {"desktop": {"width": 1280, "height": 720}, "phone": {"width": 375, "height": 812}}


@pytest.fixture
def user(db):
    """May do everything with schedules and channel groups; delete backups (a new backup schedule's clean-up)."""
    return grant(UserFactory(username="alice"),
                 "view_scheduledtask", "add_scheduledtask", "change_scheduledtask", "delete_scheduledtask",
                 "view_channelgroup", "change_channelgroup", "delete_backup")


def sideways(page) -> int:
    """How far the page scrolls sideways (0: not at all)."""
    return page.evaluate("document.scrollingElement.scrollWidth - document.documentElement.clientWidth")


def in_view_and_on_top(page, locator) -> bool:
    """Whether the element is inside the viewport and nothing covers its middle (a person can see and click it)."""
    return locator.evaluate("""element => {
        const box = element.getBoundingClientRect();
        const x = box.left + box.width / 2, y = box.top + box.height / 2;
        if (box.top < 0 || box.bottom > window.innerHeight || box.left < 0 || box.right > window.innerWidth) return false;
        const hit = document.elementFromPoint(x, y);
        return hit === element || element.contains(hit);
    }""")


@pytest.mark.parametrize("size", SIZES)
def test_the_editors_save_stays_in_view_while_its_form_scrolls(page, user, size):
    page.set_viewport_size(SIZES[size])
    log_in(page, user)
    page.get_by_role("link", name="New schedule").click()
    dialog = page.locator("dialog#page-dialog")
    expect(dialog).to_be_visible()
    save = dialog.get_by_role("button", name="Create schedule")
    expect(save).to_be_visible()
    # The form is longer than the window: the dialog scrolls, and Save stays in view at the top, the middle
    # and the end of it, without scrolling the page itself.
    assert dialog.evaluate("d => d.scrollHeight > d.clientHeight"), "the form fits: nothing to check"
    for where in ("0", "d.scrollHeight / 2", "d.scrollHeight"):
        dialog.evaluate(f"d => {{ d.scrollTop = {where}; }}")
        assert in_view_and_on_top(page, save), (size, where)
        assert in_view_and_on_top(page, dialog.get_by_role("button", name="Cancel")), (size, where)
    assert dialog.evaluate("d => d.scrollWidth <= d.clientWidth"), "the dialog scrolls sideways"
    screenshot(page, f"editor-save-{size}")


def test_a_time_is_typed_whole_and_understood(page, user):
    page.set_viewport_size(SIZES["desktop"])
    log_in(page, user)
    page.get_by_role("link", name="New schedule").click()
    dialog = page.locator("dialog#page-dialog")
    time_input = dialog.get_by_label("Time (HH:MM, 24-hour)")
    time_input.fill("")
    time_input.press_sequentially("5:30pm")
    expect(time_input).to_have_value("5:30pm")  # not cut to "5:30p"
    expect(dialog.locator("#schedule-preview")).to_contain_text("Every day at 17:30 (UTC)")


def test_the_quick_sync_editor_names_its_group(page, user):
    group = ChannelGroupFactory(name="News")
    ChannelFactory(group=group)
    log_in(page, user)
    page.goto("/channels")
    page.get_by_role("link", name="Schedule Quick Sync for News").click()
    dialog = page.locator("dialog#page-dialog")
    expect(dialog.get_by_role("heading", level=2)).to_have_text("New schedule: Quick sync of News")
    expect(dialog).to_have_accessible_name("New schedule: Quick sync of News")


def test_the_dst_rows_keep_a_number_every_font_has(page, user):
    log_in(page, user)
    page.get_by_role("link", name="New schedule").click()
    dialog = page.locator("dialog#page-dialog")
    dialog.get_by_label("Time (HH:MM, 24-hour)").fill("02:30")
    dialog.get_by_label("Time zone").fill("europe/berlin")
    # Within the next five runs only if a DST change is near: ask for a cron that runs on the change days.
    dialog.get_by_label("Cron expression").check()
    dialog.get_by_label("Cron fields").fill("30 2 * 3,10 sun")
    rows = dialog.locator("#schedule-preview li.dst")
    expect(rows.first).to_be_visible()
    assert rows.first.evaluate("li => getComputedStyle(li).listStyleType") == "decimal"
    expect(dialog.locator("#schedule-preview")).to_contain_text("(Europe/Berlin)")


def test_the_tokens_page_fits_a_phone_with_its_own_labels(page, user):
    now = timezone.now()
    api_token_create(user=user, name="Nightly export script that has a rather long name", now=now)
    old, _ = api_token_create(user=user, name="Old laptop", now=now - dt.timedelta(days=3))
    api_token_revoke(token=old, now=now)
    page.set_viewport_size(SIZES["phone"])
    log_in(page, user)
    page.goto("/account/tokens")
    page.get_by_role("textbox", name="Name").fill("Backup checker")
    page.get_by_role("button", name="Create token").click()
    expect(page.get_by_role("heading", name="Token “Backup checker” created")).to_be_visible()

    assert page.evaluate("document.scrollingElement.scrollWidth") <= 375, sideways(page)
    rows = page.locator("table.tokens-table tbody tr")
    expect(rows).to_have_count(3)
    labels = rows.first.locator("th, td").evaluate_all(
        "cells => cells.map(cell => getComputedStyle(cell, '::before').content)")
    assert labels[:5] == ['"Name: "', '"Token: "', '"Created: "', '"Last used: "', '"Status: "'], labels
    # Revoking from the phone: the dialog fits too.
    page.get_by_role("button", name="Revoke…").first.click()
    expect(page.get_by_role("dialog")).to_be_visible()
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 375
    screenshot(page, "api-tokens-phone")
