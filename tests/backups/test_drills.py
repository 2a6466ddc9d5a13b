"""Restore drills on real SQLite backups of the test database, through the real job runner: the row counts in the
manifest, a good backup passing, an altered one failing with its table named, what is recorded and shown, the
clean-up, the lock, and the seam for more drill sources (the off-site copy).

`transactional_db`: the backup reads the database through its own connection, so the rows it counts are
the committed ones.
"""

import datetime as dt
import hashlib
import json
import logging
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import zstandard
from django.utils import timezone

from backups import drills, files
from backups.models import Backup, DrillOutcome
from backups.services import drilling
from backups.services.making import backup_create
from backups.sources import Database
from channels.models import ChannelGroup
from common.chores import chore_claim
from common.models import Chore
from jobs import registry, runner
from jobs.models import JobStatus
from jobs.services import job_enqueue
from tests.backups.conftest import (
    CAP_KILL,
    NOW,
    _drop_dac_override,
    drop_capability,
    folder_names,
    live_db_path,
    read_only_folder,
    sqlite_only,
)
from tests.factories import BackupFactory, ChannelGroupFactory
from tests.servers import wait_until

pytestmark = [pytest.mark.django_db(transaction=True), sqlite_only]


def run_drill(params: dict | None = None):
    job = job_enqueue(job_type=drills.JOB_TYPE, params={} if params is None else params, now=timezone.now())
    runner.execute(job.pk)
    job.refresh_from_db()
    return job


def live_counts(*tables: str) -> dict[str, int]:
    connection = sqlite3.connect(live_db_path())
    try:
        return {table: connection.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0] for table in tables}
    finally:
        connection.close()


def manifest_path(backup: Backup, directory: Path) -> Path:
    return directory / files.manifest_name(backup.file_name)


def read_manifest(backup: Backup, directory: Path) -> dict:
    return json.loads(manifest_path(backup, directory).read_text())


def write_manifest(backup: Backup, directory: Path, manifest: dict) -> None:
    manifest_path(backup, directory).write_text(json.dumps(manifest))


def alter_inside(backup: Backup, directory: Path, sql: str, tmp_path: Path) -> None:
    """Change the data inside the backup file (decompress, sqlite3, compress again) and give the manifest
    and the record the new checksum: only what the data says differs from the manifest."""
    path = directory / backup.file_name
    raw = tmp_path / "altered.sqlite3"
    with open(path, "rb") as reader, open(raw, "wb") as out:
        zstandard.ZstdDecompressor().copy_stream(reader, out)
    connection = sqlite3.connect(raw, isolation_level=None)
    connection.executescript(sql)
    connection.close()
    path.write_bytes(zstandard.ZstdCompressor(level=3, write_checksum=True).compress(raw.read_bytes()))
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    write_manifest(backup, directory, {**read_manifest(backup, directory), "sha256": sha256})
    Backup.objects.filter(pk=backup.pk).update(sha256=sha256, size_bytes=path.stat().st_size)


@pytest.fixture
def groups():
    for name in ("News", "Lawyers", "Cooking"):
        ChannelGroupFactory(name=name)


@pytest.fixture
def made(backup_dir, groups) -> Backup:
    return backup_create(now=NOW)


# --- the row counts in the manifest ------------------------------------------------------------------


