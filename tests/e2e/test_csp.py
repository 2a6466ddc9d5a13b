"""The pages under their Content-Security-Policy in Chromium: every page, the admin and the Swagger page work
with no violation. (Every browser test fails on a violation: tests/e2e/conftest.py watches each context.)"""

import pytest
from django.utils import timezone

from common.actors import Actor, Via
from jobs.models import JobStatus
from scheduling.services import schedule_run_now
from tests.e2e.conftest import log_in
from tests.factories import (
    BackupFactory,
    ChannelFactory,
    ChannelGroupFactory,
    JobFactory,
    NotificationChannelFactory,
    ScheduledTaskFactory,
    StaffFactory,
    VideoFactory,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def superuser(db, settings, tmp_path):
    settings.BACKUP_DIR = tmp_path / "backups"
    return StaffFactory(is_superuser=True)


def test_the_watch_catches_what_the_policy_blocks(page, live_server, superuser, csp_violations):
    """The net under every browser test: an inline script is refused, and the refusal is recorded."""
    log_in(page, superuser)

    page.evaluate("""() => { const script = document.createElement("script");
                             script.textContent = "window.__ran = true"; document.body.append(script); }""")
    page.wait_for_timeout(200)

    assert page.evaluate("window.__ran === undefined"), "the inline script ran"
    assert any("script-src" in violation for violation in csp_violations), csp_violations
    csp_violations.clear()  # provoked on purpose


def test_the_swagger_page_lists_the_operations(page, live_server, superuser):
    log_in(page, superuser)

    page.goto("/api/docs")

    operations = page.locator(".opblock-summary-path")
    operations.first.wait_for()
    paths = operations.all_inner_texts()
    assert any(path.replace("\u200b", "") == "/api/schedules" for path in paths), paths
    page.locator(".opblock-summary-path").first.click()  # an operation opens, Swagger UI's scripts run
    page.get_by_role("button", name="Try it out").first.wait_for()


def test_every_main_page_and_the_admin_load_with_no_violation(page, live_server, superuser, csp_violations):
    schedule = ScheduledTaskFactory(name="Nightly backup")
    run = schedule_run_now(schedule=schedule, now=schedule.created_at, actor=Actor(Via.PAGE, superuser))
    group = ChannelGroupFactory(name="News")
    channel = ChannelFactory(title="Tagesschau", group=group)
    VideoFactory(channel=channel, thumbnail_url="https://i.ytimg.com/vi/x/hqdefault.jpg")
    BackupFactory()
    NotificationChannelFactory(name="Phone")
    log_in(page, superuser)

    pages = ["/schedules", "/schedules/upcoming", f"/schedules/{schedule.pk}", f"/schedules/runs/{run.pk}",
             "/backups", "/backups/restore-guide", "/channels", f"/channels/{channel.pk}", "/jobs",
             f"/jobs/{run.jobs.get().pk}", "/notifications", "/account/tokens",
             "/admin/", "/admin/scheduling/scheduledtask/", f"/admin/scheduling/scheduledtask/{schedule.pk}/change/",
             "/admin/scheduling/scheduledtask/add/", "/admin/auth/user/", "/admin/jobs/job/"]
    for path in pages:
        page.goto(path)
        page.wait_for_load_state("networkidle")
        assert not csp_violations, (path, csp_violations)

    # The dialogs htmx loads and the editor's scripts run under the policy too.
    page.goto("/schedules")
    page.get_by_role("link", name="New schedule").click()
    page.get_by_role("dialog").wait_for()
    page.get_by_role("dialog").get_by_label("Weekly on chosen days").check()
    page.wait_for_load_state("networkidle")
    assert not csp_violations, csp_violations


def test_a_live_region_polls_while_visible_and_not_in_a_hidden_tab(page, live_server, superuser):
    """The poll's condition moved from an hx-trigger filter (evaluated with Function(), which the policy
    forbids) into app.js: a running job's /jobs still refreshes itself, and stops asking in a hidden tab."""
    JobFactory(status=JobStatus.RUNNING, started_at=timezone.now())
    log_in(page, superuser)
    polls = []
    page.on("request", lambda request: polls.append(request.url) if request.headers.get("hx-request") else None)

    page.goto("/jobs")
    page.wait_for_timeout(2500)
    assert polls, "the visible page did not poll"

    page.evaluate("Object.defineProperty(document, 'visibilityState', {get: () => 'hidden'})")
    page.wait_for_timeout(300)  # a request already on its way
    polls.clear()
    page.wait_for_timeout(2500)
    assert polls == [], "a hidden tab kept polling"


def test_the_alert_log_does_not_poll_while_the_focus_is_inside_it(page, live_server, superuser):
    """Its other condition, also moved from the eval'd filter into app.js (data-poll-unless-focused): a
    refresh must not move the log under a user reading it with the keyboard."""
    from notifications.models import Delivery

    channel = NotificationChannelFactory(name="Phone")
    Delivery.objects.create(channel=channel, channel_name="Phone", event="test", title="Test",
                            created_at=timezone.now(), next_attempt_at=timezone.now(), status="pending")
    log_in(page, superuser)
    polls = []
    page.on("request", lambda request: polls.append(request.url)
            if request.headers.get("hx-request") and "/notifications" in request.url else None)

    page.goto("/notifications")
    page.wait_for_timeout(5500)  # the log asks every 5 s while a message waits
    assert polls, "the alert log did not poll"

    page.evaluate("() => { const h = document.getElementById('incidents-heading'); h.tabIndex = -1; h.focus(); }")
    polls.clear()
    page.wait_for_timeout(5500)
    assert polls == [], "the alert log refreshed under the focus"
