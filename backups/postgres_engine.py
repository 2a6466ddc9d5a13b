"""PostgreSQL backups: `pg_dump --format=custom`, checked by reading the whole dump back.

The password goes to pg_dump and pg_restore in the environment (PGPASSWORD), never on the command
line, where any user of the machine could read it in the process list. `pg_restore --list` reads
only the table of contents, which a truncated dump still has; `pg_restore -f /dev/null` reads every
byte of the data too, so that is the check. A pg_dump older than the server refuses to run (or
worse, misses what it does not know), so the tools are chosen by the server's major version:
once per backup (`prepare_backup`), and `create` dumps with the very tools the record names.

The rows of every table are counted for the manifest in the snapshot pg_dump dumps: `create` opens a
REPEATABLE READ transaction, exports its snapshot, counts, and hands the snapshot to pg_dump
(`--snapshot`), so the counts and the file describe the same instant, however busy the server.
A restore drill restores the file into a scratch database (`<database>_drill_<backup id>`, created
from template0 on the same server with the app's own credentials, so its role needs CREATEDB),
counts the rows there and drops it.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from backups import conf, files
from backups.engines import Made, Restored, Source
from backups.errors import BackupConfigError, BackupError, DrillFailed
from backups.sources import Database

MAGIC = b"PGDMP"
COMPRESSION = "pg_dump custom format (gzip)"
_VERSION = re.compile(r"\(PostgreSQL\) (\d+)(?:\.(\d+))?")
_OPTION_ENV = {"sslmode": "PGSSLMODE", "sslrootcert": "PGSSLROOTCERT", "sslcert": "PGSSLCERT",
               "sslkey": "PGSSLKEY", "connect_timeout": "PGCONNECT_TIMEOUT", "options": "PGOPTIONS"}


@dataclass(frozen=True)
class Tools:
    pg_dump: Path
    pg_restore: Path
    version: str  # "15.10"

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])


@dataclass(frozen=True)
class Server(Source):
    """A PostgreSQL database to dump, with the pg_dump and pg_restore chosen for its server."""

    tools: Tools


def _connect(db: Database):
    params = {"dbname": db.name, "host": db.host or None, "port": db.port or None, "user": db.user or None,
              "password": db.password or None, "connect_timeout": 10}
    params.update({k: v for k, v in db.options.items() if k in _OPTION_ENV})
    try:
        return psycopg.connect(**{k: v for k, v in params.items() if v is not None}, autocommit=True)
    except psycopg.OperationalError as exc:
        raise BackupError(f"Cannot connect to {db.describe()}: {str(exc).strip()}") from exc


def server_version(db: Database) -> tuple[int, str]:
    """(major, "15.10") of the server."""
    with _connect(db) as connection:
        return _version_of(connection)


def _version_of(connection) -> tuple[int, str]:
    number = connection.info.server_version  # 150010, 90624
    major = number // 10000
    if number >= 100000:
        return major, f"{major}.{number % 10000}"
    return major, f"{major}.{number // 100 % 100}.{number % 100}"


def _tool_version(pg_dump: Path) -> str | None:
    try:
        output = subprocess.run([str(pg_dump), "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = _VERSION.search(output)
    if not match:
        return None
    return f"{match[1]}.{match[2] or 0}"


def _candidate_dirs() -> list[Path]:
    configured = conf.get("BACKUP_PG_BIN_DIR")
    if configured:
        return [Path(configured)]
    dirs = []
    if found := shutil.which("pg_dump"):
        dirs.append(Path(found).parent)
    versioned = glob.glob("/usr/lib/postgresql/*/bin")
    dirs += [Path(d) for d in sorted(versioned, key=lambda d: int(re.sub(r"\D", "", d) or 0), reverse=True)]
    return dirs


def find_tools(server_major: int) -> Tools:
    """The pg_dump and pg_restore to use for a server of this major version, or a clear error."""
    found = []
    for directory in _candidate_dirs():
        pg_dump, pg_restore = directory / "pg_dump", directory / "pg_restore"
        if not (pg_dump.exists() and pg_restore.exists()):
            continue
        version = _tool_version(pg_dump)
        if version is None:
            continue
        tools = Tools(pg_dump, pg_restore, version)
        if tools.major >= server_major:
            return tools
        found.append(tools)
    install = (f"Install the PostgreSQL {server_major} client tools (Debian/Ubuntu: apt-get install "
               f"postgresql-client-{server_major}; elsewhere the postgresql{server_major} client package)")
    where = f"BACKUP_PG_BIN_DIR={conf.get('BACKUP_PG_BIN_DIR')}" if conf.get("BACKUP_PG_BIN_DIR") else (
        "PATH and /usr/lib/postgresql/*/bin")
    if found:
        seen = ", ".join(f"{t.version} ({t.pg_dump})" for t in found)
        raise BackupConfigError(
            f"pg_dump is older than the server: the server runs PostgreSQL {server_major}, the pg_dump found is "
            f"{seen}, and an older pg_dump cannot back up a newer server. {install}, or set BACKUP_PG_BIN_DIR to "
            "their folder."
        )
    raise BackupConfigError(f"pg_dump was not found (looked in {where}). {install}, or set BACKUP_PG_BIN_DIR to "
                            "their folder.")


def _env(db: Database) -> dict[str, str]:
    env = {**os.environ, "PGDATABASE": db.name, "PGAPPNAME": "archive-backup", "PGCONNECT_TIMEOUT": "10"}
    for key, value in (("PGHOST", db.host), ("PGPORT", db.port), ("PGUSER", db.user), ("PGPASSWORD", db.password)):
        if value:
            env[key] = value
        else:
            env.pop(key, None)
    for option, variable in _OPTION_ENV.items():
        if option in db.options:
            env[variable] = str(db.options[option])
    return env


def dump_command(tools: Tools, db: Database, target: Path, *, snapshot: str = "") -> tuple[list[str], dict[str, str]]:
    """pg_dump's argv and environment; the connection (and the password) live in the environment."""
    lock_ms = int(float(conf.get("BACKUP_LOCK_TIMEOUT_SECONDS")) * 1000)
    argv = [str(tools.pg_dump), "--format=custom", "--no-password", f"--lock-wait-timeout={lock_ms}",
            f"--file={target}"]
    if snapshot:
        argv.append(f"--snapshot={snapshot}")
    return argv, _env(db)