def test_the_manifest_holds_the_row_count_of_every_table_at_backup_time(made, backup_dir):
    manifest = read_manifest(made, backup_dir)

    assert manifest["tables"] == made.table_rows
    assert manifest["tables"]["channels_channelgroup"] == 3
    connection = sqlite3.connect(live_db_path())
    try:
        tables = {name for (name,) in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")}
    finally:
        connection.close()
    assert set(manifest["tables"]) == tables
    assert {t: manifest["tables"][t] for t in ("django_migrations", "auth_permission")} == live_counts(
        "django_migrations", "auth_permission")


def test_rows_written_after_the_copy_are_not_counted(made, backup_dir):
    ChannelGroupFactory(name="Written after the backup")

    assert read_manifest(made, backup_dir)["tables"]["channels_channelgroup"] == 3


# --- a drill that passes ------------------------------------------------------------------------------


def test_a_good_backup_passes_and_records_what_it_restored(made, backup_dir):
    job = run_drill()

    assert job.status == JobStatus.COMPLETED, job.error
    made.refresh_from_db()
    assert made.drill_outcome == DrillOutcome.PASSED
    assert made.drill_detail == ""
    assert made.drill_tables == len(made.table_rows)
    assert made.drill_rows == sum(made.table_rows.values())
    assert 0 < made.drill_seconds < 30
    assert made.drilled_at >= job.started_at
    assert job.result["status"] == "passed"
    assert job.result["drills"] == [{
        "backup_id": made.pk, "file": made.file_name, "source": "the file in BACKUP_DIR", "outcome": "passed",
        "tables": made.drill_tables, "rows": made.drill_rows, "rows_compared": True,
        "seconds": round(made.drill_seconds, 3)}]
    # The scratch copy is gone; the backup is as it was.
    assert folder_names(backup_dir) == [made.file_name, made.file_name + ".json"]


def drill_log_lines(caplog) -> list[logging.LogRecord]:
    return [record for record in caplog.records if getattr(record, "event", "") == "restore_drill"]


def test_a_drill_that_passes_is_logged_for_the_operator(made, backup_dir, caplog):
    with caplog.at_level(logging.INFO, logger="backups.services.drilling"):
        run_drill()

    [line] = drill_log_lines(caplog)
    assert line.getMessage() == f"Restore drill of backup #{made.pk}: passed"
    assert (line.backup_id, line.outcome, line.sources, line.detail) == (made.pk, "passed",
                                                                         ["the file in BACKUP_DIR"], "")


def test_it_drills_the_newest_good_backup(backup_dir, groups):
    older = backup_create(now=NOW)
    newer = backup_create(now=NOW + dt.timedelta(hours=1))
    BackupFactory(started_at=NOW + dt.timedelta(hours=2), status="failed")

    job = run_drill()

    assert job.status == JobStatus.COMPLETED, job.error
    assert [d["backup_id"] for d in job.result["drills"]] == [newer.pk]
    older.refresh_from_db()
    assert older.drilled_at is None


def test_an_old_manifest_without_counts_passes_and_says_it_could_not_compare_them(made, backup_dir):
    manifest = read_manifest(made, backup_dir)
    del manifest["tables"]
    write_manifest(made, backup_dir, manifest)

    job = run_drill()

    assert job.status == JobStatus.COMPLETED, job.error
    made.refresh_from_db()
    assert made.drill_outcome == DrillOutcome.PASSED
    assert made.drill_detail == ("Row counts not compared: the manifest has none (it was made before manifests "
                                 "counted rows).")
    assert job.result["drills"][0]["rows_compared"] is False
    assert job.result["drills"][0]["note"] == made.drill_detail


# --- drills that fail ---------------------------------------------------------------------------------


def test_a_table_altered_after_the_manifest_was_written_fails_the_drill_and_names_it(made, backup_dir, tmp_path):
    alter_inside(made, backup_dir, "DELETE FROM channels_channelgroup WHERE name = 'News'", tmp_path)

    job = run_drill()

    assert job.status == JobStatus.FAILED
    assert job.failed_permanently  # the file will not change: no retry
    expected = ("The restored copy does not match the manifest in 1 table: table “channels_channelgroup”: "
                "3 rows in the manifest, 2 restored.")
    assert job.error == (f"Restore drill of backup #{made.pk} ({made.file_name}, the file in BACKUP_DIR) failed: "
                         f"{expected}")
    made.refresh_from_db()
    assert (made.drill_outcome, made.drill_detail) == (DrillOutcome.FAILED, expected)
    assert made.drilled_at is not None and made.drill_tables is None
    assert folder_names(backup_dir) == [made.file_name, made.file_name + ".json"]


def test_every_table_that_differs_is_named(made, backup_dir, tmp_path):
    alter_inside(made, backup_dir, "DELETE FROM channels_channelgroup; CREATE TABLE intruder (id INTEGER);"
                                   "INSERT INTO intruder VALUES (1);", tmp_path)

    job = run_drill()

    assert "in 2 tables: table “channels_channelgroup”: 3 rows in the manifest, 0 restored; table “intruder” is in " \
           "the restored copy (1 row) but not in the manifest." in job.error


def test_a_file_that_does_not_match_its_manifests_checksum_fails(made, backup_dir):
    with open(backup_dir / made.file_name, "r+b") as fh:
        fh.seek(100)
        fh.write(b"\x00" * 16)

    job = run_drill()

    assert job.status == JobStatus.FAILED and job.failed_permanently
    actual = hashlib.sha256((backup_dir / made.file_name).read_bytes()).hexdigest()
    assert job.error.endswith(f"The checksum of {made.file_name} does not match its manifest (recorded "
                              f"{made.sha256[:16]}…, the file has {actual[:16]}…): the file is damaged or was replaced.")


def test_a_file_that_does_not_match_the_backups_record_fails(made, backup_dir):
    Backup.objects.filter(pk=made.pk).update(sha256="0" * 64)

    job = run_drill()

    assert job.failed_permanently
    assert job.error.endswith(f"The checksum of {made.file_name} does not match the backup's record (recorded "
                              f"0000000000000000…, the file has {made.sha256[:16]}…): the file is damaged or was "
                              "replaced.")


def test_a_backup_without_its_manifest_fails(made, backup_dir):
    manifest_path(made, backup_dir).unlink()

    job = run_drill()

    assert job.failed_permanently
    assert job.error.endswith(f"Its manifest {made.file_name}.json is missing: a restore from the folder alone needs "
                              "it (it holds the checksum and what the backup is).")


@pytest.mark.parametrize(("text", "problem"), [
    ("{not json", "it is not JSON (Expecting property name enclosed in double quotes: line 1 column 2 (char 1))."),
    ("[1, 2]", "it is not a JSON object."),
])
def test_a_manifest_that_cannot_be_read_fails_and_says_why(made, backup_dir, text, problem):
    manifest_path(made, backup_dir).write_text(text)

    job = run_drill()

    assert job.failed_permanently
    assert job.error.endswith(f"Its manifest {made.file_name}.json cannot be read: {problem}")


@pytest.mark.parametrize("tables", [["channels_channelgroup"], {"channels_channelgroup": -3},
                                    {"channels_channelgroup": True}, {"channels_channelgroup": 3.0}])
def test_a_manifest_whose_tables_are_not_row_counts_fails(made, backup_dir, tables):
    write_manifest(made, backup_dir, {**read_manifest(made, backup_dir), "tables": tables})

    job = run_drill()

    assert job.failed_permanently, job.error
    assert job.error.endswith("failed: Its manifest's “tables” is not a map of table names to row counts.")


def missing_tables(made: Backup, directory: Path, count: int) -> list[str]:
    """Make the manifest list `count` tables (of 1 row) the restored copy does not have."""
    manifest = read_manifest(made, directory)
    names = [f"gone_{n:02}" for n in range(count)]
    write_manifest(made, directory, {**manifest, "tables": {**manifest["tables"], **dict.fromkeys(names, 1)}})
    return names


def test_ten_tables_that_differ_are_all_named(made, backup_dir):
    names = missing_tables(made, backup_dir, 10)

    job = run_drill()

    assert job.error.endswith("does not match the manifest in 10 tables: " + "; ".join(
        f"table “{name}” (1 row in the manifest) is missing from the restored copy" for name in names) + ".")


def test_of_more_than_ten_tables_that_differ_the_first_ten_are_named(made, backup_dir):
    names = missing_tables(made, backup_dir, 11)

    job = run_drill()

    assert job.error.endswith("does not match the manifest in 11 tables: " + "; ".join(
        f"table “{name}” (1 row in the manifest) is missing from the restored copy" for name in names[:10]) + "; ….")


def test_a_backup_whose_file_is_gone_fails(made, backup_dir):
    (backup_dir / made.file_name).unlink()

    job = run_drill()

    assert job.failed_permanently
    assert f"The file of backup #{made.pk} is missing" in job.error
    made.refresh_from_db()
    assert made.drill_outcome == DrillOutcome.FAILED


def test_a_backup_that_lacks_migrations_of_this_code_fails_the_migrations_check(made, backup_dir, tmp_path):
    alter_inside(made, backup_dir, "DELETE FROM django_migrations WHERE app = 'backups' AND name LIKE '0004%'",
                 tmp_path)

    job = run_drill()

    assert job.failed_permanently
    assert "The backup's migrations do not match the code: it lacks 1 migration of this code " \
           "(backups.0004_download_permission)" in job.error


def test_a_damaged_copy_fails_its_integrity_check(made, backup_dir, tmp_path):
    # Scramble a page in the middle of the table b-trees, then compress again with a good checksum.
    path = backup_dir / made.file_name
    raw = bytearray(zstandard.ZstdDecompressor().decompress(path.read_bytes()))
    page = 4096
    for offset in range(3 * page, min(len(raw), 12 * page), page):
        raw[offset + 8:offset + 200] = b"\xff" * 192
    path.write_bytes(zstandard.ZstdCompressor(write_checksum=True).compress(bytes(raw)))
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    write_manifest(made, backup_dir, {**read_manifest(made, backup_dir), "sha256": sha256})
    Backup.objects.filter(pk=made.pk).update(sha256=sha256)

    job = run_drill()

    assert job.failed_permanently
    assert "SQLite" in job.error and ("integrity check" in job.error or "cannot read" in job.error), job.error


def test_without_a_good_backup_the_run_says_so(backup_dir):
    BackupFactory(status="failed")

    job = run_drill()

    assert job.status == JobStatus.FAILED and job.failed_permanently
    assert job.error == ("There is no good backup to drill: no completed, verified sqlite backup. Make one (Run now "
                         "on /backups); the next drill tests it.")


def test_it_takes_no_params(backup_dir):
    job = run_drill({"backup_id": 3})

    assert job.failed_permanently
    assert job.error.startswith("Invalid parameters: backup_id: unknown parameter")


# --- clean-up and the lock ----------------------------------------------------------------------------


@pytest.fixture
def scratch_dirs():
    """A drill source that notes the scratch folder each drill was given (and drills the local file)."""
    seen: list[Path] = []

    def noting(*, database):
        source = drilling.local_source(database=database)

        def fetch(scratch_dir):
            seen.append(scratch_dir)
            assert scratch_dir.is_dir()
            return source.fetch(scratch_dir)

        return drilling.DrillSource(label="noted", backup=source.backup, fetch=fetch)

    drilling.register_drill_source(noting)
    yield seen
    drilling.unregister_drill_source(noting)


def test_the_scratch_folder_is_removed_when_the_drill_fails(made, backup_dir, tmp_path, scratch_dirs):
    alter_inside(made, backup_dir, "DELETE FROM channels_channelgroup", tmp_path)

    job = run_drill()

    assert job.status == JobStatus.FAILED
    assert len(scratch_dirs) == 1 and scratch_dirs[0].parent == backup_dir
    assert not scratch_dirs[0].exists()
    assert folder_names(backup_dir) == [made.file_name, made.file_name + ".json"]


def test_the_scratch_folder_is_removed_when_the_drill_cannot_finish(made, backup_dir, extra_source):
    """A scratch folder the drill may not write in (really: the kernel refuses): the drill could not look."""
    seen, take_back = [], []

    def unwritable(*, database):
        def fetch(scratch_dir: Path) -> Path:
            seen.append(scratch_dir)
            scratch_dir.chmod(0o555)
            if os.geteuid() == 0:
                take_back.append(_drop_dac_override())
            return backup_dir / made.file_name

        return drilling.DrillSource(label="unwritable", backup=made, fetch=fetch)

    extra_source(unwritable)
    try:
        job = run_drill()
    finally:
        for restore in take_back:
            restore()

    assert job.status == JobStatus.RETRY_WAIT, job.error  # the folder may be writable later
    assert "Not allowed to write the drill's scratch copy" in job.error
    assert len(seen) == 1 and not seen[0].exists()
    assert folder_names(backup_dir) == [made.file_name, made.file_name + ".json"]
    made.refresh_from_db()
    assert made.drilled_at is None  # the drill did not finish: nothing is said about the backup


def test_what_a_killed_drill_left_behind_is_removed_by_the_next(made, backup_dir):
    leftover = backup_dir / f"{drilling.SCRATCH_PREFIX}0123456789ab"
    leftover.mkdir()
    (leftover / "drill-7.sqlite3").write_bytes(b"half a database")

    job = run_drill()

    assert job.status == JobStatus.COMPLETED, job.error
    assert job.result["leftovers_removed"] == [leftover.name]
    assert folder_names(backup_dir) == [made.file_name, made.file_name + ".json"]


def test_only_folders_are_taken_for_leftovers_not_files_or_links(made, backup_dir, tmp_path):
    leftover = backup_dir / f"{drilling.SCRATCH_PREFIX}0123456789ab"
    leftover.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "kept").write_text("not the drill's")
    (backup_dir / f"{drilling.SCRATCH_PREFIX}link").symlink_to(elsewhere)
    (backup_dir / f"{drilling.SCRATCH_PREFIX}file").write_text("a file")

    job = run_drill()

    assert job.result["leftovers_removed"] == [leftover.name]
    assert (elsewhere / "kept").exists()
    assert (backup_dir / f"{drilling.SCRATCH_PREFIX}file").exists()


