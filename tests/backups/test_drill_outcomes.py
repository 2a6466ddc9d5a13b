"""What a restore drill's outcome becomes: the `restore_drill_failed` incident (alerted once, resolved by the next drill
that passes), the gauges on /metrics, and the line on /backups."""

import datetime as dt
import re
import shutil

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from backups.models import Backup
from backups.services.making import backup_create
from core import metrics
from jobs import runner
from jobs.models import JobStatus
from notifications.models import Delivery, Incident
from scheduling import services as scheduling_services
from scheduling.models import ScheduledTask
from tests.backups.conftest import NOW, sqlite_only
from tests.backups.test_drills import alter_inside, manifest_path
from tests.factories import BackupFactory, ChannelGroupFactory, NotificationChannelFactory, UserFactory, grant
from tests.notifications.conftest import send_all

UTC = dt.timezone.utc


# --- the incident ---------------------------------------------------------------------------------


def run_now(schedule: ScheduledTask):
    run = scheduling_services.schedule_run_now(schedule=schedule, now=timezone.now())
    job = run.jobs.get()
    runner.execute(job.pk)
    job.refresh_from_db()
    return job


def sent_titles(webhook) -> list[str]:
    send_all(now=timezone.now() + dt.timedelta(seconds=1))
    return webhook.titles


@sqlite_only
@pytest.mark.django_db(transaction=True)
def test_a_failed_drill_alerts_the_schedules_channels_once_and_the_next_pass_resolves_it(backup_dir, webhook, tmp_path,
                                                                                         make_schedule):
    ops = NotificationChannelFactory(name="Ops", target=webhook.url)
    elsewhere = NotificationChannelFactory(name="Elsewhere", target="json://127.0.0.1:9/")
    drills = make_schedule(now=timezone.now(), name="Drills", task_type="BACKUP_RESTORE_DRILL",
                           schedule_kind="weekly", schedule_days=["sun"], schedule_time="03:00",
                           notify_channels=[ops.pk])
    for name in ("News", "Lawyers", "Cooking"):
        ChannelGroupFactory(name=name)
    backup = backup_create(now=NOW)
    good_file, good_manifest = tmp_path / "good", tmp_path / "good.json"
    shutil.copyfile(backup_dir / backup.file_name, good_file)
    shutil.copyfile(manifest_path(backup, backup_dir), good_manifest)
    alter_inside(backup, backup_dir, "DELETE FROM channels_channelgroup WHERE name = 'News'", tmp_path)

    assert run_now(drills).status == JobStatus.FAILED
    assert run_now(drills).status == JobStatus.FAILED  # still failing: no second alert

    assert sent_titles(webhook) == [
        f"Channel archive: Restore drill failed: backup #{backup.pk} does not restore as its manifest says"]
    message = webhook.messages[0]["message"]
    assert f"Backup #{backup.pk} ({backup.file_name}, made 2026-12-01 02:00 UTC), the file in BACKUP_DIR:" in message
    assert "table “channels_channelgroup”: 3 rows in the manifest, 2 restored." in message
    assert "Details: /backups" in message
    incident = Incident.objects.get()
    assert (incident.key, incident.kind, incident.schedule_id) == ("restore_drill_failed", "restore_drill_failed",
                                                                   drills.pk)
    assert not Delivery.objects.filter(channel=elsewhere).exists()  # the schedule chose Ops only

    # The file is put right: the next drill passes and says so.
    shutil.copyfile(good_file, backup_dir / backup.file_name)
    shutil.copyfile(good_manifest, manifest_path(backup, backup_dir))
    Backup.objects.filter(pk=backup.pk).update(sha256=backup.sha256)  # the object still holds the good one
    assert run_now(drills).status == JobStatus.COMPLETED

    assert sent_titles(webhook)[1:] == [
        f"Channel archive: back to normal: Restore drill failed: backup #{backup.pk} does not restore as its "
        "manifest says"]
    assert re.search(rf"A restore drill passed: backup #{backup.pk} \(the file in BACKUP_DIR: \d+ tables, [\d,]+ rows\)",
                     webhook.messages[1]["message"])
    incident.refresh_from_db()
    assert incident.resolved_at is not None


@sqlite_only
@pytest.mark.django_db(transaction=True)
def test_a_drill_that_could_not_look_opens_no_drill_incident(backup_dir):
    from tests.backups.test_drills import run_drill

    job = run_drill()  # no good backup

    assert job.status == JobStatus.FAILED
    assert not Incident.objects.exists()


