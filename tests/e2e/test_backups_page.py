"""/backups in a real browser: the original plan's "Backups" steps 1-6 (the backup job run in-process by
`jobs.runner.execute`, time simulated with `schedule_tick --now`), Verify now, download and delete with its
confirmation, and axe-core scans with screenshots (light and dark, 1280 and 375 px) of /backups, the editor
open on it and the delete confirmation."""

import datetime as dt
import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone
from playwright.sync_api import expect

from backups.models import Backup, BackupStatus
from common.formatting import format_instant
from jobs import runner
from jobs.models import Job, JobStatus
from scheduling import services as scheduling_services
from scheduling.models import RunTrigger, ScheduledTask, ScheduleRun
from tests.backups.conftest import sqlite_only, with_file
from tests.e2e.conftest import WIDTHS, axe_violations, screenshot
from tests.factories import BackupFactory, UserFactory, grant

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def user(db):
    """May see, verify, download and delete backups and do everything with schedules; not staff."""
    return grant(UserFactory(username="alice"),
                 "view_backup", "change_backup", "delete_backup", "download_backup",
                 "view_scheduledtask", "add_scheduledtask", "change_scheduledtask", "delete_scheduledtask",
                 "view_job")


@pytest.fixture
def backup_dir(settings, tmp_path):
    settings.BACKUP_DIR = tmp_path / "backups"
    return settings.BACKUP_DIR


def tick(instant: dt.datetime) -> str:
    out = StringIO()
    call_command("schedule_tick", "--now", instant.isoformat(), "--allow-future", stdout=out)
    return out.getvalue()