def test_a_leftover_that_cannot_be_removed_does_not_stop_the_drill(made, backup_dir):
    stuck = backup_dir / f"{drilling.SCRATCH_PREFIX}0123456789ab" / "stuck"
    stuck.mkdir(parents=True)
    (stuck / "drill-7.sqlite3").write_bytes(b"half a database")

    with read_only_folder(stuck):
        job = run_drill()

    assert job.status == JobStatus.COMPLETED, job.error
    made.refresh_from_db()
    assert made.drill_outcome == DrillOutcome.PASSED


def test_a_scratch_folder_that_cannot_be_removed_does_not_fail_the_drill(made, backup_dir, extra_source):
    """What is left is the next drill's leftover."""
    stuck, take_back = [], []

    def sticky(*, database):
        def fetch(scratch_dir: Path) -> Path:
            (scratch_dir / "stuck").mkdir()
            (scratch_dir / "stuck" / "part").write_bytes(b"part of a copy")
            (scratch_dir / "stuck").chmod(0o555)
            stuck.append(scratch_dir / "stuck")
            if os.geteuid() == 0:
                take_back.append(_drop_dac_override())
            return backup_dir / made.file_name

        return drilling.DrillSource(label="sticky", backup=made, fetch=fetch)

    extra_source(sticky)
    try:
        job = run_drill()
    finally:
        for restore in take_back:
            restore()
        for folder in stuck:
            folder.chmod(0o755)

    assert job.status == JobStatus.COMPLETED, job.error
    assert [d["source"] for d in job.result["drills"]] == ["the file in BACKUP_DIR", "sticky"]
    assert stuck[0].exists()


