"""SQLite backups: the online backup API into a temporary copy, checked, then compressed with zstandard.

The copy is made by a dedicated `sqlite3` connection (not Django's, whose transaction state is not
ours to touch) in ONE step (`pages=-1`): a stepped backup starts again whenever another connection
writes between steps, so on a busy database it may never finish. One step reads a single
consistent snapshot; in WAL mode writers carry on meanwhile, since readers never block them.

The copy is switched to `journal_mode=DELETE` (it inherits WAL from the live file, and opening a WAL
file creates `-wal`/`-shm` beside it), checked with `PRAGMA integrity_check` opened read-only and
immutable, and must hold applied migrations. It is compressed in a stream (never read whole into
memory) and hashed on the way out, so the SHA-256 is that of the published bytes. The rows of every
table are counted in the same copy (so in the very snapshot the file holds) while it is compressed,
for the manifest; a restore drill counts them again in a scratch copy decompressed from the file.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path

import zstandard

from backups import conf, files
from backups.engines import Made, Restored, Source
from backups.errors import BackupError, DrillFailed
from backups.sources import Database


class _Locked(Exception):
    pass


def database_size(db: Database) -> int:
    path = Path(db.name)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise BackupError(f"The database file {path} does not exist.") from None
    wal = path.with_name(path.name + "-wal")
    return size + (wal.stat().st_size if wal.exists() else 0)


def prepare_backup(db: Database) -> Source:
    return Source(database=db, database_version=f"SQLite {sqlite3.sqlite_version}",
                  tool=f"SQLite online backup API, zstandard {zstandard.__version__}", size_bytes=database_size(db))


def _read_only_uri(path: Path) -> str:
    # immutable: SQLite takes no locks and never looks for a journal or WAL, so checking the copy
    # creates nothing beside it.
    return f"{Path(path).resolve().as_uri()}?mode=ro&immutable=1"


def _online_copy(source: sqlite3.Connection, target: sqlite3.Connection, *, what: str) -> None:
    """`source.backup(target)` in one step; fail after the lock timeout instead of retrying forever.

    Python retries a busy step every 250 ms without end; the progress callback is called after
    every attempt, and raising from it stops the backup.
    """
    timeout = float(conf.get("BACKUP_LOCK_TIMEOUT_SECONDS"))
    deadline = time.monotonic() + timeout

    def give_up_when_locked(status, remaining, total):
        if status in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) and time.monotonic() > deadline:
            raise _Locked

    try:
        source.backup(target, pages=-1, progress=give_up_when_locked, sleep=0.05)
    except _Locked:
        raise BackupError(
            f"The database is locked: {what} waited {timeout:g} s for another connection to let go of it. "
            "Try again when it is less busy (a long write, or a tool holding the file open?)."
        ) from None
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise BackupError(f"The database is locked: {what} could not proceed ({exc}).") from exc
        raise


def copy_database(db: Database, copy_path: Path) -> None:
    live = Path(db.name)
    if not live.exists():  # sqlite3.connect() would create an empty one
        raise BackupError(f"The database file {live} does not exist.")
    timeout = float(conf.get("BACKUP_LOCK_TIMEOUT_SECONDS"))
    source = sqlite3.connect(live, timeout=timeout, isolation_level=None)
    try:
        target = sqlite3.connect(copy_path, isolation_level=None)
        try:
            # The copy is scratch until it is checked and compressed (the compressed file is what is
            # fsynced): no journal, and no fsync of hundreds of MB that would stall the live
            # database's writers queued behind it on the same disk.
            target.execute("PRAGMA synchronous=OFF")
            target.execute("PRAGMA journal_mode=OFF")
            _online_copy(source, target, what="the copy")
            mode = target.execute("PRAGMA journal_mode=DELETE").fetchone()[0]
            if mode.lower() != "delete":
                raise BackupError(f"The copy could not be switched out of {mode} journal mode.")
        finally:
            target.close()
    finally:
        source.close()


def check_copy(path: Path) -> list[str]:
    """Integrity check and applied migrations of an uncompressed copy; raises BackupError if unfit."""
    try:
        connection = sqlite3.connect(_read_only_uri(path), uri=True)
        try:
            problems = [row[0] for row in connection.execute("PRAGMA integrity_check").fetchall()]
            migrations = connection.execute("SELECT app, name FROM django_migrations ORDER BY id").fetchall()
        finally:
            connection.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"The copy is damaged: SQLite cannot read it ({exc}).") from exc
    if problems != ["ok"]:
        raise BackupError(f"The copy failed SQLite's integrity check: {'; '.join(problems[:5])}.")
    if not migrations:
        raise BackupError("The copy has no applied migrations (django_migrations is empty): it is not a database "
                          "of this app.")
    return [f"{app}.{name}" for app, name in migrations]


def count_rows(path: Path) -> dict[str, int]:
    """{"table": rows} of every table of an uncompressed copy, by name.

    SQLite's own tables (sqlite_sequence, sqlite_stat1) are left out, and so are virtual tables,
    whose rows live in ordinary "shadow" tables that are counted (and whose module may not be
    loaded here).
    """
    try:
        connection = sqlite3.connect(_read_only_uri(path), uri=True)
        try:
            names = [name for (name,) in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
                "AND coalesce(sql, '') NOT LIKE 'CREATE VIRTUAL TABLE%' ORDER BY name")]
            return {name: connection.execute(f"SELECT count(*) FROM {_quoted(name)}").fetchone()[0] for name in names}
        finally:
            connection.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"The rows of the copy cannot be counted: SQLite cannot read it ({exc}).") from exc


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def compress(source: Path, target: Path) -> tuple[int, str]:
    """Stream `source` through zstandard into `target` (fsynced); return its size and SHA-256."""
    compressor = zstandard.ZstdCompressor(level=int(conf.get("BACKUP_ZSTD_LEVEL")),
                                          threads=int(conf.get("BACKUP_ZSTD_THREADS")), write_checksum=True)
    with open(source, "rb") as reader, open(target, "xb") as out:
        sink = files.HashingWriter(out)
        compressor.copy_stream(reader, sink, size=os.fstat(reader.fileno()).st_size,
                               read_size=files.CHUNK_BYTES, write_size=files.CHUNK_BYTES)
        out.flush()
        os.fsync(out.fileno())
    return sink.size, sink.sha256.hexdigest()


def compression_label() -> str:
    return f"zstd level {conf.get('BACKUP_ZSTD_LEVEL')}"


def create(source: Source, *, directory: Path, file_name: str) -> Made:
    copy_path = files.partial_path(directory, file_name, ".copy.sqlite3")
    published = files.partial_path(directory, file_name)
    copy_database(source.database, copy_path)
    # The check and the compression both only read the copy, and both release the GIL while they
    # work, so they overlap; a copy that fails the check is never published.
    checked: dict = {}

    def check() -> None:
        try:
            checked["migrations"] = check_copy(copy_path)
            checked["tables"] = count_rows(copy_path)
        except BaseException as exc:  # handed to the main thread below
            checked["error"] = exc

    checker = threading.Thread(target=check, name="backup-integrity-check")
    checker.start()
    try:
        size, sha256 = compress(copy_path, published)
    finally:
        checker.join()
    if "error" in checked:
        raise checked["error"]
    copy_path.unlink()
    return Made(partial=published, size_bytes=size, sha256=sha256, compression=compression_label(),
                applied_migrations=checked["migrations"], tables=checked["tables"])


def decompress(path: Path, target: Path) -> None:
    """Stream a published file back into an SQLite file (fsynced).

    zstandard stops quietly at the end of a truncated file, so the size written is compared with
    the size the frame header announces (compress() always records it).
    """
    try:
        with open(path, "rb") as reader, open(target, "xb") as out:
            expected = zstandard.get_frame_parameters(reader.read(18)).content_size
            reader.seek(0)
            _, written = zstandard.ZstdDecompressor().copy_stream(reader, out, read_size=files.CHUNK_BYTES,
                                                                  write_size=files.CHUNK_BYTES)
            out.flush()
            os.fsync(out.fileno())
    except zstandard.ZstdError as exc:
        raise BackupError(f"{path.name} cannot be decompressed: {exc}. The file is damaged.") from exc
    if expected not in (zstandard.CONTENTSIZE_UNKNOWN, written):
        raise BackupError(f"{path.name} cannot be decompressed in full: it holds {written} of the {expected} bytes "
                          "it announces. The file is truncated.")


def verify(path: Path, *, scratch: Path, server_major: int | None = None) -> list[str]:
    """Decompress into `scratch`, check it, and return its applied migrations (scratch removed)."""
    try:
        decompress(path, scratch)
        return check_copy(scratch)
    finally:
        scratch.unlink(missing_ok=True)


def restore(copy_path: Path, target: Database) -> None:
    """Overwrite the live database with a checked copy, through the online backup API.

    The backup API writes into the live file through SQLite's own locking and journal (in WAL mode
    the destination stays in WAL mode), in one transaction: other connections see either the old
    data or the restored data, never a mix, and no stale -wal or -shm from before is left
    describing pages that no longer exist. A failure rolls the destination back untouched.
    """
    timeout = float(conf.get("BACKUP_LOCK_TIMEOUT_SECONDS"))
    source = sqlite3.connect(_read_only_uri(copy_path), uri=True)
    try:
        live = sqlite3.connect(target.name, timeout=timeout, isolation_level=None)
        try:
            _online_copy(source, live, what="the restore")
        finally:
            live.close()
    finally:
        source.close()


def check_restored(target: Database) -> None:
    """Integrity check of the live database after a restore; fold the restored pages into the main file."""
    timeout = float(conf.get("BACKUP_LOCK_TIMEOUT_SECONDS"))
    live = sqlite3.connect(target.name, timeout=timeout, isolation_level=None)
    try:
        problems = [row[0] for row in live.execute("PRAGMA integrity_check").fetchall()]
        if problems != ["ok"]:
            raise BackupError(f"The restored database failed SQLite's integrity check: {'; '.join(problems[:5])}.")
        # Best effort: with readers still open the WAL is folded in later by SQLite itself.
        live.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        live.close()


def install(copy_path: Path, target: Database) -> list[tuple[Path, Path]]:
    """Make a checked copy the database, where none exists yet, by name: nothing is copied again.

    The copy is on the database's file system (decompressed beside it) and fsynced. A -wal, -shm or
    -journal left there by an earlier database is moved aside first (`<name>.before-restore`): SQLite would
    replay an old WAL into the new file. The copy gets the database's name as a hard link, which fails if
    a file of that name appeared meanwhile, then loses its own; the folder is fsynced, so after a crash
    the database is there whole, or not at all. Returns the leftovers and where they went.
    """
    live = Path(target.name)
    moved = []
    for suffix in ("-wal", "-shm", "-journal"):
        leftover = live.with_name(live.name + suffix)
        if leftover.exists():
            aside = leftover.with_name(f"{leftover.name}.before-restore")
            if aside.exists():
                aside = leftover.with_name(f"{leftover.name}.before-restore-{int(time.time())}")
            os.rename(leftover, aside)
            moved.append((leftover, aside))
    try:
        os.link(copy_path, live)
    except FileExistsError:
        raise BackupError(f"{live} appeared while the restore was being prepared; it was left as it is. Run the "
                          "restore again.") from None
    copy_path.unlink()
    files.fsync_dir(live.parent)
    return moved


def table_names(target: Database) -> list[str] | None:
    """The tables of the database, None if its file does not exist (an empty file has none)."""
    path = Path(target.name)
    if not path.exists():
        return None
    if path.stat().st_size == 0:
        return []
    try:
        # Read-only: looking must not create or change anything (not even a -wal beside a new file).
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE "
                                      "'sqlite_%' ORDER BY name").fetchall()
        finally:
            connection.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path} is not an SQLite database this app can read ({exc}); move it aside to restore "
                          "into its place.") from exc
    return [name for (name,) in rows]


def prepare_restore(path: Path, *, scratch: Path, server_major: int | None = None) -> tuple[Path, list[str]]:
    """Decompress into `scratch` and check it: what `restore` then copies into the live database."""
    decompress(path, scratch)
    return scratch, check_copy(scratch)


# --- restore drills ------------------------------------------------------------------------------


def drill(path: Path, *, scratch_dir: Path, drill_id: str, server_major: int | None = None,
          database: Database | None = None) -> Restored:
    """Restore a published file into a scratch SQLite file in `scratch_dir`: decompress it, check its
    integrity and migrations, count its rows; the scratch file is removed whatever happens.

    What the file itself gets wrong raises DrillFailed; the disk (OSError) and the like propagate.
    """
    scratch = scratch_dir / f"drill-{drill_id}.sqlite3"
    try:
        try:
            decompress(path, scratch)
            return Restored(applied_migrations=check_copy(scratch), tables=count_rows(scratch))
        except DrillFailed:
            raise
        except BackupError as exc:
            raise DrillFailed(str(exc)) from exc
    finally:
        scratch.unlink(missing_ok=True)


def drill_leftovers_remove(database: Database) -> list[str]:
    """Nothing: an SQLite drill's scratch file lives in the drill's scratch folder, which the drill removes."""
    return []
