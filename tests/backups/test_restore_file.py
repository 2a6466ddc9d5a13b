"""restore_backup --file: a backup file and the manifest beside it, no record needed (SQLite; PostgreSQL in
test_restore_postgres.py).

The backup is a real one of the test database (an SQLite file in WAL mode) holding what a live database
holds: data, jobs queued and running, a cache entry, and its own backup row, running while it was copied.
Into a database that does not exist yet, or is empty, the restore runs as on a fresh install: `manage.py` in
a process of its own with DATABASE_URL pointing there, and the app then opens the result. Into the app's
own database in use, it runs in this process.
"""

import json
import shutil
import sqlite3
from contextlib import redirect_stdout
from io import StringIO
from pathlib import Path

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from backups import files
from backups.errors import BackupError, ManifestProblem, RestoredWithProblems, RestoreRefused
from backups.models import Backup, BackupPurpose, BackupStatus
from backups.services import restoring
from backups.services.making import backup_create
from backups.services.restoring import backup_restore_file
from backups.sources import Database
from channels.models import ChannelGroup
from jobs.models import Job, JobStatus
from tests.backups.apps import manage, sqlite_rows, sqlite_url
from tests.backups.conftest import folder_names, read_only_folder, sqlite_only
from tests.factories import ChannelGroupFactory, JobFactory

pytestmark = [pytest.mark.django_db(transaction=True), sqlite_only]


@pytest.fixture
def source(backup_dir):
    """A backup of a database in use: two groups, a job running and one queued, a cache entry."""
    for name in ("News", "Lawyers"):
        ChannelGroupFactory(name=name)
    jobs = {"running": JobFactory(job_type="TEST_OK", status=JobStatus.RUNNING, attempts=1, started_at=timezone.now()),
            "queued": JobFactory(job_type="TEST_OK", status=JobStatus.QUEUED)}
    cache.set("cluster-status", "alive at backup time", timeout=None)
    backup = backup_create(now=timezone.now())
    return backup, jobs


def restore(*args: str) -> str:
    out = StringIO()
    call_command("restore_backup", *args, stdout=out, stderr=out)
    return out.getvalue()


def group_names() -> list[str]:
    return sorted(ChannelGroup.objects.values_list("name", flat=True))


# --- a fresh install: the database does not exist yet, or is empty ----------------------------------


@pytest.mark.integration
@pytest.mark.parametrize("state", ["missing", "empty"])
def test_it_restores_into_a_fresh_installs_database_and_the_app_opens_it(source, backup_dir, tmp_path, state):
    backup, jobs = source
    target = tmp_path / "fresh" / "db.sqlite3"
    target.parent.mkdir()
    if state == "empty":
        target.touch()
    else:  # the lost database's write-ahead log, left beside where the restored one goes
        target.with_name("db.sqlite3-wal").write_bytes(b"an old WAL")
    url = sqlite_url(target)

    result = manage("restore_backup", "--file", str(backup_dir / backup.file_name), "--yes",
                    database_url=url, backup_dir=backup_dir)
    output = result.stdout + result.stderr

    was = {"missing": "it did not exist yet", "empty": "it was empty"}[state]
    assert (f"Restored backup #{backup.pk} ({backup.file_name}) into the SQLite database {target} ({was}); the "
            "restored database passes its integrity check.") in output
    assert sqlite_rows(target, "SELECT name FROM channels_channelgroup ORDER BY name") == [("Lawyers",), ("News",)]
    # Its own backup, running in the copy: recorded from its manifest, the lock free.
    assert f"Backup #{backup.pk} was running in the copy; its file and manifest are in BACKUP_DIR" in output
    [(status, sha256, restored_at)] = sqlite_rows(target, "SELECT status, sha256, restored_at FROM backups_backup "
                                                          "WHERE id = ?", backup.pk)
    assert (status, sha256) == ("completed", backup.sha256) and restored_at is not None
    # The copy's jobs: their workers are gone.
    assert "Interrupted 2 jobs that were active in the restored copy" in output
    assert f"#{jobs['running'].pk} TEST_OK (was running)" in output and f"#{jobs['queued'].pk} TEST_OK (was queued)" in output
    assert sqlite_rows(target, "SELECT status, substr(error, 1, 27) FROM jobs_job ORDER BY id") == [
        ("cancelled", "Interrupted by a restore: t")] * 2
    assert "Emptied the cache table django_cache." in output
    assert sqlite_rows(target, "SELECT count(*) FROM django_cache") == [(0,)]
    assert "pre_restore" not in output and "just before" not in output  # nothing was there to keep
    if state == "missing":
        assert target.with_name("db.sqlite3-wal.before-restore").read_bytes() == b"an old WAL"
        assert ("db.sqlite3-wal, left by an earlier database there, was moved aside to db.sqlite3-wal.before-restore"
                in output)
    assert sorted(p.name for p in target.parent.iterdir() if "restoring" in p.name) == []  # no scratch left
    # The app starts on it: nothing to migrate, the backup listed, nothing left to adopt.
    manage("migrate", "--check", database_url=url, backup_dir=backup_dir)
    listing = manage("list_backups", database_url=url, backup_dir=backup_dir).stdout
    assert backup.file_name in listing and "Completed" in listing
    assert "Adopted 0 backup files" in manage("adopt_backups", database_url=url, backup_dir=backup_dir).stdout