def test_drills_never_overlap(made, backup_dir):
    assert chore_claim(name=drilling.LOCK, now=timezone.now(), lease=drilling.LEASE) is not None

    job = run_drill()

    assert job.status == JobStatus.RETRY_WAIT
    assert "Another restore drill is running" in job.error
    made.refresh_from_db()
    assert made.drilled_at is None


def test_the_lock_is_let_go_after_each_drill_passed_or_failed(made, backup_dir, tmp_path):
    assert run_drill().status == JobStatus.COMPLETED
    assert chore_claim(name=drilling.LOCK, now=timezone.now(), lease=drilling.LEASE) is not None
    Chore.objects.filter(name=drilling.LOCK).update(next_at=timezone.now())
    alter_inside(made, backup_dir, "DELETE FROM channels_channelgroup", tmp_path)

    assert run_drill().status == JobStatus.FAILED
    assert chore_claim(name=drilling.LOCK, now=timezone.now(), lease=drilling.LEASE) is not None


@pytest.fixture
def dead_pid() -> int:
    """The id of a process of this machine that has ended."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def hold_the_lock(claimed_by: str) -> None:
    assert chore_claim(name=drilling.LOCK, now=timezone.now(), lease=drilling.LEASE) is not None
    Chore.objects.filter(name=drilling.LOCK).update(claimed_by=claimed_by)


NO_GOOD_BACKUP = "There is no good backup to drill"  # what a drill that took the lock says here


def test_the_lock_of_a_drill_whose_process_is_gone_is_taken_over(backup_dir, dead_pid):
    assert chore_claim(name="another chore", now=timezone.now(), lease=drilling.LEASE) is not None
    hold_the_lock(f"{socket.gethostname()}:{dead_pid}")

    job = run_drill()

    assert job.error.startswith(NO_GOOD_BACKUP)
    assert chore_claim(name=drilling.LOCK, now=timezone.now(), lease=drilling.LEASE) is not None  # let go again
    other = Chore.objects.get(name="another chore")
    assert other.next_at > timezone.now() and other.claim_token  # another chore's lease is left alone


def _signals_end_it() -> None:
    # A test run under nohup ignores SIGHUP, and so would its children: any signal sent to the holder must end it.
    for number in (signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(number, signal.SIG_DFL)


def test_a_drill_whose_process_still_runs_keeps_the_lock_and_is_left_alone(backup_dir):
    holder = subprocess.Popen(["sleep", "30"], preexec_fn=_signals_end_it)
    try:
        hold_the_lock(f"{socket.gethostname()}:{holder.pid}")

        job = run_drill()

        with pytest.raises(subprocess.TimeoutExpired):
            holder.wait(timeout=0.2)  # not sent a signal
    finally:
        holder.kill()
        holder.wait()
    assert job.status == JobStatus.RETRY_WAIT
    assert (f"BackupBusy: Another restore drill is running (on {socket.gethostname()}:{holder.pid}); drills never "
            "overlap.") in job.error


def test_a_drill_of_another_user_keeps_the_lock(backup_dir):
    """Its process cannot be signalled from here (EPERM), which says it runs. As root, the holder runs as
    nobody and this thread gives up CAP_KILL, as a worker of another account would be refused."""
    if os.geteuid() != 0:
        holder, take_back = None, None
        pid = 1  # init: root's (or, in a container of this user, this user's: alive either way)
    else:
        holder = subprocess.Popen(["sleep", "30"], user=65534, group=65534)
        pid, take_back = holder.pid, drop_capability(CAP_KILL)
    try:
        hold_the_lock(f"{socket.gethostname()}:{pid}")

        job = run_drill()
    finally:
        if take_back:
            take_back()
        if holder:
            holder.kill()
            holder.wait()
    assert job.status == JobStatus.RETRY_WAIT
    assert f"BackupBusy: Another restore drill is running (on {socket.gethostname()}:{pid})" in job.error


@pytest.mark.parametrize(("claimed_by", "named"), [
    ("elsewhere:{pid}", "elsewhere:{pid}"),  # a process of another machine: whether it runs cannot be seen
    ("{host}:worker", "{host}:worker"),
    ("", "a worker"),
])
def test_a_holder_that_cannot_be_seen_gone_keeps_the_lock(backup_dir, dead_pid, claimed_by, named):
    hold_the_lock(claimed_by.format(host=socket.gethostname(), pid=dead_pid))

    job = run_drill()

    assert job.status == JobStatus.RETRY_WAIT
    named = named.format(host=socket.gethostname(), pid=dead_pid)
    assert f"BackupBusy: Another restore drill is running (on {named}); drills never overlap." in job.error


KILLED_DRILL = """
import time

