"""axe-core finds no serious or critical violation on the schedules pages, light and dark, desktop and
phone width; a screenshot of each goes to test-artifacts/ for a person to look at."""

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from scheduling import services
from scheduling.models import ScheduledTask
from tests.e2e.conftest import WIDTHS, axe_violations, log_in, screenshot
from tests.factories import ChannelFactory, ChannelGroupFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def schedules(db, user):
    now = timezone.now()
    group = ChannelGroupFactory(name="News")
    ChannelFactory.create_batch(2, group=group)
    backup = services.schedule_save(schedule=ScheduledTask(
        name="Nightly backup", task_type="DATABASE_BACKUP", schedule_kind="daily", schedule_time="02:30",
        timezone="Europe/Berlin", params={"cleanup_old": True, "retention_days": 14}), now=now)
    services.schedule_save(schedule=ScheduledTask(
        name="News sync", task_type="QUICK_SYNC_GROUP", schedule_kind="interval", interval_minutes=60,
        params={"group_id": group.pk}), now=now)
    services.schedule_save(schedule=ScheduledTask(
        name="Weekday report", task_type="DATABASE_BACKUP", schedule_kind="cron", cron_expr="0 9 * * mon-fri",
        timezone="America/New_York", enabled=False, params={}), now=now)
    services.schedule_run_now(schedule=backup, now=now)
    backup.name = "Nightly backup (Berlin)"
    services.schedule_save(schedule=backup, now=now)
    return backup


def views(backup):
    return {
        "schedules": ("/schedules", None),
        "editor": ("/schedules", lambda page: (
            page.get_by_role("link", name=f"Edit {backup.name}").click(),
            expect(page.locator("dialog#page-dialog")).to_be_visible(),
            expect(page.locator("#schedule-preview li").first).to_be_visible(),
        )),
        "history": (f"/schedules/{backup.pk}", None),
        "upcoming": ("/schedules/upcoming?tz=Europe/Berlin", None),
    }


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", list(WIDTHS))
def test_it_has_no_serious_accessibility_violations(browser, live_server, user, schedules, width, scheme):
    context = browser.new_context(base_url=live_server.url, viewport=WIDTHS[width], color_scheme=scheme)
    page = context.new_page()
    log_in(page, user)
    found = {}
    for name, (path, then) in views(schedules).items():
        page.goto(path)
        if then:
            then(page)
        screenshot(page, f"schedules-{name}-{width}-{scheme}")
        if violations := axe_violations(page):
            found[name] = violations
        # Nothing wider than the screen: at phone width the tables turn into cards.
        assert page.evaluate("document.documentElement.scrollWidth") <= WIDTHS[width]["width"], name
    context.close()
    assert not found, found
