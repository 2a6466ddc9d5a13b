"""Live pages in a real browser (issue 18, point 1): after Run now, Sync now or Retry the page updates
itself, without a reload, while the focus stays on the button pressed; a toast says how the run ended;
an idle page makes no requests; a half-typed form survives an update.

The jobs are completed from the test as a worker would (`jobs.runner.execute`, the function django-q2's
workers call), in this process, while the live server answers the browser's polls from its thread.
"""

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from jobs import runner
from jobs.models import Job, JobStatus
from scheduling import services as scheduling_services
from tests.backups.conftest import sqlite_only
from tests.channels.conftest import FEED_PATH, feed_for
from tests.e2e.conftest import log_in
from tests.factories import ChannelFactory, ChannelGroupFactory, JobFactory, ScheduledTaskFactory, UserFactory, grant

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NEWS_IDS = ("UCnewsAAAAAAAAAAAAAAAAAA", "UCnewsBBBBBBBBBBBBBBBBBB")
# The pages poll every second (common.live.POLL_SECONDS): an update shows well within this.
UPDATE = 5000


@pytest.fixture
def user(db):
    """May do everything the live pages offer: schedules, backups, channels, jobs; not staff."""
    return grant(UserFactory(username="alice"),
                 "view_scheduledtask", "add_scheduledtask", "change_scheduledtask", "delete_scheduledtask",
                 "view_backup", "change_backup", "delete_backup",
                 "view_channelgroup", "change_channelgroup", "view_channel", "change_channel",
                 "view_job", "change_job")


@pytest.fixture
def backup_dir(settings, tmp_path):
    settings.BACKUP_DIR = tmp_path / "backups"
    return settings.BACKUP_DIR


@pytest.fixture
def backup_schedule(db, backup_dir):
    schedule = ScheduledTaskFactory(name="Nightly", params={"backup_type": "full", "retention_days": 30,
                                                            "cleanup_old": False, "force_backup": False,
                                                            "copy_offsite": False})
    return scheduling_services.schedule_save(schedule=schedule, now=timezone.now())


@pytest.fixture
def news(db, httpserver, settings):
    """A group of two channels whose feeds a local server serves (15 entries each)."""
    settings.YOUTUBE_FEED_URL = httpserver.url_for(FEED_PATH) + "?channel_id={channel_id}"
    group = ChannelGroupFactory(name="News")
    for n, channel_id in enumerate(NEWS_IDS):
        httpserver.expect_request(FEED_PATH, query_string={"channel_id": channel_id}).respond_with_data(
            feed_for(channel_id, prefix=f"vid{n}xxxxx"), content_type="application/atom+xml; charset=UTF-8")
        ChannelFactory(youtube_id=channel_id, title=("Tagesschau", "BBC News")[n], group=group)
    return group


@pytest.fixture
def live_page(page, user):
    log_in(page, user)
    return page


def work_off_queue() -> None:
    """What a worker does with each queued job."""
    for job in Job.objects.filter(status=JobStatus.QUEUED).order_by("pk"):
        runner.execute(job.pk)


def press(page, selector: str) -> None:
    """Press a button from the keyboard, as a keyboard user does: the focus is on it."""
    page.locator(selector).focus()
    page.keyboard.press("Enter")


def mark_page(page) -> None:
    """A mark a reload would lose: proves the page updated itself in place."""
    page.evaluate("window.__notReloaded = true")


def assert_not_reloaded(page) -> None:
    assert page.evaluate("window.__notReloaded === true"), "the page was reloaded"


def requests_during(page, seconds: float) -> list[str]:
    seen: list[str] = []
    page.on("request", lambda request: seen.append(request.url))
    page.wait_for_timeout(seconds * 1000)
    return seen


def assert_goes_idle(page) -> None:
    """Once nothing is active the watcher is gone and the page asks nothing more."""
    expect(page.locator("[data-live-watch]")).to_have_count(0, timeout=UPDATE)
    assert requests_during(page, 2.5) == []


# --- Run now on each page ----------------------------------------------------------------------