@pytest.mark.integration
def test_it_adopts_the_backups_made_after_the_one_restored(source, backup_dir, tmp_path):
    backup, _ = source
    later = backup_create(now=timezone.now())
    target = tmp_path / "fresh.sqlite3"

    output = manage("restore_backup", "--file", str(backup_dir / backup.file_name), "--yes",
                    database_url=sqlite_url(target), backup_dir=backup_dir).stdout

    assert f"{later.file_name}: registered as #{later.pk}." in output
    assert sqlite_rows(target, "SELECT id, status FROM backups_backup ORDER BY id") == [
        (backup.pk, "completed"), (later.pk, "completed")]


@pytest.mark.integration
def test_it_refuses_a_database_that_is_not_the_apps(source, backup_dir, tmp_path):
    backup, _ = source
    target = tmp_path / "other.sqlite3"
    import sqlite3

    other = sqlite3.connect(target)
    other.execute("CREATE TABLE notes (body TEXT)")
    other.execute("INSERT INTO notes VALUES ('mine')")
    other.commit()
    other.close()

    result = manage("restore_backup", "--file", str(backup_dir / backup.file_name), "--yes",
                    database_url=sqlite_url(target), backup_dir=backup_dir, ok=False)

    assert result.returncode != 0
    assert ("holds 1 table (notes) but is not this app's database" in result.stderr
            and "The database was not changed" in result.stderr)
    assert sqlite_rows(target, "SELECT body FROM notes") == [("mine",)]


# --- the app's own database, in use ------------------------------------------------------------------


def test_it_restores_over_the_database_in_use_after_a_pre_restore_backup(source, backup_dir):
    backup, _ = source
    ChannelGroup.objects.filter(name="News").delete()
    ChannelGroupFactory(name="Written after the backup")

    output = restore("--file", str(backup_dir / backup.file_name), "--yes")

    assert group_names() == ["Lawyers", "News"]
    pre_restore = Backup.objects.get(purpose=BackupPurpose.PRE_RESTORE)
    assert pre_restore.status == BackupStatus.COMPLETED
    assert pre_restore.note.endswith(" by the restore.")  # the restored database knew it not: adopted
    assert f"The data from just before is in backup #{pre_restore.pk} ({pre_restore.file_name})" in output
    assert Backup.objects.get(pk=backup.pk).restored_at is not None
    # And the pre_restore backup puts it back.
    restore(str(pre_restore.pk), "--yes")
    assert group_names() == ["Lawyers", "Written after the backup"]


def test_a_file_without_a_manifest_needs_no_manifest_spelled_out(source, backup_dir):
    backup, jobs = source
    (backup_dir / files.manifest_name(backup.file_name)).unlink()
    ChannelGroupFactory(name="Written later")

    with pytest.raises(CommandError, match=f"There is no manifest {backup.file_name}.json beside the file.* add "
                                           "--no-manifest .*The database was not changed"):
        restore("--file", str(backup_dir / backup.file_name), "--yes", "--force")
    assert group_names() == ["Lawyers", "News", "Written later"]
    assert not Backup.objects.filter(purpose=BackupPurpose.PRE_RESTORE).exists()

    output = restore("--file", str(backup_dir / backup.file_name), "--yes", "--no-manifest")

    assert "Note: Restored without a manifest" in output and "its integrity was checked" in output
    assert group_names() == ["Lawyers", "News"]
    # Without a manifest the file is all there is to name what was restored.
    assert Job.objects.get(pk=jobs["queued"].pk).error.startswith(
        f"Interrupted by a restore: the database was restored from the file {backup.file_name} on ")


