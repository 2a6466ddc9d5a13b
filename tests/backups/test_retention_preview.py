"""The schedule editor's retention preview: which existing backups the settings typed would delete, written
nowhere, and exactly what the job then deletes."""

import datetime as dt
import re

import pytest
from django.urls import reverse

from backups.models import Backup, BackupStatus
from common.actors import Actor, Via
from jobs import runner
from scheduling import services
from scheduling.models import ScheduleAuditEntry, ScheduledTask
from tests.backups.conftest import sqlite_only, with_file
from tests.factories import BackupFactory, UserFactory, grant

pytestmark = pytest.mark.django_db

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SCHEDULES = ("view_scheduledtask", "add_scheduledtask", "change_scheduledtask")
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def frozen(time_machine):
    time_machine.move_to(NOW, tick=False)


@pytest.fixture
def keeper(db):
    return grant(UserFactory(username="alice"), *SCHEDULES, "view_backup", "delete_backup")


@pytest.fixture
def editor(db):
    return grant(UserFactory(username="eve"), *SCHEDULES)


def backup_schedule(*, zone: str = "UTC", **params) -> ScheduledTask:
    return services.schedule_save(schedule=ScheduledTask(
        name="Backups", task_type="DATABASE_BACKUP", schedule_kind="daily", schedule_time="02:00", timezone=zone,
        params={"retention_days": 30, "cleanup_old": True, **params}), now=NOW)


def form_of(schedule: ScheduledTask, **params) -> dict:
    """The editor's form as a browser posts it for this schedule, with some params typed over."""
    data = {"name": schedule.name, "task_type": schedule.task_type, "_task_types": schedule.task_type,
            "schedule_kind": schedule.schedule_kind, "schedule_time": schedule.schedule_time,
            "timezone": schedule.timezone, "enabled": "on", "grace_minutes": "60", "overlap_policy": "skip"}
    for key, value in {"retention_mode": "days", **schedule.params, **params}.items():
        if isinstance(value, bool):
            value = "on" if value else ""
        data[f"database_backup-{key}"] = str(value)
    return data


def preview(client, schedule: ScheduledTask, **params) -> str:
    response = client.post(f"{reverse('schedule_preview')}?schedule={schedule.pk}", form_of(schedule, **params), **HTMX)
    assert response.status_code == 200, response.content
    return response.content.decode()


def previewed(html: str) -> set[int]:
    return {int(pk) for pk in re.findall(r'data-backup-id="(\d+)"', html)}


def irregular_backups(directory=None) -> list[Backup]:
    """Two months of backups, some days several, some none, some near midnight; with files if a folder is given."""
    instants = [NOW - dt.timedelta(days=d, hours=h) for d, h in (
        (60, 0), (45, 3), (44, 1), (31, 0), (29, 0), (22, 13), (15, 0), (14, 22), (14, 1), (8, 0), (7, 11),
        (3, 12), (3, 13), (2, 0), (1, 12), (0, 2))]
    backups = [BackupFactory(started_at=instant) for instant in instants]
    return [with_file(backup, directory) for backup in backups] if directory else backups


def statuses() -> dict:
    return dict(Backup.objects.values_list("pk", "status"))


# --- what it shows ------------------------------------------------------------------------------------

def test_it_lists_the_backups_the_settings_typed_would_delete(client, keeper):
    backups = irregular_backups()
    schedule = backup_schedule()
    client.force_login(keeper)

    html = preview(client, schedule, retention_days=10)

    assert previewed(html) == {b.pk for b in backups if b.started_at < NOW - dt.timedelta(days=10)}
    assert "This schedule keeps 10 days. If it ran now, after its backup it would delete" in html
    assert "older than the retention of 10 days" in html
    assert "It would keep 7 existing backups, and the new one" in html
    assert "You cannot save this" not in html


def test_it_writes_nothing(client, keeper):
    irregular_backups()
    schedule = backup_schedule()
    client.force_login(keeper)
    before = (statuses(), ScheduleAuditEntry.objects.count(), ScheduledTask.objects.get().params)

    preview(client, schedule, retention_days=1)

    assert (statuses(), ScheduleAuditEntry.objects.count(), ScheduledTask.objects.get().params) == before


def test_it_follows_a_calendar_rule_in_the_zone_typed(client, keeper):
    late = BackupFactory(started_at=dt.datetime(2026, 11, 30, 23, 30, tzinfo=UTC))  # Dec 1 00:30 in Berlin
    early = BackupFactory(started_at=dt.datetime(2026, 11, 30, 1, 0, tzinfo=UTC))
    schedule = backup_schedule()
    client.force_login(keeper)
    calendar = {"retention_mode": "calendar", "keep_last": "0", "keep_daily": "2", "keep_weekly": "0",
                "keep_monthly": "0"}

    in_utc = preview(client, schedule, **calendar)
    schedule.timezone = "Europe/Berlin"
    in_berlin = preview(client, schedule, **calendar)

    assert previewed(in_utc) == {early.pk}  # Nov 30's newest is the 23:30 one
    assert previewed(in_berlin) == {late.pk}  # Dec 1 in Berlin, like the run's own backup; Nov 30 is the early one
    assert "(days, weeks and months in Europe/Berlin)" in in_berlin
    assert "Mon 30 Nov 2026, 02:00 CET" in in_berlin


