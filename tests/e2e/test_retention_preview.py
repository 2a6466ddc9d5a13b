"""The backup schedule's retention in a real browser: the preview of what it would delete follows what is typed
(htmx, nothing written), the calendar's inputs show when the calendar is chosen, and a user who may not delete
backups is told before saving and refused under the input when saving. axe-core scan and screenshots."""

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from backups.models import Backup, BackupStatus
from scheduling import services
from scheduling.models import ScheduleAuditEntry, ScheduledTask
from tests.e2e.conftest import axe_violations, log_in, screenshot
from tests.factories import BackupFactory, UserFactory, grant

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCHEDULES = ("view_scheduledtask", "add_scheduledtask", "change_scheduledtask")


@pytest.fixture
def backups(db):
    now = timezone.now()
    return {days: BackupFactory(started_at=now - dt.timedelta(days=days, hours=1)) for days in (40, 20, 10, 1)}


@pytest.fixture
def schedule(db):
    return services.schedule_save(schedule=ScheduledTask(
        name="Daily database backup", task_type="DATABASE_BACKUP", schedule_kind="daily", schedule_time="02:00",
        params={"retention_days": 30, "cleanup_old": True}), now=timezone.now())


def open_editor(page):
    page.goto("/backups")
    page.get_by_role("link", name="Configure Schedule").click()
    dialog = page.locator("dialog#page-dialog")
    expect(dialog).to_be_visible()
    return dialog


def deleted_ids(dialog) -> set[int]:
    return {int(pk) for pk in dialog.locator("[data-backup-id]").evaluate_all("els => els.map(e => e.dataset.backupId)")}


def test_the_preview_follows_what_is_typed_and_writes_nothing(page, backups, schedule):
    log_in(page, grant(UserFactory(username="alice"), *SCHEDULES, "view_backup", "delete_backup"))
    dialog = open_editor(page)
    preview = dialog.locator("#schedule-preview")
    expect(preview).to_contain_text("This schedule keeps 30 days. If it ran now, after its backup it would delete 1 backup")
    assert deleted_ids(dialog) == {backups[40].pk}
    # The calendar's inputs show only once the calendar is chosen.
    expect(dialog.get_by_label("Keep the last:", exact=True)).to_be_hidden()

    dialog.get_by_label("Retention (days)").fill("15")
    expect(preview).to_contain_text("This schedule keeps 15 days")
    expect(preview).to_contain_text("would delete 2 backups")
    assert deleted_ids(dialog) == {backups[40].pk, backups[20].pk}

    dialog.get_by_label("By calendar").check()
    expect(dialog.get_by_label("Retention (days)")).to_be_hidden()
    dialog.get_by_label("Keep the last:", exact=True).fill("1")
    dialog.get_by_label("Daily:", exact=True).fill("0")
    dialog.get_by_label("Weekly:", exact=True).fill("0")
    dialog.get_by_label("Monthly:", exact=True).fill("0")
    expect(preview).to_contain_text("This schedule keeps last 1")
    expect(preview).to_contain_text("would delete 4 backups")  # the run's own backup is the last one
    dialog.get_by_label("Monthly:", exact=True).fill("2")
    expect(preview).to_contain_text("keeps last 1, 2 monthly")
    screenshot(page, "retention-preview-calendar")
    assert axe_violations(page, "dialog#page-dialog") == []

    dialog.get_by_label("Delete old backups").uncheck()
    expect(preview).to_contain_text("Clean-up is off: no backup is deleted")

    # Nothing was written while typing.
    assert Backup.objects.filter(status=BackupStatus.COMPLETED).count() == 4
    assert ScheduledTask.objects.get().params == {"backup_type": "full", "retention_days": 30, "cleanup_old": True,
                                                  "force_backup": False, "copy_offsite": True}
    assert not ScheduleAuditEntry.objects.exclude(via="system").exists()


def test_a_user_who_may_not_delete_backups_is_told_before_and_refused_on_save(page, backups, schedule):
    log_in(page, grant(UserFactory(username="eve"), *SCHEDULES, "view_backup"))
    dialog = open_editor(page)

    dialog.get_by_label("Retention (days)").fill("5")
    expect(dialog.locator("#schedule-preview")).to_contain_text("You cannot save this:")
    expect(dialog.locator("#schedule-preview")).to_contain_text("“backups.delete_backup”")
    dialog.get_by_role("button", name="Save").click()

    field = dialog.get_by_label("Retention (days)")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(dialog.locator("#id_database_backup-retention_days_error")).to_contain_text(
        "would delete 2 backups that the current one (keeps 30 days) keeps")
    screenshot(page, "retention-refused")
    assert ScheduledTask.objects.get().params["retention_days"] == 30

    # Keeping more is hers to decide.
    field.fill("60")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden()
    assert ScheduledTask.objects.get().params["retention_days"] == 60