def test_a_file_without_a_manifest_still_passes_the_integrity_check(source, backup_dir):
    backup, _ = source
    path = backup_dir / backup.file_name
    (backup_dir / files.manifest_name(backup.file_name)).unlink()
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    ChannelGroupFactory(name="Written later")

    with pytest.raises(CommandError, match="cannot be decompressed in full.*truncated.*The database was not changed"):
        restore("--file", str(path), "--yes", "--no-manifest", "--force")
    assert group_names() == ["Lawyers", "News", "Written later"]


def test_a_checksum_mismatch_is_never_restored_even_forced(source, backup_dir):
    backup, _ = source
    path = backup_dir / backup.file_name
    damaged = bytearray(path.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    path.write_bytes(bytes(damaged))
    ChannelGroupFactory(name="Written later")

    for flags in (["--yes"], ["--yes", "--force"], ["--yes", "--force", "--no-manifest"]):
        with pytest.raises(CommandError, match="The checksum of .* does not match .* never restored, not even with "
                                               "--force"):
            restore("--file", str(path), *flags)
    assert group_names() == ["Lawyers", "News", "Written later"]
    assert not Backup.objects.filter(purpose=BackupPurpose.PRE_RESTORE).exists()


@pytest.fixture
def future_migration():
    yield "9999_from_the_future"
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM django_migrations WHERE name = '9999_from_the_future'")


def test_a_backup_of_a_newer_version_needs_force(backup_dir, future_migration):
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO django_migrations (app, name, applied) VALUES ('backups', '9999_from_the_future', "
                       "'2026-12-01 00:00:00')")
    backup = backup_create(now=timezone.now())
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM django_migrations WHERE name = '9999_from_the_future'")
    ChannelGroupFactory(name="Written later")

    with pytest.raises(CommandError, match="1 migration this code does not know \\(backups.9999_from_the_future\\): "
                                           "it was made by a newer version of the app; "
                                           "upgrade the app first.*use --force"):
        restore("--file", str(backup_dir / backup.file_name), "--yes")
    assert group_names() == ["Written later"]

    output = restore("--file", str(backup_dir / backup.file_name), "--yes", "--force")
    assert "Restored despite: The backup's migrations do not match the code" in output
    assert group_names() == []


def test_a_backup_of_an_older_version_is_migrated_once_forced(backup_dir):
    # The app as an older version left it: one migration short (core's API tokens came later). An app
    # whose tables the backup itself writes (backups) cannot be the one rolled back: this code's
    # backup_create needs its current columns.
    call_command("migrate", "core", "zero", verbosity=0)
    try:
        ChannelGroupFactory(name="From the older version")
        backup = backup_create(now=timezone.now())
    finally:
        call_command("migrate", verbosity=0)
    ChannelGroupFactory(name="Written later")

    with pytest.raises(CommandError, match="it lacks 1 migration of this code \\(core.0001_api_token\\): it was made by "
                                           "an older version of the app; restored anyway, it is migrated at once\\."):
        restore("--file", str(backup_dir / backup.file_name), "--yes")

    with redirect_stdout(StringIO()) as process_output:
        output = restore("--file", str(backup_dir / backup.file_name), "--yes", "--force")

    assert "Migrated the restored database: 1 migration(s) of this code it lacked (core.0001_api_token)" in output
    assert process_output.getvalue() == ""  # the report alone: not migrate's own lines before it
    assert group_names() == ["From the older version"]
    from django.db.migrations.recorder import MigrationRecorder

    assert MigrationRecorder.Migration.objects.filter(app="core", name="0001_api_token").exists()


def test_it_empties_the_cache_and_interrupts_the_copys_jobs_in_use_too(source, backup_dir):
    backup, jobs = source
    cache.set("written-after", "gone after the restore")
    after = JobFactory(job_type="TEST_OK", status=JobStatus.QUEUED)

    output = restore("--file", str(backup_dir / backup.file_name), "--yes")

    assert cache.get("cluster-status") is None and cache.get("written-after") is None
    assert {job.pk: job.status for job in Job.objects.all()} == {jobs["running"].pk: JobStatus.CANCELLED,
                                                                 jobs["queued"].pk: JobStatus.CANCELLED}
    assert not Job.objects.filter(pk=after.pk).exists()  # it was not in the backup
    assert "Interrupted 2 jobs" in output
    assert Job.objects.get(pk=jobs["queued"].pk).error.startswith(
        f"Interrupted by a restore: the database was restored from backup #{backup.pk} ({backup.file_name}), made ")


def test_it_names_one_backup(backup_dir):
    with pytest.raises(CommandError, match="Name one backup"):
        restore("--yes")
    with pytest.raises(CommandError, match="Name one backup"):
        restore("3", "--file", "x", "--yes")
    with pytest.raises(CommandError, match="--no-manifest goes with --file"):
        restore("3", "--no-manifest", "--yes")
    with pytest.raises(CommandError, match="There is no file /nowhere/db.sqlite3.zst"):
        restore("--file", "/nowhere/db.sqlite3.zst", "--yes")


def test_a_file_that_is_no_backup_is_refused_without_a_manifest(backup_dir, tmp_path):
    stray = tmp_path / "notes.txt"
    stray.write_text("not a backup")

    with pytest.raises(CommandError, match="notes.txt is neither a zstd-compressed SQLite database nor a pg_dump "
                                           "archive: it is not a backup of this app. The database was not changed"):
        restore("--file", str(stray), "--yes", "--no-manifest")
    assert folder_names(backup_dir) == []


def test_a_manifest_says_how_to_restore_it_and_an_older_one_without_that_still_restores(source, backup_dir):
    backup, _ = source
    manifest_path = backup_dir / files.manifest_name(backup.file_name)
    manifest = json.loads(manifest_path.read_text())
    restore_entry = manifest["restore"]
    assert f"echo '{backup.sha256}  {backup.file_name}' | sha256sum -c" in restore_entry["commands"]
    assert "zstd -d" in restore_entry["in_words"] and "PRAGMA integrity_check" in restore_entry["in_words"]
    assert restore_entry["with_the_app"] == f"manage.py restore_backup --file {backup.file_name}"
    assert restore_entry["guide"] == "docs/restore.md"
    # A manifest as the first version wrote it: none of the keys added since.
    for key in ("restore", "finished_at", "verified_at", "duration_seconds", "schedule_name", "worker"):
        manifest.pop(key)
    manifest_path.write_text(json.dumps(manifest))
    ChannelGroupFactory(name="Written later")

    restore("--file", str(backup_dir / backup.file_name), "--yes")

    assert group_names() == ["Lawyers", "News"]
    assert Backup.objects.get(pk=backup.pk).status == BackupStatus.COMPLETED


# --- another database, restored in this process (the fresh install's way, without its process) ---------


def another(path: Path) -> Database:
    return Database(vendor="sqlite", name=str(path))


@pytest.mark.parametrize("state", ["missing", "empty"])
def test_it_restores_into_a_database_that_is_missing_or_empty(source, backup_dir, tmp_path, state):
    backup, _ = source
    target = tmp_path / "fresh.sqlite3"
    if state == "empty":
        target.touch()
    else:  # the lost database's write-ahead log, left beside where the restored one goes
        target.with_name("fresh.sqlite3-wal").write_bytes(b"an old WAL")

    report = backup_restore_file(path=backup_dir / backup.file_name, now=timezone.now(), database=another(target))

    moved = ["fresh.sqlite3-wal, left by an earlier database there, was moved aside to "
             "fresh.sqlite3-wal.before-restore (SQLite would have replayed it into the restored database)."]
    assert (report.database_was, report.pre_restore, report.warnings) == (state, None, moved if state == "missing" else [])
    assert sqlite_rows(target, "SELECT name FROM channels_channelgroup ORDER BY name") == [("Lawyers",), ("News",)]
    left = ["backups", "fresh.sqlite3"] + (["fresh.sqlite3-wal.before-restore"] if state == "missing" else [])
    assert sorted(p.name for p in tmp_path.iterdir()) == left  # no scratch copy left
    assert folder_names(backup_dir) == [backup.file_name, backup.file_name + ".json"]


def test_a_file_from_outside_backup_dir_restores_with_a_word_on_where_it_belongs(source, backup_dir, tmp_path):
    backup, _ = source
    elsewhere = tmp_path / "usb-stick"
    elsewhere.mkdir()
    for name in (backup.file_name, files.manifest_name(backup.file_name)):
        shutil.copy(backup_dir / name, elsewhere / name)

    report = backup_restore_file(path=elsewhere / backup.file_name, now=timezone.now(),
                                 database=another(tmp_path / "fresh.sqlite3"))

    assert report.warnings == [f"{backup.file_name} is not in BACKUP_DIR ({backup_dir}): copy it there with its "
                               "manifest, so that the app lists it and its retention and verification apply."]


@pytest.mark.parametrize(("tables", "held"), [
    (["notes"], "1 table (notes)"),
    (["a", "b", "c", "d", "e"], "5 tables (a, b, c, d, e)"),
    (["a", "b", "c", "d", "e", "f"], "6 tables (a, b, c, d, e, …)"),
])
def test_it_refuses_a_database_that_is_not_the_apps_and_says_what_it_holds(source, backup_dir, tmp_path, tables,
                                                                            held):
    backup, _ = source
    target = tmp_path / "other.sqlite3"
    other = sqlite3.connect(target)
    for table in tables:
        other.execute(f"CREATE TABLE {table} (x)")
    other.commit()
    other.close()

    with pytest.raises(RestoreRefused) as refused:
        backup_restore_file(path=backup_dir / backup.file_name, now=timezone.now(), database=another(target))

    assert str(refused.value) == (
        f"The SQLite database {target} holds {held} but is not this app's database (it has no django_migrations and "
        "backups_backup tables). Nothing was changed: point DATABASE_URL at this app's database, or at an empty or "
        "new one.")
    assert sqlite_rows(target, "SELECT name FROM sqlite_master ORDER BY name") == [(table,) for table in tables]


def test_a_sqlite_backup_is_never_restored_into_postgresql(source, backup_dir):
    backup, _ = source

    with pytest.raises(RestoreRefused) as refused:  # refused before any connection is made
        backup_restore_file(path=backup_dir / backup.file_name, now=timezone.now(),
                            database=Database(vendor="postgresql", name="app"))

    assert str(refused.value) == f"{backup.file_name} is a sqlite backup; the database is postgresql."


def test_a_manifest_is_never_applied_to_another_file(source, backup_dir, tmp_path):
    backup, _ = source
    renamed = tmp_path / "renamed.sqlite3.zst"
    shutil.copy(backup_dir / backup.file_name, renamed)
    shutil.copy(backup_dir / files.manifest_name(backup.file_name), tmp_path / "renamed.sqlite3.zst.json")

    with pytest.raises(ManifestProblem) as refused:
        backup_restore_file(path=renamed, now=timezone.now(), database=another(tmp_path / "fresh.sqlite3"))

    assert str(refused.value) == (f"The manifest renamed.sqlite3.zst.json describes {backup.file_name}, not "
                                  "renamed.sqlite3.zst.")
    assert not (tmp_path / "fresh.sqlite3").exists()


def test_a_failure_after_the_restore_says_the_data_is_back_and_where_the_data_from_before_is(
        source, backup_dir, monkeypatch):
    backup, _ = source

    def adoption_fails(**kwargs):
        raise BackupError("BACKUP_DIR could not be read.")

    monkeypatch.setattr(restoring, "backups_adopt", adoption_fails)

    with pytest.raises(RestoredWithProblems) as raised:
        backup_restore_file(path=backup_dir / backup.file_name, now=timezone.now())

    [pre_restore] = [name for name in folder_names(backup_dir) if name.endswith(".zst") and name != backup.file_name]
    pre_restore_id = files.FILE_NAME.fullmatch(pre_restore)["id"]
    assert str(raised.value) == (
        f"Backup #{backup.pk} ({backup.file_name}), made {backup.started_at:%Y-%m-%d %H:%M} UTC was restored, but "
        f"then: BACKUP_DIR could not be read. The data from just before the restore is in backup #{pre_restore_id} "
        f"({pre_restore}).")
    assert group_names() == ["Lawyers", "News"]


@pytest.fixture
def six_future_migrations():
    yield
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM django_migrations WHERE name LIKE '9999_future_%'")


@pytest.mark.parametrize(("count", "more"), [(5, ""), (6, ", …")])
def test_a_backup_of_a_newer_version_names_the_first_five_migrations_it_has_more(backup_dir, six_future_migrations,
                                                                                 count, more):
    with connection.cursor() as cursor:
        for n in range(1, count + 1):
            cursor.execute("INSERT INTO django_migrations (app, name, applied) VALUES ('backups', %s, "
                           "'2026-12-01 00:00:00')", [f"9999_future_{n}"])
    backup = backup_create(now=timezone.now())
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM django_migrations WHERE name LIKE '9999_future_%'")

    with pytest.raises(CommandError) as refused:
        restore("--file", str(backup_dir / backup.file_name), "--yes")

    assert (f"it has {count} migrations this code does not know (backups.9999_future_1, backups.9999_future_2, "
            f"backups.9999_future_3, backups.9999_future_4, backups.9999_future_5{more}): it was made by a newer "
            "version of the app; upgrade the app first.") in str(refused.value)


def test_a_restore_copy_the_backup_folder_refuses_is_named_and_nothing_is_changed(source, backup_dir, tmp_path):
    backup, _ = source
    target = tmp_path / "empty.sqlite3"  # an empty database: the copy is decompressed in BACKUP_DIR
    target.touch()

    with read_only_folder(backup_dir), pytest.raises(BackupError) as refused:
        backup_restore_file(path=backup_dir / backup.file_name, now=timezone.now(), database=another(target))

    assert str(refused.value) == (f"Not allowed to write the restore copy in {backup_dir}: Permission denied. Check "
                                  "the folder's owner and permissions.")
    assert target.stat().st_size == 0


def test_a_restore_killed_midway_leaves_a_copy_that_never_blocks_a_later_restore(source, backup_dir, tmp_path,
                                                                                 monkeypatch):
    backup, _ = source
    unlink = Path.unlink

    def killed_before_cleaning_up(path, missing_ok=False):  # the process died before its `finally`
        if ".restore-" not in path.name:
            unlink(path, missing_ok=missing_ok)

    with monkeypatch.context() as killed:
        killed.setattr(Path, "unlink", killed_before_cleaning_up)
        (tmp_path / "first.sqlite3").touch()
        backup_restore_file(path=backup_dir / backup.file_name, now=timezone.now(),
                            database=another(tmp_path / "first.sqlite3"))
    assert len([name for name in folder_names(backup_dir) if ".restore-" in name]) == 1  # the copy left behind

    (tmp_path / "second.sqlite3").touch()
    backup_restore_file(path=backup_dir / backup.file_name, now=timezone.now(),
                        database=another(tmp_path / "second.sqlite3"))

    assert sqlite_rows(tmp_path / "second.sqlite3", "SELECT name FROM channels_channelgroup ORDER BY name") == [
        ("Lawyers",), ("News",)]


def test_a_file_from_elsewhere_restores_while_backup_dir_and_its_parent_are_missing(source, backup_dir, tmp_path,
                                                                                    settings):
    backup, _ = source
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for name in (backup.file_name, backup.file_name + ".json"):
        shutil.copy(backup_dir / name, elsewhere / name)
    settings.BACKUP_DIR = tmp_path / "not-yet" / "backups"
    target = tmp_path / "empty.sqlite3"
    target.touch()

    backup_restore_file(path=elsewhere / backup.file_name, now=timezone.now(), database=another(target))

    assert sqlite_rows(target, "SELECT name FROM channels_channelgroup ORDER BY name") == [("Lawyers",), ("News",)]
    assert folder_names(settings.BACKUP_DIR) == []  # created for the restore copy, which is gone


def test_a_checksum_that_cannot_be_read_is_what_the_restore_raises_and_nothing_is_changed(source, backup_dir,
                                                                                          tmp_path, monkeypatch):
    backup, _ = source
    target = tmp_path / "empty.sqlite3"
    target.touch()

    def unreadable(path):  # only the checksum's thread reads the file this way
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(files, "sha256_of", unreadable)
    with pytest.raises(PermissionError, match="Permission denied"):
        backup_restore_file(path=backup_dir / backup.file_name, now=timezone.now(), database=another(target))

    assert target.stat().st_size == 0
    assert folder_names(backup_dir) == [backup.file_name, backup.file_name + ".json"]


@pytest.fixture
def behind_and_ahead():
    """The database as a version on another branch left it: one migration this code does not know, and
    `count` of this code's migrations not applied (their rows only: the tables stay as they are)."""
    from django.db.migrations.recorder import MigrationRecorder

    rows = MigrationRecorder.Migration.objects.order_by("app", "name")
    taken = []

    def make(count: int) -> list[str]:
        taken.extend(rows.exclude(app="backups").values("app", "name", "applied")[:count])
        for row in taken:
            MigrationRecorder.Migration.objects.filter(app=row["app"], name=row["name"]).delete()
        MigrationRecorder.Migration.objects.create(app="backups", name="9999_future_1")
        return sorted(f"{row['app']}.{row['name']}" for row in taken)

    yield make
    MigrationRecorder.Migration.objects.filter(name="9999_future_1").delete()
    for row in taken:
        MigrationRecorder.Migration.objects.get_or_create(app=row["app"], name=row["name"],
                                                          defaults={"applied": row["applied"]})


@pytest.mark.parametrize(("count", "more"), [(5, ""), (6, ", …")])
def test_a_backup_both_ahead_and_behind_names_both_and_the_first_five_it_lacks(backup_dir, behind_and_ahead, count,
                                                                              more):
    lacked = behind_and_ahead(count)
    backup = backup_create(now=timezone.now())

    with pytest.raises(RestoreRefused) as refused:
        backup_restore_file(path=backup_dir / backup.file_name, now=timezone.now())

    assert str(refused.value) == (
        "The backup's migrations do not match the code: it has 1 migration this code does not know "
        "(backups.9999_future_1): it was made by a newer version of the app; upgrade the app first; "
        f"it lacks {count} migrations of this code ({', '.join(lacked[:5])}{more}): it was made by an older "
        "version of the app; restored anyway, it is migrated at once.")


def test_a_database_with_only_the_apps_two_tables_is_in_use_and_its_data_kept_in_a_pre_restore(source, backup_dir,
                                                                                                tmp_path):
    from backups.sqlite_engine import decompress

    backup, _ = source
    target = tmp_path / "bare.sqlite3"
    bare = sqlite3.connect(target)
    bare.executescript("CREATE TABLE django_migrations (id INTEGER PRIMARY KEY, app TEXT, name TEXT, applied TEXT);"
                       "INSERT INTO django_migrations (app, name, applied) VALUES ('bare', 'only', '2026-12-01');"
                       "CREATE TABLE backups_backup (id INTEGER PRIMARY KEY);")
    bare.close()

    report = backup_restore_file(path=backup_dir / backup.file_name, now=timezone.now(), database=another(target))

    assert report.database_was == "in use"
    assert sqlite_rows(target, "SELECT name FROM channels_channelgroup ORDER BY name") == [("Lawyers",), ("News",)]
    kept = tmp_path / "kept.sqlite3"
    decompress(backup_dir / report.pre_restore.file_name, kept)
    assert sqlite_rows(kept, "SELECT app, name FROM django_migrations") == [("bare", "only")]


def test_a_forced_restore_into_a_missing_database_warns_of_the_migrations_and_the_old_wal_both(backup_dir, tmp_path,
                                                                                               future_migration):
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO django_migrations (app, name, applied) VALUES ('backups', %s, "
                       "'2026-12-01 00:00:00')", [future_migration])
    backup = backup_create(now=timezone.now())
    target = tmp_path / "fresh.sqlite3"
    target.with_name("fresh.sqlite3-wal").write_bytes(b"an old WAL")

    report = backup_restore_file(path=backup_dir / backup.file_name, now=timezone.now(), force=True,
                                 database=another(target))

    assert [warning.split(":")[0] for warning in report.warnings] == [
        "The backup's migrations do not match the code",
        "fresh.sqlite3-wal, left by an earlier database there, was moved aside to fresh.sqlite3-wal.before-restore "
        "(SQLite would have replayed it into the restored database)."]
