import pytest

from tests.factories import grant

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def user(user):
    """The suite's user, who may also read every list: the menu offers only the pages a user may open."""
    return grant(user, "view_backup", "view_channelgroup", "view_notificationchannel")


def test_it_logs_in_and_lands_on_schedules(logged_in_page):
    assert logged_in_page.get_by_role("heading", level=1).inner_text() == "Schedules"
    # The UTC note sits only where times are shown: here each schedule's own zone, and on /jobs UTC.
    assert logged_in_page.get_by_text("Each schedule's times are in its own time zone").is_visible()
    logged_in_page.goto("/jobs")
    assert logged_in_page.get_by_text("Times are shown in UTC").is_visible()


def test_it_reaches_every_page_by_keyboard_alone(logged_in_page):
    page = logged_in_page
    page.keyboard.press("Tab")
    skip = page.locator(":focus")
    assert skip.inner_text() == "Skip to content"
    assert skip.is_visible()  # it appears when focused

    order = []
    while not order or order[-1] != "Log out":
        page.keyboard.press("Tab")
        order.append(page.evaluate("document.activeElement.textContent.trim()"))
        assert len(order) < 11, order
    assert order == ["Channel archive", "Schedules", "Backups", "Channels", "Jobs", "Notifications", "API tokens",
                     "Log out"]

    page.goto("/schedules")
    for _ in range(5):  # skip link, brand, Schedules, Backups, Channels
        page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Channels"
    page.keyboard.press("Enter")
    page.wait_for_url("**/channels")
    assert page.locator('nav a[aria-current="page"]').inner_text() == "Channels"


def test_it_shows_a_visible_focus_ring(logged_in_page):
    page = logged_in_page
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    outline = page.locator(":focus").evaluate("el => getComputedStyle(el).outlineStyle")
    assert outline == "solid"