def _run(argv: list[str], env: dict[str, str], *, what: str) -> subprocess.CompletedProcess:
    timeout = float(conf.get("BACKUP_PG_TIMEOUT_SECONDS"))
    try:
        # subprocess.run kills the child when the timeout passes.
        return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise BackupError(f"{what} did not finish within {timeout:g} s and was stopped.") from None
    except OSError as exc:
        raise BackupConfigError(f"{what} could not be started ({argv[0]}): {exc.strerror or exc}.") from exc


def _stderr(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in (result.stderr or "").strip().splitlines() if line.strip()]
    return " ".join(lines[-3:]) or f"exit code {result.returncode}"


def _explain_dump_failure(result: subprocess.CompletedProcess, db: Database, tools: Tools) -> BackupError:
    text = result.stderr or ""
    if "server version mismatch" in text:
        return BackupConfigError(f"pg_dump {tools.version} is older than the server: {_stderr(result)} Install the "
                                 "client tools of the server's version, or set BACKUP_PG_BIN_DIR.")
    if "could not obtain lock" in text or "lock timeout" in text:
        return BackupError(f"The database is locked: pg_dump waited {conf.get('BACKUP_LOCK_TIMEOUT_SECONDS'):g} s "
                           f"for a table lock another session holds ({_stderr(result)}).")
    if "connection to server" in text or "could not connect" in text:
        return BackupError(f"pg_dump cannot connect to {db.describe()}: {_stderr(result)}")
    if "No space left" in text:
        return BackupError("The disk is full: pg_dump ran out of space writing the dump. Free some space or point "
                           "BACKUP_DIR at a larger disk.")
    return BackupError(f"pg_dump failed: {_stderr(result)}")


