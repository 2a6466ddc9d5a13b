"""The PostgreSQL path against a real throwaway server (tests/servers.py), while the app's own
records stay in the test database: a database of its own per test, with this code's
django_migrations rows and a table of data."""

import json
import os
import stat
import uuid

import psycopg
import pytest
from django.db.migrations.recorder import MigrationRecorder

from backups import postgres_engine
from backups.errors import BackupConfigError, BackupError
from backups.models import Backup, BackupPurpose, BackupStatus
from backups.services.making import backup_create
from backups.services.restoring import backup_restore, backup_verify
from backups.sources import Database
from tests.backups.conftest import NOW, folder_names
from tests.servers import _pg_bindir, create_database, free_port

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


@pytest.fixture
def pg(postgres_url_template) -> Database:
    url = create_database(postgres_url_template, f"backup_{uuid.uuid4().hex[:8]}")
    applied = list(MigrationRecorder.Migration.objects.values_list("app", "name"))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE django_migrations (id serial PRIMARY KEY, app text, name text, applied timestamptz)")
        with conn.cursor() as cursor:
            cursor.executemany("INSERT INTO django_migrations (app, name, applied) VALUES (%s, %s, now())", applied)
        conn.execute("CREATE TABLE items (id serial PRIMARY KEY, title text NOT NULL)")
        conn.execute("INSERT INTO items (title) SELECT 'item ' || n FROM generate_series(1, 500) AS n")
    info = psycopg.conninfo.conninfo_to_dict(url)
    return Database(vendor="postgresql", name=info["dbname"], host=info["host"], port=str(info["port"]),
                    user=info["user"])


def titles(db: Database) -> list[str]:
    with psycopg.connect(dbname=db.name, host=db.host, port=db.port, user=db.user) as conn:
        return [title for (title,) in conn.execute("SELECT title FROM items ORDER BY id")]


def fake_bin(tmp_path, pg_dump_script: str):
    """A folder with a pg_dump of our own and the real pg_restore."""
    folder = tmp_path / "bin"
    folder.mkdir()
    script = folder / "pg_dump"
    script.write_text("#!/bin/sh\n" + pg_dump_script)
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    (folder / "pg_restore").symlink_to(_pg_bindir() / "pg_restore")
    return folder


def test_pg_dump_is_found_for_the_server(pg):
    major, version = postgres_engine.server_version(pg)
    tools = postgres_engine.find_tools(major)
    assert tools.major >= major
    assert os.access(tools.pg_dump, os.X_OK) and os.access(tools.pg_restore, os.X_OK)


def test_it_dumps_checks_and_restores_a_real_server(pg, backup_dir):
    backup = backup_create(now=NOW, database=pg)

    assert backup.status == BackupStatus.COMPLETED, backup.error
    assert backup.file_name == f"db-postgresql-20261201T020005Z-{backup.pk}.pgdump"
    assert (backup_dir / backup.file_name).read_bytes()[:5] == b"PGDMP"
    assert backup.database_version.startswith("PostgreSQL 15.")
    assert backup.tool.startswith("pg_dump 15.")
    assert backup.applied_migrations == [f"{a}.{n}" for a, n in MigrationRecorder.Migration.objects.values_list(
        "app", "name").order_by("id")]
    assert folder_names(backup_dir) == [backup.file_name, backup.file_name + ".json"]
    backup_verify(backup=backup, now=NOW)

    with psycopg.connect(dbname=pg.name, host=pg.host, port=pg.port, user=pg.user, autocommit=True) as conn:
        conn.execute("DELETE FROM items WHERE id > 10")
        conn.execute("INSERT INTO items (title) VALUES ('written after the backup')")

    report = backup_restore(backup=backup, now=NOW, database=pg)

    assert titles(pg) == [f"item {n}" for n in range(1, 501)]
    assert report.pre_restore.purpose == BackupPurpose.PRE_RESTORE
    assert report.pre_restore.status == BackupStatus.COMPLETED
    # pg_restore --single-transaction: the pre_restore dump puts the later state back just as well.
    backup_restore(backup=report.pre_restore, now=NOW, database=pg)
    assert titles(pg)[-1] == "written after the backup" and len(titles(pg)) == 11