# --- /metrics -------------------------------------------------------------------------------------


def gauges() -> dict:
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(metrics.scrape().decode()) for sample in family.samples}


@pytest.mark.django_db
def test_metrics_leave_the_drill_out_until_there_has_been_one():
    BackupFactory()

    assert not [name for name, _ in gauges() if "drill" in name]


@pytest.mark.django_db
def test_metrics_give_the_last_pass_and_the_last_outcome():
    passed_at = dt.datetime(2026, 11, 29, 3, 0, 12, tzinfo=UTC)
    BackupFactory(started_at=passed_at - dt.timedelta(days=1), drilled_at=passed_at, drill_outcome="passed")
    BackupFactory(started_at=passed_at - dt.timedelta(days=9), drilled_at=passed_at - dt.timedelta(days=7),
                  drill_outcome="passed")

    values = gauges()
    assert values[("archive_restore_drill_last_passed_timestamp_seconds", ())] == passed_at.timestamp()
    assert values[("archive_restore_drill_last_outcome", (("outcome", "passed"),))] == 1
    assert values[("archive_restore_drill_last_outcome", (("outcome", "failed"),))] == 0

    BackupFactory(started_at=passed_at + dt.timedelta(days=6), drilled_at=passed_at + dt.timedelta(days=7),
                  drill_outcome="failed", drill_detail="table “x”: 3 rows in the manifest, 2 restored")

    values = gauges()
    assert values[("archive_restore_drill_last_passed_timestamp_seconds", ())] == passed_at.timestamp()
    assert values[("archive_restore_drill_last_outcome", (("outcome", "passed"),))] == 0
    assert values[("archive_restore_drill_last_outcome", (("outcome", "failed"),))] == 1


@pytest.mark.django_db
def test_metrics_say_failed_when_no_drill_ever_passed():
    BackupFactory(drilled_at=NOW, drill_outcome="failed")

    values = gauges()
    assert ("archive_restore_drill_last_passed_timestamp_seconds", ()) not in values
    assert values[("archive_restore_drill_last_outcome", (("outcome", "failed"),))] == 1


# --- /backups -------------------------------------------------------------------------------------


@pytest.fixture
def viewer(client, backup_dir):
    client.force_login(grant(UserFactory(), "view_backup"))
    return client


def row_of(page: str, backup: Backup) -> str:
    start = page.index(f'<tr id="backup-{backup.pk}">')
    return page[start:page.index("</tr>", start)]


@pytest.mark.django_db
def test_the_list_says_when_a_backup_was_restore_tested_and_what_came_back(viewer):
    tested = BackupFactory(drilled_at=dt.datetime(2026, 11, 29, 3, 0, 12, tzinfo=UTC), drill_outcome="passed",
                           drill_tables=41, drill_rows=12345, drill_seconds=2.06)
    never = BackupFactory(started_at=dt.datetime(2026, 10, 1, 2, 0, tzinfo=UTC))

    page = viewer.get("/backups").content.decode()

    row = row_of(page, tested)
    assert '<span class="badge badge-ok">Restore-tested</span> on <time datetime="2026-11-29T03:00:12+00:00"' in row
    assert "(41 tables, 12,345 rows, 2.1 s)" in row
    assert "Restore" not in row_of(page, never)


@pytest.mark.django_db
def test_the_list_says_a_drill_failed_and_why(viewer):
    failed = BackupFactory(drilled_at=dt.datetime(2026, 11, 29, 3, 0, 12, tzinfo=UTC), drill_outcome="failed",
                           drill_detail="table “channels_video”: 1,200 rows in the manifest, 1,150 restored.")

    row = row_of(viewer.get("/backups").content.decode(), failed)

    assert '<span class="badge badge-error">Restore drill failed</span> on <time' in row
    assert "table “channels_video”: 1,200 rows in the manifest, 1,150 restored." in row


@pytest.mark.django_db
def test_a_pass_with_a_note_shows_the_note(viewer):
    noted = BackupFactory(drilled_at=NOW, drill_outcome="passed", drill_tables=3, drill_rows=1, drill_seconds=0.4,
                          drill_detail="Row counts not compared: the manifest has none.")

    row = row_of(viewer.get("/backups").content.decode(), noted)

    assert "(3 tables, 1 row, 0.4 s)" in row
    assert "Row counts not compared: the manifest has none." in row