def check_dump(tools: Tools, path: Path) -> list[str]:
    """The dump starts with PGDMP and pg_restore can read all of it; return its applied migrations."""
    with open(path, "rb") as fh:
        head = fh.read(len(MAGIC))
    if head != MAGIC:
        raise BackupError(f"{path.name} is not a pg_dump custom-format archive (it does not start with PGDMP).")
    result = _run([str(tools.pg_restore), "--file=/dev/null", str(path)], _env(Database("postgresql", "")),
                  what="pg_restore (reading the whole dump back)")
    if result.returncode != 0:
        raise BackupError(f"The dump cannot be read back in full, it is damaged or truncated: {_stderr(result)}")
    result = _run([str(tools.pg_restore), "--data-only", "--table=django_migrations", "--file=-", str(path)],
                  _env(Database("postgresql", "")), what="pg_restore (reading the applied migrations)")
    migrations = _copied_rows(result.stdout, "django_migrations") if result.returncode == 0 else []
    if not migrations:
        raise BackupError("The dump has no applied migrations (django_migrations is empty or missing): it is not a "
                          "database of this app.")
    return [f"{row[1]}.{row[2]}" for row in migrations]


def _copied_rows(sql: str, table: str) -> list[list[str]]:
    """The rows of a table in pg_restore's plain output (`COPY ... FROM stdin;` up to `\\.`)."""
    rows, inside = [], False
    for line in sql.splitlines():
        if inside:
            if line == "\\.":
                inside = False
                continue
            rows.append(line.split("\t"))
        elif line.startswith("COPY ") and f"{table} (" in line and line.endswith("FROM stdin;"):
            inside = True
    return rows


def prepare_backup(db: Database) -> Server:
    """The server's version and size (over one connection), and the pg_dump and pg_restore for it."""
    with _connect(db) as connection:
        major, version = _version_of(connection)
        size = connection.execute("SELECT pg_database_size(current_database())").fetchone()[0]
    tools = find_tools(major)
    return Server(database=db, database_version=f"PostgreSQL {version}", tool=f"pg_dump {tools.version}",
                  size_bytes=size, tools=tools)


# The tables pg_dump dumps the rows of: ordinary tables (partitions included; a partitioned table's
# rows are its partitions') outside the system schemas, less those an extension owns.
_TABLES = """
    SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                      AND d.deptype = 'e')
    ORDER BY 1, 2
"""


def count_rows(connection) -> dict[str, int]:
    """{"table": rows} of every table pg_dump dumps, in the connection's snapshot ("schema.table" outside
    public)."""
    counts = {}
    for schema, table in connection.execute(_TABLES).fetchall():
        query = sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(table))
        counts[table if schema == "public" else f"{schema}.{table}"] = connection.execute(query).fetchone()[0]
    return counts


def create(server: Server, *, directory: Path, file_name: str) -> Made:
    partial = files.partial_path(directory, file_name)
    lock_ms = int(float(conf.get("BACKUP_LOCK_TIMEOUT_SECONDS")) * 1000)
    with _connect(server.database) as connection:
        # One snapshot for the counts and the dump: exported here, held open until pg_dump is done.
        connection.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        connection.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(lock_ms)))
        snapshot = connection.execute("SELECT pg_export_snapshot()").fetchone()[0]
        try:
            tables = count_rows(connection)
        except psycopg.errors.LockNotAvailable as exc:
            raise BackupError(f"The database is locked: counting its rows waited "
                              f"{conf.get('BACKUP_LOCK_TIMEOUT_SECONDS'):g} s for a table lock another session "
                              f"holds ({str(exc).strip()}).") from exc
        argv, env = dump_command(server.tools, server.database, partial, snapshot=snapshot)
        result = _run(argv, env, what="pg_dump")
        connection.execute("COMMIT")
    if result.returncode != 0:
        raise _explain_dump_failure(result, server.database, server.tools)
    migrations = check_dump(server.tools, partial)
    files.fsync_file(partial)
    return Made(partial=partial, size_bytes=partial.stat().st_size, sha256=files.sha256_of(partial),
                compression=COMPRESSION, applied_migrations=migrations, tables=tables)


def verify(path: Path, *, scratch: Path, server_major: int | None = None) -> list[str]:
    """Read the whole dump back with a pg_restore at least as new as the server that made it."""
    return check_dump(find_tools(server_major or 0), path)


def restore(path: Path, target: Database) -> None:
    """pg_restore in one transaction: it either replaces everything or, on the first error, nothing."""
    major, _ = server_version(target)
    tools = find_tools(major)
    argv = [str(tools.pg_restore), "--clean", "--if-exists", "--single-transaction", "--exit-on-error",
            "--no-owner", "--no-password", f"--dbname={target.name}", str(path)]
    result = _run(argv, _env(target), what="pg_restore")
    if result.returncode != 0:
        raise BackupError(f"pg_restore failed and rolled back; the database is as it was: {_stderr(result)}")