def test_a_backup_asks_the_server_and_pg_dump_for_their_versions_once(pg, backup_dir, tmp_path, settings,
                                                                      monkeypatch):
    calls = tmp_path / "pg_dump-calls"
    settings.BACKUP_PG_BIN_DIR = str(fake_bin(tmp_path, f'echo "$1" >> "{calls}"\nexec {_pg_bindir()}/pg_dump "$@"\n'))
    connected = []
    real_connect = postgres_engine._connect
    monkeypatch.setattr(postgres_engine, "_connect", lambda db: connected.append(db) or real_connect(db))

    backup = backup_create(now=NOW, database=pg)

    assert backup.status == BackupStatus.COMPLETED, backup.error
    # The real pg_dump ran twice: once to tell its version, once to dump.
    assert calls.read_text().splitlines() == ["--version", "--format=custom"]
    # Two connections of the app's own (the server's version and size; the snapshot the rows are counted in,
    # which pg_dump shares); pg_dump makes its own.
    assert connected == [pg, pg]
    assert backup.database_version == f"PostgreSQL {postgres_engine.server_version(pg)[1]}"
    manifest = json.loads((backup_dir / (backup.file_name + ".json")).read_text())
    assert manifest["tool"] == backup.tool == f"pg_dump {postgres_engine._tool_version(_pg_bindir() / 'pg_dump')}"


def test_the_password_goes_in_the_environment_never_on_the_command_line(backup_dir, tmp_path):
    db = Database(vendor="postgresql", name="archive", host="db.example", port="5433", user="app",
                  password="s3cret-pass")
    tools = postgres_engine.Tools(tmp_path / "pg_dump", tmp_path / "pg_restore", "15.10")

    argv, env = postgres_engine.dump_command(tools, db, tmp_path / "out")

    assert not any("s3cret-pass" in arg for arg in argv)
    assert "--format=custom" in argv and "--lock-wait-timeout=2000" in argv
    assert (env["PGPASSWORD"], env["PGHOST"], env["PGPORT"], env["PGUSER"], env["PGDATABASE"]) == (
        "s3cret-pass", "db.example", "5433", "app", "archive")


def test_a_dead_port_fails_the_backup_with_its_message_and_no_file(backup_dir, pg):
    dead = Database(vendor="postgresql", name=pg.name, host="127.0.0.1", port=str(free_port()), user=pg.user)

    with pytest.raises(BackupError, match=f"Cannot connect to the PostgreSQL database “{pg.name}” on 127.0.0.1:"):
        backup_create(now=NOW, database=dead)

    assert "Connection refused" in Backup.objects.get().error
    assert folder_names(backup_dir) == []


def test_pg_dump_failing_mid_way_leaves_no_partial_file(backup_dir, pg, tmp_path, settings):
    settings.BACKUP_PG_BIN_DIR = str(fake_bin(tmp_path, f"""
case "$1" in --version) exec {_pg_bindir()}/pg_dump --version;; esac
for arg; do case "$arg" in --file=*) echo "PGDMP half a dump" > "${{arg#--file=}}";; esac; done
echo 'pg_dump: error: connection to server at "127.0.0.1", port 1 failed: Connection refused' >&2
exit 1
"""))

    with pytest.raises(BackupError, match="pg_dump cannot connect to .*Connection refused"):
        backup_create(now=NOW, database=pg)
    assert folder_names(backup_dir) == []


def test_a_truncated_dump_is_caught_by_reading_it_back_in_full(backup_dir, pg, tmp_path, settings):
    # `pg_restore --list` reads only the table of contents, which a truncated dump still has.
    settings.BACKUP_PG_BIN_DIR = str(fake_bin(tmp_path, f"""
{_pg_bindir()}/pg_dump "$@" || exit $?
for arg; do case "$arg" in --file=*) f="${{arg#--file=}}"; truncate -s $(( $(stat -c %s "$f") - 200 )) "$f";; esac; done
"""))

    with pytest.raises(BackupError, match="The dump cannot be read back in full, it is damaged or truncated"):
        backup_create(now=NOW, database=pg)
    assert folder_names(backup_dir) == []


def test_a_pg_dump_older_than_the_server_is_a_clear_error_naming_what_to_install(backup_dir, pg, tmp_path, settings):
    settings.BACKUP_PG_BIN_DIR = str(fake_bin(tmp_path, 'echo "pg_dump (PostgreSQL) 9.6.24"\n'))

    with pytest.raises(BackupConfigError, match=r"pg_dump is older than the server: .* PostgreSQL 15, the pg_dump "
                                                r"found is 9.6 .*apt-get install postgresql-client-15"):
        backup_create(now=NOW, database=pg)
    assert folder_names(backup_dir) == []


def test_a_missing_pg_dump_is_a_clear_error(backup_dir, pg, tmp_path, settings):
    (tmp_path / "empty").mkdir()
    settings.BACKUP_PG_BIN_DIR = str(tmp_path / "empty")

    with pytest.raises(BackupConfigError, match="pg_dump was not found .*Install the PostgreSQL 15 client tools"):
        backup_create(now=NOW, database=pg)