import django

django.setup()
from django.utils import timezone

from backups.services import drilling


def slow(*, database):
    source = drilling.local_source(database=database)

    def fetch(scratch_dir):
        (scratch_dir / "marker").write_text("in the drill")
        time.sleep(120)

    return drilling.DrillSource(label="slow", backup=source.backup, fetch=fetch)


drilling.register_drill_source(slow)
drilling.backup_drill_run(job=None, now=timezone.now())
"""


@pytest.mark.integration
def test_a_drill_killed_midway_leaves_what_the_next_drill_removes(made, backup_dir, tmp_path):
    """A real process, SIGKILLed inside a drill: its scratch folder and its lock stay behind. The next drill
    takes the lock over (its holder's process is gone) and removes the folder."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.test_settings",
           "DATABASE_URL": f"sqlite:///{live_db_path()}", "BACKUP_DIR": str(backup_dir)}
    log = tmp_path / "drill.log"
    with open(log, "w") as out:
        process = subprocess.Popen([sys.executable, "-c", KILLED_DRILL], env=env, stdout=out, stderr=out)
    try:
        markers = wait_until(lambda: list(backup_dir.glob(f"{drilling.SCRATCH_PREFIX}*/marker")), timeout=30,
                             message="the drill did not start", details=log.read_text)
    finally:
        process.kill()
        process.wait(timeout=10)
    left = markers[0].parent
    holder = Chore.objects.get(name=drilling.LOCK)
    assert holder.claimed_by.endswith(f":{process.pid}") and holder.next_at > timezone.now()

    job = run_drill()

    assert job.status == JobStatus.COMPLETED, job.error
    assert job.result["leftovers_removed"] == [left.name]
    assert folder_names(backup_dir) == [made.file_name, made.file_name + ".json"]


