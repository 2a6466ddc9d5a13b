"""Restore drills and row counts on a real throwaway PostgreSQL server (tests/servers.py), with the stock pg_dump and
pg_restore: the counts come from the snapshot pg_dump dumps, a drill restores into a scratch database it drops,
an altered dump fails with its table named, leftovers of a killed drill are dropped, and a role that may not create
databases is told what to do."""

import hashlib
import json
import subprocess
import threading
import uuid

import psycopg
import pytest
from django.utils import timezone

from backups import files, postgres_engine
from backups.errors import BackupConfigError
from backups.models import Backup, DrillOutcome
from backups.services.drilling import backup_drill_run
from backups.services.making import backup_create
from backups.sources import Database
from tests.backups.conftest import NOW, folder_names
from tests.backups.test_postgres import pg  # noqa: F401  (the fixture: a database of its own per test)
from tests.servers import create_database

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def connect(db: Database, **kwargs):
    return psycopg.connect(dbname=db.name, host=db.host, port=db.port, user=db.user, **kwargs)


def databases(db: Database) -> list[str]:
    with connect(db) as conn:
        return sorted(name for (name,) in conn.execute("SELECT datname FROM pg_database"))


def drill_databases(db: Database) -> list[str]:
    """This database's drill databases (the server is shared by the session's tests)."""
    return [name for name in databases(db) if name.startswith(f"{db.name}_drill_")]


def test_the_counts_and_the_dump_are_one_snapshot_while_a_writer_inserts(pg, backup_dir):  # noqa: F811
    stop = threading.Event()
    inserted = []

    def writer():
        with connect(pg, autocommit=True) as conn:
            while not stop.is_set():
                conn.execute("INSERT INTO items (title) VALUES ('written during the backup')")
                inserted.append(1)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        backup = backup_create(now=NOW, database=pg)
    finally:
        stop.set()
        thread.join()

    assert backup.status == "completed", backup.error
    assert len(inserted) > 50  # the writer really wrote during the backup
    manifest = json.loads((backup_dir / files.manifest_name(backup.file_name)).read_text())
    assert manifest["tables"] == backup.table_rows
    assert 500 <= manifest["tables"]["items"] < 500 + len(inserted)
    assert manifest["tables"]["django_migrations"] == len(backup.applied_migrations)
    # What the dump holds is what was counted: the drill restores it and finds the same.
    run = backup_drill_run(job=None, now=timezone.now(), database=pg)
    assert run.passed, run.failure_message()


def test_a_good_backup_passes_and_its_scratch_database_is_dropped(pg, backup_dir):  # noqa: F811
    backup = backup_create(now=NOW, database=pg)

    run = backup_drill_run(job=None, now=timezone.now(), database=pg)

    assert run.passed, run.failure_message()
    backup.refresh_from_db()
    assert backup.drill_outcome == DrillOutcome.PASSED
    assert (backup.drill_tables, backup.drill_rows) == (2, 500 + len(backup.applied_migrations))
    assert drill_databases(pg) == []
    assert folder_names(backup_dir) == [backup.file_name, backup.file_name + ".json"]


def alter_dump(backup: Backup, directory, url_template: str, sql: str) -> None:
    """Restore the dump into a database of its own, change it, dump it again over the file, and give the
    manifest and the record the new checksum: only what the data says differs from the manifest."""
    path = directory / backup.file_name
    tools = postgres_engine.find_tools(15)
    url = create_database(url_template, f"alter_{uuid.uuid4().hex[:8]}")
    subprocess.run([str(tools.pg_restore), "--no-owner", f"--dbname={url}", str(path)], check=True)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql)
    subprocess.run([str(tools.pg_dump), "--format=custom", f"--file={path}", url], check=True)
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    manifest_path = directory / files.manifest_name(backup.file_name)
    manifest_path.write_text(json.dumps({**json.loads(manifest_path.read_text()), "sha256": sha256}))
    Backup.objects.filter(pk=backup.pk).update(sha256=sha256)


def test_a_table_altered_after_the_manifest_was_written_fails_and_is_named(pg, backup_dir,  # noqa: F811
                                                                          postgres_url_template):
    backup = backup_create(now=NOW, database=pg)
    alter_dump(backup, backup_dir, postgres_url_template, "DELETE FROM items WHERE id > 490")

    run = backup_drill_run(job=None, now=timezone.now(), database=pg)

    assert not run.passed
    assert run.failure_message().endswith(
        "The restored copy does not match the manifest in 1 table: table “items”: 500 rows in the manifest, "
        "490 restored.")
    backup.refresh_from_db()
    assert backup.drill_outcome == DrillOutcome.FAILED
    assert drill_databases(pg) == []  # dropped although the drill failed


def test_a_dump_pg_restore_cannot_read_fails_and_its_scratch_database_is_dropped(pg, backup_dir):  # noqa: F811
    backup = backup_create(now=NOW, database=pg)
    path = backup_dir / backup.file_name
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    manifest_path = backup_dir / files.manifest_name(backup.file_name)
    manifest_path.write_text(json.dumps({**json.loads(manifest_path.read_text()), "sha256": sha256}))
    Backup.objects.filter(pk=backup.pk).update(sha256=sha256)

    run = backup_drill_run(job=None, now=timezone.now(), database=pg)

    assert not run.passed
    assert "pg_restore could not restore" in run.failure_message()
    assert drill_databases(pg) == []


def test_a_killed_drills_database_is_dropped_by_the_next_drill_and_no_other(pg, backup_dir):  # noqa: F811
    backup_create(now=NOW, database=pg)
    someone_else = f"other_{uuid.uuid4().hex[:8]}_drill_5"
    with connect(pg, autocommit=True) as conn:
        for name in (f"{pg.name}_drill_99", someone_else, f"{pg.name}_drill_notes"):
            conn.execute(f'CREATE DATABASE "{name}"')

    run = backup_drill_run(job=None, now=timezone.now(), database=pg)

    assert run.passed, run.failure_message()
    assert run.leftovers_removed == [f"{pg.name}_drill_99"]
    assert drill_databases(pg) == [f"{pg.name}_drill_notes"]
    assert someone_else in databases(pg)


def test_a_role_that_may_not_create_databases_is_told_what_to_do(pg, backup_dir):  # noqa: F811
    backup_create(now=NOW, database=pg)
    role = f"drill_{uuid.uuid4().hex[:8]}"
    with connect(pg, autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{role}" LOGIN NOCREATEDB')
    restricted = Database(vendor="postgresql", name=pg.name, host=pg.host, port=pg.port, user=role)

    with pytest.raises(BackupConfigError) as raised:
        backup_drill_run(job=None, now=timezone.now(), database=restricted)

    assert f"cannot create its scratch database “{pg.name}_drill_" in str(raised.value)
    assert f"ALTER ROLE {role} CREATEDB" in str(raised.value)
    assert drill_databases(pg) == []