@sqlite_only
def test_it_updates_the_schedules_list_after_run_now(live_page, backup_schedule):
    page = live_page
    page.goto("/schedules")
    mark_page(page)
    row = page.locator(f"#schedule-{backup_schedule.pk}")
    expect(row).to_contain_text("Never")

    press(page, f"#run-{backup_schedule.pk}")
    expect(page.locator("#toasts")).to_contain_text("“Nightly” started: 1 job created.")
    expect(row.locator("[data-label='Last run']")).to_contain_text("Dispatched", timeout=UPDATE)
    work_off_queue()

    expect(row.locator("[data-label='Last run']")).to_contain_text("Succeeded", timeout=UPDATE)
    expect(page.locator("#toasts")).to_contain_text("“Nightly” done: its job succeeded.", timeout=UPDATE)
    expect(page.locator(":focus")).to_have_attribute("id", f"run-{backup_schedule.pk}")
    assert_not_reloaded(page)
    assert_goes_idle(page)


@sqlite_only
def test_it_updates_a_schedules_page_after_run_now(live_page, backup_schedule):
    page = live_page
    page.goto(f"/schedules/{backup_schedule.pk}")
    mark_page(page)
    expect(page.locator("#schedule-summary")).to_contain_text("No runs yet.")

    press(page, f"#run-{backup_schedule.pk}")
    runs = page.locator("#schedule-summary tbody tr")
    expect(runs).to_have_count(1, timeout=UPDATE)
    expect(runs.first).to_contain_text("Dispatched")
    work_off_queue()

    expect(runs.first.locator("[data-label='Outcome']")).to_contain_text("Succeeded", timeout=UPDATE)
    expect(runs.first.locator("[data-label='Jobs']")).to_contain_text("Completed")
    expect(page.locator("#toasts")).to_contain_text("“Nightly” done: its job succeeded.", timeout=UPDATE)
    expect(page.locator(":focus")).to_have_attribute("id", f"run-{backup_schedule.pk}")
    assert_not_reloaded(page)
    assert_goes_idle(page)


@sqlite_only
def test_it_updates_the_backups_page_after_run_now(live_page, backup_schedule):
    page = live_page
    page.goto("/backups")
    mark_page(page)
    expect(page.locator("#backup-list")).to_contain_text("No backups yet.")

    press(page, "#run-backup-now")
    expect(page.locator("#toasts")).to_contain_text("“Nightly” started: 1 job created.")
    work_off_queue()

    backup = backup_schedule.runs.get().jobs.get().backups.get()
    expect(page.locator(f"#backup-{backup.pk}")).to_contain_text("Verified", timeout=UPDATE)
    expect(page.locator("#last-good")).to_contain_text(f"#{backup.pk}")
    expect(page.locator("#toasts")).to_contain_text(f"Backup #{backup.pk} done: ", timeout=UPDATE)
    expect(page.locator("#toasts")).to_contain_text(", verified.")
    expect(page.locator(":focus")).to_have_attribute("id", "run-backup-now")
    assert_not_reloaded(page)
    assert_goes_idle(page)


def test_it_updates_a_group_card_after_sync_now(live_page, news):
    page = live_page
    page.goto("/channels")
    mark_page(page)
    card = page.locator(f"#group-{news.pk}")
    expect(card).to_contain_text("Never synced")

    press(page, f"#sync-group-{news.pk}")
    expect(page.locator("#toasts")).to_contain_text("Syncing “News”: 2 jobs queued.")
    expect(card).to_contain_text("Running 2 channels to check", timeout=UPDATE)
    work_off_queue()

    expect(card.locator(".sync-summary")).to_contain_text("New videos: 30", timeout=UPDATE)
    expect(page.locator("#toasts")).to_contain_text("Sync of News: 2 channels, 30 new videos.", timeout=UPDATE)
    expect(page.locator(":focus")).to_have_attribute("id", f"sync-group-{news.pk}")
    assert_not_reloaded(page)
    assert_goes_idle(page)