# --- more drill sources: the seam for the off-site copy -----------------------------------------------


def copy_in(backup: Backup, directory: Path, label: str = "the off-site copy", damage: bool = False):
    """A second source that brings a copy of the file and its manifest into the scratch folder, as
    `backups.offsite.offsite_fetch_one(backup=, directory=)` does from the remote."""

    def finder(*, database):
        def fetch(scratch_dir: Path) -> Path:
            target = scratch_dir / backup.file_name
            shutil.copyfile(directory / backup.file_name, target)
            shutil.copyfile(manifest_path(backup, directory), manifest_path(backup, scratch_dir))
            if damage:
                with open(target, "ab") as fh:
                    fh.write(b"tail")
            return target

        return drilling.DrillSource(label=label, backup=backup, fetch=fetch)

    return finder


@pytest.fixture
def extra_source():
    registered = []

    def register(finder):
        registered.append(drilling.register_drill_source(finder))

    yield register
    for finder in registered:
        drilling.unregister_drill_source(finder)


def test_a_second_source_is_drilled_too(made, backup_dir, extra_source):
    extra_source(copy_in(made, backup_dir))

    job = run_drill()

    assert job.status == JobStatus.COMPLETED, job.error
    assert [(d["source"], d["outcome"]) for d in job.result["drills"]] == [
        ("the file in BACKUP_DIR", "passed"), ("the off-site copy", "passed")]
    assert folder_names(backup_dir) == [made.file_name, made.file_name + ".json"]