@sqlite_only
def test_it_walks_the_backups_steps_of_the_manual_test_plan(logged_in_page, backup_dir):
    page = logged_in_page

    # 1. Open /backups.
    page.goto("/backups")
    expect(page.get_by_role("heading", level=1)).to_have_text("Backups")
    expect(page.locator("#backup-schedule")).to_contain_text("No backup schedule")
    expect(page.locator("#backup-list")).to_contain_text("No backups yet.")

    # 2. Click "Configure Schedule".
    page.get_by_role("link", name="Configure Schedule").click()
    dialog = page.locator("dialog#page-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Name")).to_have_value("Daily database backup")
    expect(dialog.get_by_label("Task")).to_have_count(0)  # limited to DATABASE_BACKUP
    expect(dialog.get_by_label("Retention (days)")).to_have_value("30")
    expect(dialog.get_by_label("Delete old backups")).to_be_checked()

    # 3. Choose Daily at 02:00 UTC; save.
    dialog.get_by_label("Daily at a time").check()
    dialog.get_by_label("Time (HH:MM, 24-hour)").fill("02:00")
    dialog.get_by_label("Time zone").fill("UTC")
    expect(dialog.locator("#schedule-preview")).to_contain_text("Every day at 02:00 (UTC)")
    dialog.get_by_role("button", name="Create schedule").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#toasts")).to_contain_text("Schedule “Daily database backup” created. Next run:")
    expect(page.locator(":focus")).to_have_attribute("id", "configure-schedule")  # focus came back
    schedule = ScheduledTask.objects.get()
    window = schedule.next_run_at
    assert (window.hour, window.minute) == (2, 0) and window > timezone.now()
    expect(page.locator("#backup-schedule")).to_contain_text("Daily database backup: Every day at 02:00 (UTC)")
    expect(page.locator("#backup-schedule")).to_contain_text("Backups of the last 30 days")
    expect(page.locator("#backup-schedule time").first).to_have_text(format_instant(window))

    # 4. Verify a schedule appears on /schedules with task type DATABASE_BACKUP.
    assert (schedule.task_type, schedule.params) == ("DATABASE_BACKUP", {
        "backup_type": "full", "retention_days": 30, "cleanup_old": True, "force_backup": False, "copy_offsite": True})
    page.goto("/schedules")
    row = page.locator("#schedule-list tbody tr", has=page.get_by_role("link", name="Daily database backup"))
    expect(row).to_contain_text("Database backup: keeps 30 days")
    expect(row).to_contain_text("Every day at 02:00 (UTC)")
    api = page.request.get(f"/api/schedules/{schedule.pk}").json()
    assert (api["task_type"], api["schedule_kind"], api["schedule_time"], api["timezone"]) == (
        "DATABASE_BACKUP", "daily", "02:00", "UTC")

    # 5. Click "Run now"; verify a new job appears in /jobs with type Database Backup and completes.
    page.goto("/backups")
    page.get_by_role("button", name="Run now").click()
    expect(page.locator("#toasts")).to_contain_text("“Daily database backup” started: 1 job created.")
    expect(page.locator("#toasts")).to_contain_text("No worker is running, so the jobs wait")
    job = Job.objects.get()
    page.goto("/jobs?type=DATABASE_BACKUP")
    rows = page.locator("#jobs-region tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(re.compile("Database backup", re.IGNORECASE))
    expect(rows.first).to_contain_text("Queued")
    runner.execute(job.pk)  # what a worker does with it
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED, job.error
    page.reload()
    expect(rows.first).to_contain_text("Completed")
    backup = Backup.objects.get(job=job)
    assert backup.status == BackupStatus.COMPLETED and Backup.objects.good().filter(pk=backup.pk).exists()
    assert (backup_dir / backup.file_name).is_file()
    page.goto("/backups")
    expect(page.locator("#last-result")).to_contain_text("Completed")
    expect(page.locator("#last-good")).to_contain_text(f"#{backup.pk}")
    backup_row = page.locator(f"#backup-{backup.pk}")
    expect(backup_row).to_contain_text("Verified")
    expect(backup_row).to_contain_text(f"Job #{job.pk}")
    expect(backup_row).to_contain_text("(Run now by alice)")

    # 6. Simulate time: two scheduler passes 30 s after the next 02:00 UTC (as two racing schedulers
    # would) enqueue the automatic backup once and only once; the next window is a day later.
    jobs_before = Job.objects.count()
    due = window + dt.timedelta(seconds=30)
    assert "1 window" in tick(due)
    assert "nothing due" in tick(due)
    scheduled = ScheduleRun.objects.filter(schedule=schedule, trigger=RunTrigger.SCHEDULED)
    assert list(scheduled.values_list("due_at", flat=True)) == [window]
    assert Job.objects.count() == jobs_before + 1
    automatic = Job.objects.latest("pk")
    assert automatic.job_type == "DATABASE_BACKUP" and automatic.params["window_start"] == window.isoformat()
    schedule.refresh_from_db()
    assert schedule.next_run_at == window + dt.timedelta(days=1)
    page.reload()
    expect(page.locator("#backup-schedule time").first).to_have_text(
        format_instant(window + dt.timedelta(days=1)))


@sqlite_only
def test_it_verifies_downloads_and_deletes_a_backup(logged_in_page, backup_dir):
    from backups.services.making import backup_create

    page = logged_in_page
    older = backup_create(now=timezone.now() - dt.timedelta(days=2))
    newest = backup_create(now=timezone.now())
    page.goto("/backups")

    page.get_by_role("button", name=f"Verify now: backup #{older.pk}").click()
    expect(page.locator("#toasts")).to_contain_text(f"Backup #{older.pk} verified: its checksum matches")
    expect(page.locator(":focus")).to_have_attribute("id", f"verify-{older.pk}")  # kept across the refresh

    with page.expect_download() as download:
        page.get_by_role("link", name=re.compile(f"Download backup #{newest.pk}")).click()
    assert download.value.suggested_filename == newest.file_name
    assert open(download.value.path(), "rb").read() == (backup_dir / newest.file_name).read_bytes()

    row = page.locator(f"#backup-{newest.pk}")
    row.locator("summary").click()
    expect(row.locator(f"#sha256-{newest.pk}")).to_have_text(newest.sha256)

    page.get_by_role("link", name=f"Delete backup #{newest.pk}").click()
    dialog = page.locator("dialog#page-dialog")
    expect(dialog.get_by_role("heading", level=2)).to_have_text(f"Delete backup #{newest.pk}?")
    expect(dialog).to_contain_text("This is the newest good backup.")
    expect(dialog.get_by_role("button", name="Keep it")).to_be_focused()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert Backup.objects.get(pk=newest.pk).status == BackupStatus.COMPLETED

    page.get_by_role("link", name=f"Delete backup #{newest.pk}").click()
    dialog.get_by_role("button", name=f"Delete backup #{newest.pk}").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#toasts")).to_contain_text(f"Backup #{newest.pk} deleted")
    expect(page.locator(f"#backup-{newest.pk}")).to_contain_text("Deleted by alice: from /backups.")
    expect(page.locator(f"#backup-{newest.pk}").get_by_role("link", name=re.compile("Download"))).to_have_count(0)
    expect(page.locator("#last-good")).to_contain_text(f"#{older.pk}")
    assert not (backup_dir / newest.file_name).exists()


def test_it_disables_and_enables_the_schedule_and_hides_what_a_viewer_may_not_do(browser, live_server, logged_in_page,
                                                                                 backup_dir):
    page = logged_in_page
    scheduling_services.schedule_save(schedule=ScheduledTask(
        name="Nightly backup", task_type="DATABASE_BACKUP", schedule_kind="daily", schedule_time="02:00"),
        now=timezone.now())
    page.goto("/backups")
    switch = page.get_by_role("switch", name="Scheduled backups")
    expect(switch).to_have_attribute("aria-checked", "true")
    switch.click()
    expect(page.locator("#toasts")).to_contain_text("Backups off: “Nightly backup” is disabled")
    expect(page.get_by_role("switch", name="Scheduled backups")).to_have_attribute("aria-checked", "false")
    expect(page.locator("#backup-schedule")).to_contain_text("None (disabled)")
    page.get_by_role("switch", name="Scheduled backups").click()
    expect(page.get_by_role("switch", name="Scheduled backups")).to_have_attribute("aria-checked", "true")
    assert ScheduledTask.objects.get().enabled

    viewer = grant(UserFactory(username="victor"), "view_backup")
    context = browser.new_context(base_url=live_server.url)
    other = context.new_page()
    other.goto("/login/")
    other.get_by_label("Username").fill(viewer.username)
    other.get_by_label("Password").fill("correct horse battery")
    other.get_by_role("button", name="Log in").click()
    other.goto("/backups")
    expect(other.get_by_role("heading", level=1)).to_have_text("Backups")
    expect(other.get_by_role("button", name="Run now")).to_have_count(0)
    expect(other.get_by_role("link", name="Configure Schedule")).to_have_count(0)
    expect(other.get_by_role("switch")).to_have_count(0)
    context.close()


@pytest.fixture
def history(backup_dir):
    """A schedule, an old good backup (so the freshness warning shows), a failed and a skipped run."""
    now = timezone.now()
    scheduling_services.schedule_save(schedule=ScheduledTask(
        name="Daily database backup", task_type="DATABASE_BACKUP", schedule_kind="daily", schedule_time="02:00",
        params={"retention_days": 30, "cleanup_old": True}), now=now)
    good = with_file(BackupFactory(started_at=now - dt.timedelta(days=3), size_bytes=48_213_000,
                                   database_size_bytes=201_000_000, duration_seconds=2.4,
                                   sha256="3f5a9c" + "0123456789abcdef" * 3 + "abcdef0123"), backup_dir)
    BackupFactory(status="failed", started_at=now - dt.timedelta(days=1), size_bytes=None, sha256="",
                  database_size_bytes=201_000_000, duration_seconds=0.3,
                  error="The disk is full: no space left for the backup in /var/lib/channel-archive/backups. Free "
                        "some space or point BACKUP_DIR at a larger disk.")
    return good


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", list(WIDTHS))
def test_it_has_no_serious_accessibility_violations(browser, live_server, user, history, width, scheme):
    context = browser.new_context(base_url=live_server.url, viewport=WIDTHS[width], color_scheme=scheme)
    page = context.new_page()
    page.goto("/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/schedules")
    views = {
        "list": None,
        "editor": lambda: (
            page.locator("#configure-schedule").click(),
            expect(page.locator("dialog#page-dialog")).to_be_visible(),
            expect(page.locator("#schedule-preview li").first).to_be_visible(),
        ),
        "delete": lambda: (
            page.locator(f"#delete-{history.pk}").click(),
            expect(page.locator("dialog#page-dialog")).to_be_visible(),
        ),
    }
    found = {}
    for name, then in views.items():
        page.goto("/backups")
        expect(page.locator("#backup-schedule .banner-warn")).to_contain_text("older than 2 of the schedule's")
        if then:
            then()
        screenshot(page, f"backups-{name}-{width}-{scheme}")
        if violations := axe_violations(page):
            found[name] = violations
        assert page.evaluate("document.documentElement.scrollWidth") <= WIDTHS[width]["width"], name
    context.close()
    assert not found, found


@sqlite_only
def test_it_adopts_the_folders_files_the_list_does_not_have(logged_in_page, user, backup_dir):
    """A fresh install pointed at an old folder: the banner counts the files, Adopt registers them."""
    from backups.services.making import backup_create

    grant(user, "add_backup")
    made = [backup_create(now=timezone.now() - dt.timedelta(hours=hours)) for hours in (2, 1)]
    Backup.objects.all().delete()
    page = logged_in_page
    page.goto("/backups")

    banner = page.locator("#unlisted-backups")
    expect(banner).to_contain_text("2 backup files in the folder are not in this list")
    assert not axe_violations(page)
    banner.get_by_role("button", name="Adopt").click()

    expect(page.locator("#toasts")).to_contain_text("Adopted 2 backup files from")
    expect(banner).to_have_count(0)
    for backup in made:
        expect(page.locator(f"#backup-{backup.pk}")).to_contain_text("Completed")