def test_it_says_when_clean_up_is_off(client, keeper):
    irregular_backups()
    schedule = backup_schedule()
    client.force_login(keeper)

    html = preview(client, schedule, cleanup_old=False, retention_days=1)

    assert "Clean-up is off: no backup is deleted" in html
    assert previewed(html) == set()


def test_it_warns_a_user_who_may_not_save_it(client, editor):
    irregular_backups()
    schedule = backup_schedule()
    client.force_login(editor)

    html = preview(client, schedule, retention_days=10)

    assert "You cannot save this:" in html and "“backups.delete_backup”" in html
    assert "You cannot save this" not in preview(client, schedule, retention_days=90)


def test_it_shows_nothing_for_params_that_are_not_valid_yet(client, keeper):
    schedule = backup_schedule()
    client.force_login(keeper)

    assert "data-retention-preview" not in preview(client, schedule, retention_days="0")
    assert "data-retention-preview" in preview(client, schedule, retention_days="1")


def test_the_editor_opens_with_the_stored_rules_preview(client, keeper):
    backups = irregular_backups()
    schedule = backup_schedule(retention_days=20)
    client.force_login(keeper)

    html = client.get(reverse("schedule_edit", args=[schedule.pk]), **HTMX).content.decode()

    assert previewed(html) == {b.pk for b in backups if b.started_at < NOW - dt.timedelta(days=20)}
    assert f'hx-post="/schedules/preview?schedule={schedule.pk}"' in html


def test_a_new_schedule_opens_with_the_default_rules_preview(client, keeper):
    backups = irregular_backups()
    client.force_login(keeper)

    html = client.get(f"{reverse('schedule_new')}?task_type=DATABASE_BACKUP", **HTMX).content.decode()

    assert "This schedule keeps 30 days." in html
    assert previewed(html) == {b.pk for b in backups if b.started_at < NOW - dt.timedelta(days=30)}


def test_previewing_a_schedule_needs_the_permission_to_change_it(client):
    schedule = backup_schedule()
    client.force_login(grant(UserFactory(), "add_scheduledtask", "delete_backup"))

    response = client.post(f"{reverse('schedule_preview')}?schedule={schedule.pk}", form_of(schedule), **HTMX)
    assert response.status_code == 403
    client.force_login(grant(UserFactory(), "change_scheduledtask"))
    assert client.post(f"{reverse('schedule_preview')}?schedule=999999", form_of(schedule)).status_code == 404
    assert client.post(f"{reverse('schedule_preview')}?schedule=x", form_of(schedule)).status_code == 404


# --- the preview is what the job deletes -------------------------------------------------------------------------

@sqlite_only
@pytest.mark.parametrize("params, zone", [
    ({"retention_days": 10}, "UTC"),
    ({"retention_mode": "calendar", "keep_last": "2", "keep_daily": "3", "keep_weekly": "2", "keep_monthly": "1"},
     "Europe/Berlin"),
    ({"retention_mode": "calendar", "keep_last": "0", "keep_daily": "4", "keep_weekly": "0", "keep_monthly": "2"},
     "Pacific/Auckland"),
    # The run's own backup takes one of the three places: the preview counts it too.
    ({"retention_mode": "calendar", "keep_last": "3", "keep_daily": "0", "keep_weekly": "0", "keep_monthly": "0"},
     "UTC"),
], ids=["days", "calendar-berlin", "calendar-auckland", "calendar-last-3"])
def test_the_preview_lists_exactly_what_the_job_then_deletes(
        client, keeper, backup_dir, params, zone, django_capture_on_commit_callbacks):
    irregular_backups(backup_dir)
    schedule = backup_schedule(zone=zone)
    client.force_login(keeper)
    typed = dict(form_of(schedule, **params))
    # Typed, previewed, then saved through the editor.
    shown = previewed(preview(client, schedule, **params))
    assert shown  # the rule deletes something, or the test would prove little
    assert client.post(reverse("schedule_edit", args=[schedule.pk]), typed).status_code == 302

    run = services.schedule_run_now(schedule=ScheduledTask.objects.get(), now=NOW, actor=Actor(Via.PAGE, keeper))
    with django_capture_on_commit_callbacks(execute=True):
        assert runner.execute(run.jobs.get().pk) == "completed"

    deleted = set(Backup.objects.filter(status=BackupStatus.DELETED).values_list("pk", flat=True))
    assert deleted == shown
    assert run.jobs.get().result["deleted"] == [b.file_name for b in Backup.objects.filter(pk__in=deleted)
                                                .order_by("started_at", "pk")]
    for backup in Backup.objects.filter(pk__in=deleted):
        assert not (backup_dir / backup.file_name).exists()
