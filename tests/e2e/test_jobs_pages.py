"""/jobs and a job's page at phone width: nothing wider than the screen, every value labelled."""

import pytest

from jobs.models import JobStatus
from tests.e2e.conftest import WIDTHS, axe_violations, log_in, screenshot
from tests.factories import JobFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_it_fits_jobs_and_a_job_on_a_phone(browser, live_server, user):
    job = JobFactory(status=JobStatus.FAILED, attempts=2, max_retries=2, error="Traceback: boom " * 20,
                     params={"channel_id": 12, "group_id": 3, "note": "a long parameter value " * 5},
                     attempt_log=[{"attempt": 1, "outcome": "failed", "started_at": "2026-01-01T00:00:00+00:00",
                                   "finished_at": "2026-01-01T00:00:05+00:00", "worker": "host:123",
                                   "error": "boom"}])
    JobFactory.create_batch(3)
    context = browser.new_context(base_url=live_server.url, viewport=WIDTHS["phone"])
    page = context.new_page()
    log_in(page, user)
    for name, path in (("list", "/jobs"), ("detail", f"/jobs/{job.pk}")):
        page.goto(path)
        screenshot(page, f"jobs-{name}-phone")
        assert page.evaluate("document.documentElement.scrollWidth") <= WIDTHS["phone"]["width"], name
        assert not axe_violations(page), name
    page.goto("/jobs")
    label = page.locator(".jobs-table td").nth(3).evaluate("el => getComputedStyle(el, '::before').content")
    assert label == '"Attempts: "'
    context.close()