def test_a_failing_second_source_fails_the_backups_drill_and_says_which(made, backup_dir, extra_source):
    extra_source(copy_in(made, backup_dir, damage=True))

    job = run_drill()

    assert job.failed_permanently
    assert f"({made.file_name}, the off-site copy) failed: The checksum of {made.file_name}" in job.error
    made.refresh_from_db()
    assert made.drill_outcome == DrillOutcome.FAILED
    assert made.drill_detail.startswith(f"the off-site copy: The checksum of {made.file_name} does not match")
    # The local copy restored: its figures stay on record.
    assert made.drill_tables == len(made.table_rows)


def test_each_failing_source_is_named_in_the_jobs_error_the_record_and_the_log(made, backup_dir, tmp_path,
                                                                               extra_source, caplog):
    alter_inside(made, backup_dir, "DELETE FROM channels_channelgroup WHERE name = 'News'", tmp_path)
    made.refresh_from_db()  # the checksum of the altered file
    extra_source(copy_in(made, backup_dir))
    problem = ("The restored copy does not match the manifest in 1 table: table “channels_channelgroup”: "
               "3 rows in the manifest, 2 restored.")

    with caplog.at_level(logging.INFO, logger="backups.services.drilling"):
        job = run_drill()

    assert job.error == (f"Restore drill of backup #{made.pk} ({made.file_name}, the file in BACKUP_DIR) failed: "
                         f"{problem} Restore drill of backup #{made.pk} ({made.file_name}, the off-site copy) failed: "
                         f"{problem}")
    made.refresh_from_db()
    assert made.drill_detail == f"the file in BACKUP_DIR: {problem} the off-site copy: {problem}"
    [line] = drill_log_lines(caplog)
    assert line.getMessage() == f"Restore drill of backup #{made.pk}: failed"
    assert (line.backup_id, line.outcome, line.sources, line.detail) == (
        made.pk, "failed", ["the file in BACKUP_DIR", "the off-site copy"], made.drill_detail)


def test_a_source_unregistered_is_not_drilled_again_and_the_local_file_always_is(backup_dir):
    good = BackupFactory()
    database = Database.default()

    def elsewhere(*, database):
        return drilling.DrillSource(label="elsewhere", backup=good, fetch=lambda scratch_dir: scratch_dir)

    drilling.register_drill_source(elsewhere)
    assert [s.label for s in drilling.drill_sources(database=database)] == ["the file in BACKUP_DIR", "elsewhere"]
    drilling.unregister_drill_source(elsewhere)
    drilling.unregister_drill_source(elsewhere)  # once more: nothing to do
    drilling.unregister_drill_source(drilling.local_source)  # refused

    assert [(s.label, s.backup) for s in drilling.drill_sources(database=database)] == [
        ("the file in BACKUP_DIR", good)]


def test_the_task_type_and_handler_are_registered():
    from scheduling import registry as task_types

    assert task_types.get("BACKUP_RESTORE_DRILL").summarize_params([{}]) == ["the newest good backup"]
    assert task_types.get("BACKUP_RESTORE_DRILL").clean_params({}) == {}
    assert registry.get("BACKUP_RESTORE_DRILL") is drills.HANDLER


def test_the_groups_are_unchanged_by_a_drill(made, backup_dir):
    run_drill()

    assert sorted(ChannelGroup.objects.values_list("name", flat=True)) == ["Cooking", "Lawyers", "News"]
