"""/backups: the schedule in words with its freshness warning, the list, the space used, how to restore; and the
schedule's buttons (enable/disable, Run now) from the page (works / validates / permissions / method / bad id)."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from backups import selectors
from backups.models import Backup, BackupStatus
from jobs.models import Job
from scheduling import services as scheduling_services
from scheduling.models import ScheduleAuditEntry, ScheduledTask
from tests.backups.conftest import with_file
from tests.factories import BackupFactory, UserFactory, grant

pytestmark = pytest.mark.django_db

BACKUPS = ("view_backup", "change_backup", "delete_backup", "download_backup")
SCHEDULES = ("view_scheduledtask", "add_scheduledtask", "change_scheduledtask", "delete_scheduledtask")
HTMX = {"HTTP_HX_REQUEST": "true"}
UTC = dt.timezone.utc


@pytest.fixture
def manager(client, backup_dir):
    client.force_login(grant(UserFactory(username="alice"), *BACKUPS, *SCHEDULES))
    return client


@pytest.fixture
def viewer(client, backup_dir):
    client.force_login(grant(UserFactory(), "view_backup"))
    return client


def backup_schedule(**fields) -> ScheduledTask:
    base = {"name": "Nightly backup", "task_type": "DATABASE_BACKUP", "schedule_kind": "daily",
            "schedule_time": "02:00", "params": {"retention_days": 14, "cleanup_old": True}}
    return scheduling_services.schedule_save(schedule=ScheduledTask(**{**base, **fields}), now=timezone.now())


def ago(**delta) -> dt.datetime:
    return timezone.now() - dt.timedelta(**delta)


# --- the page ---------------------------------------------------------------------------------

def test_it_shows_the_schedule_the_last_result_and_the_backups(manager, backup_dir):
    schedule = backup_schedule()
    good = BackupFactory(started_at=ago(hours=5), size_bytes=2_500_000, database_size_bytes=10_000_000,
                         duration_seconds=3.2, sha256="ab" * 32)
    with_file(good, backup_dir, b"x" * 1000)
    failed = BackupFactory(status="failed", started_at=ago(hours=1), error="The disk is full: no space left.",
                           size_bytes=None, sha256="")
    BackupFactory(status="skipped", started_at=ago(minutes=30), note="A verified backup of this window exists.",
                  size_bytes=None, sha256="")

    response = manager.get("/backups")
    content = response.content.decode()

    assert response.status_code == 200
    assert "Nightly backup</a>: Every day at 02:00 (UTC)" in content
    assert "Backups of the last 14 days: older ones are deleted after each successful backup" in content
    assert [b.pk for b in response.context["backups"]] == [failed.pk, good.pk]  # skipped runs hidden by default
    last_result = content.split('id="last-result"')[1].split("</dd>")[0]
    assert "Failed" in last_result and "The disk is full: no space left." in last_result
    last_good = content.split('id="last-good"')[1].split("</dd>")[0]
    assert f"#{good.pk}" in last_good and "5 h old" in last_good and "a warning shows after 2 d" in last_good
    assert "Warning:" not in content
    row = content.split(f'id="backup-{good.pk}"')[1].split("</tr>")[0]
    assert "2.5 MB" in row and "4.0×" in row and "3.2 s" in row and "Verified" in row
    assert f'title="SHA-256 {"ab" * 32}"' in row and f">{'ab' * 6}…</code>" in row
    assert f'href="/backups/{good.pk}/download"' in row and f'hx-get="/backups/{good.pk}/delete"' in row
    assert "holds 1 backup file and its manifest, using <strong>1.0 kB</strong>" in content.replace("1.0 KB", "1.0 kB")
    assert "manage.py restore_backup &lt;number&gt;" in content and "pre_restore" in content
    assert "Stop the worker and the scheduler" in content
    assert manager.get("/backups?skipped=1").context["backups"][0].status == BackupStatus.SKIPPED
    assert f"/schedules/{schedule.pk}/edit?task_type=DATABASE_BACKUP&amp;next=%2Fbackups" in content


@pytest.mark.parametrize(("kind", "fields", "warn_after"), [
    ("daily", {"schedule_time": "02:00"}, dt.timedelta(days=2)),
    ("weekly", {"schedule_time": "02:00", "schedule_days": ["mon", "fri"]}, dt.timedelta(days=8)),
    ("interval", {"interval_minutes": 360}, dt.timedelta(hours=12)),
])
def test_it_warns_when_the_newest_good_backup_is_older_than_two_intervals(manager, kind, fields, warn_after):
    backup_schedule(schedule_kind=kind, **fields)
    backup = BackupFactory(started_at=ago(seconds=warn_after.total_seconds() - 600))
    assert "Warning:" not in manager.get("/backups").content.decode()

    Backup.objects.filter(pk=backup.pk).update(started_at=ago(seconds=warn_after.total_seconds() + 600))
    content = manager.get("/backups").content.decode()
    assert "<strong>Warning:</strong> The newest good backup is older than 2 of the schedule's intervals" in content


def test_it_warns_when_no_backup_is_good_and_ignores_failed_verifications(manager):
    backup_schedule()
    BackupFactory(started_at=ago(hours=1), verify_error="The checksum does not match.")
    content = manager.get("/backups").content.decode()
    assert "There is no good backup" in content
    assert "The checksum does not match." in content


def test_it_offers_to_create_the_schedule_when_there_is_none(manager):
    response = manager.get("/backups")
    content = response.content.decode()
    assert "No backup schedule: backups are made only when someone starts one." in content
    assert "Run now" not in content and "toggle-backup-schedule" not in content
    url = response.context["editor_url"]
    assert url.startswith("/schedules/new?task_type=DATABASE_BACKUP&name=Daily+database+backup")
    form = manager.get(url, **HTMX).content.decode()
    assert 'value="Daily database backup"' in form and 'value="02:00"' in form
    assert 'name="database_backup-retention_days" value="30"' in form
    assert 'id="id_database_backup-cleanup_old" checked' in form
    assert 'name="task_type"' in form and 'type="hidden" name="task_type" value="DATABASE_BACKUP"' in form


@pytest.mark.default_backup_schedule
def test_it_shows_the_migrations_default_schedule(manager):
    content = manager.get("/backups").content.decode()
    assert "Daily database backup</a>: Every day at 02:00 (UTC)" in content
    assert "Backups of the last 30 days" in content


def test_it_answers_in_a_constant_number_of_queries(manager, django_assert_max_num_queries):
    backup_schedule()

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert manager.get("/backups").status_code == 200
        return len(captured)

    BackupFactory(job=Job.objects.create(job_type="DATABASE_BACKUP", origin_label="Schedule “Nightly backup”"))
    few = queries()
    for n in range(12):
        job = Job.objects.create(job_type="DATABASE_BACKUP", origin_label=f"Run now by bob {n}")
        BackupFactory(started_at=ago(days=n + 1), job=job)
        BackupFactory(status="deleted", started_at=ago(days=n + 1, hours=1), note="Deleted by retention.")
    assert queries() == few


def test_it_links_a_backup_to_its_job_only_for_a_user_who_may_open_jobs(client, viewer):
    """A backup viewer without jobs.view_job reads which job made it, with no link that ends in a 403."""
    job = Job.objects.create(job_type="DATABASE_BACKUP", origin_label="Schedule “Nightly backup”")
    BackupFactory(job=job)

    content = viewer.get("/backups").content.decode()
    assert f"Job #{job.pk}" in content and f'href="/jobs/{job.pk}"' not in content
    assert viewer.get(f"/jobs/{job.pk}").status_code == 403

    client.force_login(grant(UserFactory(), "view_backup", "view_job"))
    assert f'<a href="/jobs/{job.pk}">Job #{job.pk}</a>' in client.get("/backups").content.decode()


def test_it_refreshes_its_region_while_a_backup_job_waits(manager):
    schedule = backup_schedule()
    content = manager.get("/backups", HTTP_HX_TARGET="backups-region", **HTMX).content.decode()
    assert content.lstrip().startswith("<div id=\"backups-region\"") and "backups-region-watch" not in content
    scheduling_services.schedule_run_now(schedule=schedule, now=timezone.now())
    content = manager.get("/backups", HTTP_HX_TARGET="backups-region", **HTMX).content.decode()
    assert 'id="backups-region-watch"' in content and "every 1s" in content and "<html" not in content


def test_it_hides_what_the_user_may_not_do(viewer):
    backup = BackupFactory()
    backup_schedule()
    content = viewer.get("/backups").content.decode()
    assert f"#{backup.pk}" in content
    for hidden in ("Verify now", "Download", "Delete…", "Run now", "Configure Schedule", "toggle-backup-schedule"):
        assert hidden not in content, hidden


def test_it_needs_the_view_permission(client, backup_dir):
    client.force_login(grant(UserFactory(), *SCHEDULES))
    assert client.get("/backups").status_code == 403
    client.logout()
    response = client.get("/backups")
    assert response.status_code == 403 or response["Location"].startswith("/login/")


def test_it_rejects_a_post_to_the_page(manager):
    assert manager.post("/backups").status_code == 405


@pytest.mark.parametrize(("delta", "expected"), [
    ({"schedule_kind": "daily", "schedule_time": "02:00"}, dt.timedelta(days=1)),
    ({"schedule_kind": "weekly", "schedule_time": "04:00", "schedule_days": ["mon", "wed", "fri"]},
     dt.timedelta(days=3)),
    ({"schedule_kind": "cron", "cron_expr": "0 3 1 * *"}, dt.timedelta(days=31)),
])
def test_it_takes_the_longest_gap_of_the_coming_runs_as_the_interval(delta, expected):
    schedule = ScheduledTask(name="x", task_type="DATABASE_BACKUP", **delta)
    assert selectors.schedule_interval(schedule=schedule, now=dt.datetime(2026, 12, 1, tzinfo=UTC)) == expected


# --- enable/disable, Run now ------------------------------------------------------------------

def test_it_disables_and_enables_the_schedule(manager):
    schedule = backup_schedule()
    response = manager.post(f"/backups/schedule/{schedule.pk}/toggle", {"enabled": "false"}, **HTMX)
    assert response.status_code == 200 and response["HX-Reswap"] == "none"
    assert "backups-changed" in response["HX-Trigger"]
    assert "Backups off: “Nightly backup” is disabled" in response.content.decode()
    schedule.refresh_from_db()
    assert (schedule.enabled, schedule.next_run_at) == (False, None)
    entry = ScheduleAuditEntry.objects.filter(schedule=schedule).latest("pk")
    assert (entry.action, entry.via, entry.actor_name) == ("disable", "page", "alice")

    response = manager.post(f"/backups/schedule/{schedule.pk}/toggle", {"enabled": "true"})
    assert response.status_code == 302 and response["Location"] == "/backups"
    schedule.refresh_from_db()
    assert schedule.enabled and schedule.next_run_at is not None


def test_it_says_why_a_schedule_cannot_be_enabled(manager):
    schedule = backup_schedule(enabled=False)
    ScheduledTask.objects.filter(pk=schedule.pk).update(params={"retention_days": 0})
    response = manager.post(f"/backups/schedule/{schedule.pk}/toggle", {"enabled": "true"}, **HTMX)
    content = response.content.decode()
    assert "was not enabled:" in content and 'role="alert"' in content
    assert not ScheduledTask.objects.get(pk=schedule.pk).enabled


def test_it_runs_the_schedule_now_and_says_no_worker_runs(manager):
    schedule = backup_schedule()
    response = manager.post(f"/backups/schedule/{schedule.pk}/run_now", **HTMX)
    content = response.content.decode()
    assert response.status_code == 200 and "backups-changed" in response["HX-Trigger"]
    assert "“Nightly backup” started: 1 job created." in content
    assert "No worker is running, so the jobs wait until one starts" in content
    job = Job.objects.get()
    assert (job.job_type, job.params["force_backup"]) == ("DATABASE_BACKUP", True)
    assert "(Run now by alice)" in job.origin_label


def test_it_refuses_a_second_run_now_while_one_waits_and_offers_to_force(manager):
    schedule = backup_schedule()
    manager.post(f"/backups/schedule/{schedule.pk}/run_now", **HTMX)
    content = manager.post(f"/backups/schedule/{schedule.pk}/run_now", **HTMX).content.decode()
    assert "is still busy with an earlier run: 1 job queued (waiting for a worker)." in content
    assert f'hx-post="/backups/schedule/{schedule.pk}/run_now"' in content and "Run anyway" in content
    assert Job.objects.count() == 1
    manager.post(f"/backups/schedule/{schedule.pk}/run_now", {"force": "1"}, **HTMX)
    assert Job.objects.count() == 2


def test_the_schedule_buttons_need_the_change_permission(client, backup_dir):
    schedule = backup_schedule()
    client.force_login(grant(UserFactory(), *BACKUPS, "view_scheduledtask", "add_scheduledtask"))
    assert client.post(f"/backups/schedule/{schedule.pk}/toggle", {"enabled": "false"}).status_code == 403
    assert client.post(f"/backups/schedule/{schedule.pk}/run_now").status_code == 403
    assert ScheduledTask.objects.get().enabled and not Job.objects.exists()


@pytest.mark.parametrize("action", ["toggle", "run_now"])
def test_the_schedule_buttons_reject_get_and_bad_ids(manager, action):
    schedule = backup_schedule()
    other = ScheduledTask.objects.create(name="Not a backup", task_type="QUICK_SYNC_GROUP",
                                         params={"group_id": 1}, schedule_time="05:30")
    assert manager.get(f"/backups/schedule/{schedule.pk}/{action}").status_code == 405
    assert manager.post(f"/backups/schedule/999999/{action}").status_code == 404
    assert manager.post(f"/backups/schedule/{other.pk}/{action}").status_code == 404  # only backup schedules
    assert not Job.objects.exists()