def test_it_updates_a_channels_page_after_sync_now(live_page, news):
    page = live_page
    channel = news.channels.get(title="Tagesschau")
    page.goto(f"/channels/{channel.pk}")
    mark_page(page)
    expect(page.locator("#channel-summary")).to_contain_text("Not synced yet")

    press(page, "#sync-channel")
    expect(page.locator("#toasts")).to_contain_text("1 job queued.")
    work_off_queue()

    expect(page.locator("#channel-summary")).to_contain_text("Synced: 15 new", timeout=UPDATE)
    expect(page.locator("#channel-videos .video")).to_have_count(15, timeout=UPDATE)
    expect(page.locator("#toasts")).to_contain_text("Sync of Tagesschau: 1 channel, 15 new videos.", timeout=UPDATE)
    expect(page.locator(":focus")).to_have_attribute("id", "sync-channel")
    assert_not_reloaded(page)
    assert_goes_idle(page)


def test_it_updates_the_jobs_list_after_retry(live_page):
    page = live_page
    job = JobFactory(job_type="TEST_OK", status=JobStatus.FAILED, attempts=1, max_retries=3, error="boom")
    page.goto("/jobs")
    mark_page(page)
    row = page.locator(f"#job-{job.pk}")

    press(page, f"#retry-{job.pk}")
    expect(page.locator("#toasts")).to_contain_text(f"Job #{job.pk} queued again.")
    expect(row).to_contain_text("Queued", timeout=UPDATE)
    # The Retry button is gone with the failure; the focus stays in the row, on the job's link.
    expect(page.locator(":focus")).to_have_text(f"#{job.pk}")
    work_off_queue()

    expect(row).to_contain_text("Completed", timeout=UPDATE)
    expect(page.locator("#toasts")).to_contain_text(f"Job #{job.pk} (Test: succeeds) completed.", timeout=UPDATE)
    expect(page.locator(":focus")).to_have_text(f"#{job.pk}")
    assert_not_reloaded(page)
    assert_goes_idle(page)


def test_it_updates_a_jobs_page_after_retry(live_page):
    page = live_page
    job = JobFactory(job_type="TEST_OK", status=JobStatus.FAILED, attempts=1, max_retries=3, error="boom")
    page.goto(f"/jobs/{job.pk}")
    mark_page(page)

    press(page, "#job-action")  # Retry job…
    dialog = page.locator("#retry-dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Retry job").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#toasts")).to_contain_text(f"Job #{job.pk} queued again.")
    # Cancel job… took Retry job…'s place, and the focus with it.
    expect(page.locator("#job-action")).to_have_text("Cancel job…", timeout=UPDATE)
    expect(page.locator(":focus")).to_have_attribute("id", "job-action")
    work_off_queue()

    expect(page.locator("#job-detail .badge").first).to_have_text("Completed", timeout=UPDATE)
    expect(page.locator("#toasts")).to_contain_text(f"Job #{job.pk} (Test: succeeds) completed.", timeout=UPDATE)
    # Neither Cancel nor Retry is left for a completed job: the focus goes to its heading, not the page's start.
    expect(page.locator(":focus")).to_have_attribute("id", "job-title")
    assert_not_reloaded(page)
    assert_goes_idle(page)


# --- idle pages, and what an update must leave alone ---------------------------------------------

def test_an_idle_page_makes_no_requests(live_page, news, backup_dir):
    page = live_page
    schedule = ScheduledTaskFactory(name="Nightly")
    job = JobFactory(job_type="TEST_OK", status=JobStatus.COMPLETED)
    channel = news.channels.first()
    for path in ("/schedules", f"/schedules/{schedule.pk}", "/backups", "/channels", f"/channels/{channel.pk}",
                 "/jobs", f"/jobs/{job.pk}"):
        page.goto(path)
        page.wait_for_load_state("networkidle")
        assert page.locator("[data-live-watch]").count() == 0, path
        assert requests_during(page, 2.5) == [], path


