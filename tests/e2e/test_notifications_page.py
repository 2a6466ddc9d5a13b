"""/notifications in a real browser: add a channel in the dialog (an inline error first), send it a test and
see the result arrive in its row, the alert log; axe-core scans and screenshots at 1280 and 375 px."""

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from notifications import services
from tests.e2e.conftest import WIDTHS, axe_violations, log_in, screenshot
from tests.factories import UserFactory, grant

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def user(db):
    return grant(UserFactory(username="alice"), "view_notificationchannel", "add_notificationchannel",
                 "change_notificationchannel", "delete_notificationchannel", "view_scheduledtask")


def send_due() -> None:
    """What the scheduler's step does every second: send what is due (here, in the test's thread)."""
    services.deliveries_send_due(now=timezone.now() + dt.timedelta(seconds=1))


def test_it_adds_a_channel_sends_a_test_and_shows_the_result(page, user, webhook):
    log_in(page, user)
    page.goto("/notifications")
    assert axe_violations(page) == []
    screenshot(page, "notifications-empty-desktop")

    page.get_by_role("link", name="Add channel").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading", name="Add a notification channel")).to_be_visible()
    dialog.get_by_label("Name").fill("Ops webhook")
    dialog.get_by_label("Apprise URL or email address").fill("tgram://bad")
    dialog.get_by_role("button", name="Add channel").click()
    expect(dialog.get_by_text("Unparseable Telegram URL tgram://…")).to_be_visible()
    expect(dialog.get_by_label("Apprise URL or email address")).to_be_focused()
    assert axe_violations(page) == []

    dialog.get_by_label("Apprise URL or email address").fill(webhook.url)
    dialog.get_by_role("button", name="Add channel").click()
    expect(page.get_by_role("dialog")).to_be_hidden()
    expect(page.get_by_text("Channel “Ops webhook” added.")).to_be_visible()
    row = page.get_by_role("row", name="Ops webhook")
    expect(row.get_by_text("json://…")).to_be_visible()
    assert webhook.url.split("//")[1] not in page.content()

    row.get_by_role("button", name="Send test to Ops webhook").click()
    expect(row.get_by_role("status")).to_contain_text("Test queued")
    assert webhook.messages == []  # the page only queued it
    send_due()
    expect(row.get_by_role("status")).to_contain_text("Sent", timeout=10_000)
    assert webhook.titles == ["Channel archive: test notification"]
    expect(page.locator("#alert-log").get_by_text("Test by alice")).to_be_visible(timeout=10_000)

    webhook.answer(500)
    row.get_by_role("button", name="Send test to Ops webhook").click()
    expect(row.get_by_role("status")).to_contain_text("Test queued")
    send_due()
    expect(row.get_by_role("status")).to_contain_text("The test was not delivered", timeout=10_000)
    expect(row.get_by_role("status")).to_contain_text("error=500")
    assert axe_violations(page) == []
    for name, size in WIDTHS.items():
        page.set_viewport_size(size)
        screenshot(page, f"notifications-{name}")