def table_names(target: Database) -> list[str]:
    """The tables of the database, in every schema but PostgreSQL's own; the database must exist."""
    try:
        with _connect(target) as connection:
            rows = connection.execute("SELECT tablename FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', "
                                      "'information_schema') ORDER BY tablename").fetchall()
    except BackupError as exc:
        if "does not exist" in str(exc):
            raise BackupError(f"{exc} Create it first, empty (createdb, or CREATE DATABASE in psql), then restore "
                              "into it.") from exc
        raise
    return [name for (name,) in rows]


def check_restored(target: Database) -> None:
    """Nothing to add: pg_restore ran in one transaction with --exit-on-error, so it all committed."""


def prepare_restore(path: Path, *, scratch: Path, server_major: int | None = None) -> tuple[Path, list[str]]:
    """Read the whole dump back (pg_restore reads the file itself; `scratch` is not needed)."""
    major = server_major or 0
    return path, check_dump(find_tools(major), path)


# --- restore drills ------------------------------------------------------------------------------

DRILL_INFIX = "_drill_"


def _drill_prefix(database: Database) -> str:
    """`<database>_drill_`: a drill database of this app's database, never another's on the same server."""
    return database.name[:40] + DRILL_INFIX


def drill_database_name(database: Database, drill_id: str) -> str:
    return f"{_drill_prefix(database)}{drill_id}"


def _drop_database(connection, name: str) -> None:
    force = " WITH (FORCE)" if connection.info.server_version >= 130000 else ""
    connection.execute(sql.SQL("DROP DATABASE IF EXISTS {}" + force).format(sql.Identifier(name)))


def drill(path: Path, *, scratch_dir: Path, drill_id: str, server_major: int | None = None,
          database: Database) -> Restored:
    """pg_restore the dump into a scratch database on the app's server, check it, count its rows, drop it.

    The scratch database is dropped whatever happens (a drill killed before that leaves it to the next
    drill's `drill_leftovers_remove`). What the dump itself gets wrong raises DrillFailed; a server
    that cannot be reached, or a role that may not create databases, raise BackupError /
    BackupConfigError.
    """
    name = drill_database_name(database, drill_id)
    with _connect(database) as admin:
        major, _ = _version_of(admin)
        tools = find_tools(max(major, server_major or 0))
        _drop_database(admin, name)  # a leftover of a drill that was killed: the drills hold a lock
        try:
            admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
        except psycopg.errors.InsufficientPrivilege as exc:
            role = database.user or "the app's role"
            raise BackupConfigError(
                f"The restore drill cannot create its scratch database “{name}” on the server: {str(exc).strip()}. "
                f"Let the app's role create databases (ALTER ROLE {role} CREATEDB), or disable the restore drill "
                "schedule.") from exc
        try:
            return _restore_and_count(path, tools=tools, target=dataclasses.replace(database, name=name))
        finally:
            _drop_database(admin, name)


def _restore_and_count(path: Path, *, tools: Tools, target: Database) -> Restored:
    argv = [str(tools.pg_restore), "--single-transaction", "--exit-on-error", "--no-owner", "--no-password",
            f"--dbname={target.name}", str(path)]
    result = _run(argv, _env(target), what="pg_restore (into the drill's scratch database)")
    if result.returncode != 0:
        raise DrillFailed(f"pg_restore could not restore {path.name} into a scratch database: {_stderr(result)}")
    with _connect(target) as connection:
        try:
            migrations = connection.execute("SELECT app, name FROM django_migrations ORDER BY id").fetchall()
        except psycopg.errors.UndefinedTable:
            migrations = []
        if not migrations:
            raise DrillFailed("The restored copy has no applied migrations (django_migrations is empty or missing): "
                              "it is not a database of this app.")
        return Restored(applied_migrations=[f"{app}.{name}" for app, name in migrations],
                        tables=count_rows(connection))


def drill_leftovers_remove(database: Database) -> list[str]:
    """Drop the scratch databases killed drills left on the server (only this app database's, by name)."""
    prefix = _drill_prefix(database)
    pattern = re.compile(re.escape(prefix) + r"\d+")
    like = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    with _connect(database) as admin:
        names = [name for (name,) in admin.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                                                   (like,)).fetchall() if pattern.fullmatch(name)]
        for name in names:
            _drop_database(admin, name)
    return names