@sqlite_only
def test_a_half_typed_form_survives_an_update(live_page, backup_schedule):
    page = live_page
    other = scheduling_services.schedule_save(schedule=ScheduledTaskFactory(name="Weekly"), now=timezone.now())
    page.goto("/schedules")
    row = page.locator(f"#schedule-{backup_schedule.pk}")
    press(page, f"#run-{backup_schedule.pk}")
    expect(row.locator("[data-label='Last run']")).to_contain_text("Dispatched", timeout=UPDATE)

    # The editor open on another schedule, its name half retyped, while the list updates around it.
    page.locator(f"#edit-{other.pk}").click()
    name = page.locator("dialog#page-dialog").get_by_label("Name")
    expect(name).to_have_value("Weekly")
    name.fill("Weekly rep")
    work_off_queue()
    expect(row.locator("[data-label='Last run']")).to_contain_text("Succeeded", timeout=UPDATE)

    expect(page.locator("dialog#page-dialog")).to_be_visible()
    expect(name).to_have_value("Weekly rep")
    expect(name).to_be_focused()


def test_a_search_box_and_an_open_dialog_survive_an_update(live_page):
    page = live_page
    running = JobFactory(job_type="TEST_OK", status=JobStatus.QUEUED, available_at=timezone.now())
    page.goto(f"/jobs/{running.pk}")
    press(page, "#job-action")  # Cancel job…: its dialog is inside the live region
    expect(page.locator("#cancel-dialog")).to_be_visible()
    polls = requests_during(page, 2.5)
    assert polls, "the page should be polling while the job waits"
    expect(page.locator("#cancel-dialog")).to_be_visible()  # a poll did not close it

    page.locator("#cancel-dialog").get_by_role("button", name="Keep job").click()
    page.goto("/jobs")
    search = page.get_by_label("Search")
    search.fill("half typ")
    Job.objects.filter(pk=running.pk).update(status=JobStatus.RUNNING, started_at=timezone.now() - dt.timedelta(seconds=1))
    expect(page.locator(f"#job-{running.pk}")).to_contain_text("Running", timeout=UPDATE)
    expect(search).to_have_value("half typ")
    expect(search).to_be_focused()


# --- toasts that never leave (issue 18, point 5) ----------------------------------------------------

def test_successes_and_warnings_fade_and_errors_stay(live_page, news):
    page = live_page
    empty = ChannelGroupFactory(name="Empty")
    page.clock.install()
    page.goto("/channels")
    # An error toast, as a refused action brings one.
    page.evaluate("""() => { const t = document.createElement('div'); t.className = 'toast toast-error';
        t.setAttribute('role', 'alert'); t.textContent = 'An error'; document.getElementById('toasts').append(t); }""")
    press(page, f"#sync-group-{empty.pk}")
    warning = page.locator("#toasts .toast-warning")
    expect(warning).to_contain_text("“Empty” has no enabled channel.")
    expect(warning).to_have_attribute("role", "alert")
    press(page, f"#sync-group-{news.pk}")
    success = page.locator("#toasts .toast-success")
    expect(success).to_contain_text("Syncing “News”: 2 jobs queued.")
    page.mouse.move(0, 0)
    page.locator("main h1").focus()

    page.clock.run_for(9000)
    expect(success).to_have_count(0)
    expect(warning).to_have_count(1)
    page.clock.run_for(12000)
    expect(warning).to_have_count(0)  # it used to stay, like an error, until dismissed
    expect(page.locator("#toasts .toast-error")).to_have_text("An error")  # an error stays until dismissed
    expect(page.locator("#toasts > *")).to_have_count(1)  # nothing else left behind in the toast column


def test_a_toast_waits_while_the_focus_is_on_it(live_page, news):
    page = live_page
    page.clock.install()
    page.goto("/channels")
    press(page, f"#sync-group-{news.pk}")
    success = page.locator("#toasts .toast-success")
    expect(success).to_contain_text("Syncing “News”: 2 jobs queued.")
    success.get_by_role("button", name="Dismiss: Syncing").focus()
    page.mouse.move(0, 0)

    page.clock.run_for(12000)
    expect(success).to_have_count(1)  # not taken from under the keyboard user
    page.locator("main h1").focus()
    page.clock.run_for(2500)
    expect(success).to_have_count(0)
