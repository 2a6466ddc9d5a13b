"""Backup files on disk: their names, the temporary files they are made in, publishing them, and reading
the manifest beside each one.

A backup is made in temporary files named `.partial-...` inside BACKUP_DIR (same file system, so
the final rename is atomic), fsynced, renamed to its final name and the folder fsynced, so after a
crash the folder holds either the whole file under its name or no file under that name. Only
files whose name matches FILE_NAME exactly, with the id of a row naming that same file, are ever
deleted by the app; anything else in the folder is left alone.

The folder describes itself: each file's manifest (`<file>.json`) holds what a restore or an adoption
needs without the database (the id, the checksum, the engine and its versions, the applied migrations)
and, in words and commands, how to restore it with stock tools (`restore`). `read_manifest` reads one
back, checked field by field; manifests written before a key existed still read (only the keys a
restore needs are required).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from backups.errors import BackupConfigError, BackupError, ManifestProblem

FILE_NAME = re.compile(
    r"db-(?P<vendor>sqlite|postgresql)-(?P<stamp>\d{8}T\d{6}Z)-(?P<id>[1-9]\d*)\.(?P<ext>sqlite3\.zst|pgdump)"
)
EXTENSIONS = {"sqlite": "sqlite3.zst", "postgresql": "pgdump"}
PARTIAL_PREFIX = ".partial-"
MANIFEST_SUFFIX = ".json"
CHUNK_BYTES = 1 << 20
# What the first bytes of a backup file say it is, for a file without a manifest.
MAGIC = {"postgresql": b"PGDMP", "sqlite": b"\x28\xb5\x2f\xfd"}  # pg_dump's custom format; a zstd frame
RESTORE_GUIDE = "docs/restore.md"
# A manifest bigger than this is not one of ours (ours are a few KB).
MANIFEST_MAX_BYTES = 1 << 20


def file_name_for(*, vendor: str, started_at: datetime, backup_id: int) -> str:
    return f"db-{vendor}-{started_at:%Y%m%dT%H%M%SZ}-{backup_id}.{EXTENSIONS[vendor]}"


def is_ours(file_name: str, backup_id: int) -> bool:
    """The exact name the app gives the backup with this id; nothing else is ever deleted."""
    match = FILE_NAME.fullmatch(file_name or "")
    return bool(match) and int(match["id"]) == backup_id


def manifest_name(file_name: str) -> str:
    return file_name + MANIFEST_SUFFIX


def partial_path(directory: Path, file_name: str, suffix: str = "") -> Path:
    return directory / f"{PARTIAL_PREFIX}{file_name}{suffix}"


def remove_partials(directory: Path, file_name: str) -> list[Path]:
    """Remove the temporary files of one backup (its copy, its journal or WAL, its compressed file)."""
    removed = []
    if not file_name:
        return removed
    for path in directory.glob(f"{PARTIAL_PREFIX}{file_name}*"):
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        removed.append(path)
    return removed


def describe_os_error(exc: OSError, *, what: str) -> str:
    if exc.errno == errno.ENOSPC:
        return f"The disk is full: no space left for {what}. Free some space or point BACKUP_DIR at a larger disk."
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"Not allowed to write {what}: {exc.strerror}. Check the folder's owner and permissions."
    return f"Could not write {what}: {exc.strerror or exc}."


def ensure_writable_dir(directory: Path) -> None:
    """Create BACKUP_DIR if missing and prove that a file can be written in it."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        if not directory.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, "Not a directory", str(directory))
        fd, probe = tempfile.mkstemp(prefix=f"{PARTIAL_PREFIX}probe-", dir=directory)
        try:
            os.write(fd, b"probe")
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if isinstance(exc, (FileExistsError, NotADirectoryError)):
            reason = "a part of the path is a file, not a folder"
        raise BackupConfigError(
            f"The backup folder {directory} cannot be used: {reason}. Set BACKUP_DIR to a folder this app can "
            "write to."
        ) from exc


class HashingWriter:
    """A file-like sink that hashes and counts what passes through it to the real file."""

    def __init__(self, file):
        self.file = file
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data) -> int:
        self.sha256.update(data)
        self.size += len(data)
        return self.file.write(data)

    def flush(self) -> None:
        self.file.flush()


class UnsafeBackupFile(BackupError):
    """A backup's name in BACKUP_DIR is not a regular file of the folder: a symbolic link, something
    leading out of the folder, or a special file (a FIFO would block its reader for ever)."""


def regular_file(directory: Path, file_name: str) -> Path:
    """`directory / file_name` if it is a regular file of the folder itself, or missing (the caller
    says what missing means); UnsafeBackupFile otherwise.

    Anyone who can write to BACKUP_DIR could otherwise plant a link carrying a backup's name, and a
    download, verify or off-site copy would read where it points (/etc/passwd, the secrets file).
    The words name the file, never the folder's absolute path.
    """
    path = directory / file_name
    if path.parent.resolve() != directory.resolve() or path.name != file_name:
        raise UnsafeBackupFile(f"{file_name} leads outside BACKUP_DIR: it is not opened.")
    try:
        info = path.lstat()
    except FileNotFoundError:
        return path
    if stat.S_ISLNK(info.st_mode):
        raise UnsafeBackupFile(f"{file_name} in BACKUP_DIR is a symbolic link, not a file the app made: it is not "
                               "opened. Remove the link, or put the real file there.")
    if not stat.S_ISREG(info.st_mode):
        raise UnsafeBackupFile(f"{file_name} in BACKUP_DIR is not a regular file: it is not opened.")
    return path


def open_regular(path: Path) -> BinaryIO:
    """Open a file for reading only if it is a regular file, never through a symbolic link: the
    check in `regular_file` and the open are two steps, and the name could be swapped between them.
    O_NONBLOCK: opening a FIFO planted under the name does not wait for a writer."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UnsafeBackupFile(f"{path.name} in BACKUP_DIR is not a regular file: it is not opened.")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def sha256_of(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(directory: Path) -> None:
    """Make the renames in the folder durable (the rename itself lives in the folder's entry)."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(partial: Path, final: Path) -> None:
    """Atomically give a finished, fsynced temporary file its final name (never over another file)."""
    if final.exists():
        raise BackupError(f"{final.name} already exists in {final.parent}; the app never overwrites a backup.")
    os.rename(partial, final)


def write_manifest(directory: Path, file_name: str, manifest: dict) -> Path:
    """Write `<file>.json` beside the backup: temporary file, fsync, rename (fsync the folder after)."""
    final = directory / manifest_name(file_name)
    partial = partial_path(directory, file_name, MANIFEST_SUFFIX)
    with open(partial, "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, indent=2, sort_keys=True, default=str)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(partial, final)
    return final


def folder_usage(directory: Path) -> dict:
    """Bytes used by the files in the folder, how many files (how many of them manifests: a backup is a file
    and its manifest, and a person counts backups, not files), and the total and free space of its disk."""
    used = files = manifests = 0
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.is_file(follow_symlinks=False):
                    used += entry.stat(follow_symlinks=False).st_size
                    files += 1
                    manifests += entry.name.endswith(MANIFEST_SUFFIX)
    except FileNotFoundError:
        return {"path": str(directory), "exists": False, "used_bytes": 0, "files": 0, "manifests": 0,
                "backup_files": 0, "free_bytes": None, "total_bytes": None}
    disk = shutil.disk_usage(directory)
    return {"path": str(directory), "exists": True, "used_bytes": used, "files": files, "manifests": manifests,
            "backup_files": files - manifests, "free_bytes": disk.free, "total_bytes": disk.total}


def free_bytes(directory: Path) -> int | None:
    """Free space on the folder's disk, without reading the folder; None if it does not exist."""
    try:
        return shutil.disk_usage(directory).free
    except FileNotFoundError:
        return None


def human_size(size: int | None) -> str:
    if size is None:
        return "—"
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"


# --- the manifest: read back ---------------------------------------------------------------------


@dataclass(frozen=True)
class Manifest:
    """A backup's manifest, read back and checked: the keys a restore or an adoption relies on are there
    and well-formed (see read_manifest); `data` holds all of it, newer keys included."""

    path: Path
    data: dict

    @property
    def id(self) -> int:
        return self.data["id"]

    @property
    def file(self) -> str:
        return self.data["file"]

    @property
    def sha256(self) -> str:
        return self.data["sha256"]

    @property
    def vendor(self) -> str:
        return self.data["database_vendor"]

    @property
    def size_bytes(self) -> int | None:
        return self.data.get("size_bytes")

    @property
    def started_at(self) -> datetime:
        return datetime.fromisoformat(self.data["started_at"])

    @property
    def finished_at(self) -> datetime:
        """When the file was finished (its start, for a manifest that does not say)."""
        value = self.data.get("finished_at")
        return datetime.fromisoformat(value) if value else self.started_at

    @property
    def database_version(self) -> str:
        return self.data.get("database_version") or ""

    @property
    def applied_migrations(self) -> list[str]:
        return list(self.data.get("applied_migrations") or [])

    def server_major(self) -> int | None:
        """The PostgreSQL major version that made it ("PostgreSQL 15.10" -> 15), if it says."""
        version = self.database_version.removeprefix("PostgreSQL ").split(".")[0]
        return int(version) if version.isdigit() else None


def is_instant(value) -> bool:
    try:
        return isinstance(value, str) and datetime.fromisoformat(value).tzinfo is not None
    except ValueError:
        return False


_CHECKS = (
    ("id", lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0, "a whole number above 0"),
    ("file", lambda v: isinstance(v, str) and FILE_NAME.fullmatch(v) is not None,
     "a backup file name as the app gives them (db-<engine>-<time>-<id>.<ext>)"),
    ("sha256", lambda v: isinstance(v, str) and re.fullmatch(r"[0-9a-f]{64}", v) is not None,
     "64 hexadecimal digits"),
    ("database_vendor", lambda v: v in EXTENSIONS, "sqlite or postgresql"),
    ("status", lambda v: v == "completed", "completed (only a finished backup has a manifest)"),
    ("started_at", is_instant, "an ISO 8601 instant with its offset"),
)
_OPTIONAL_CHECKS = (
    ("finished_at", lambda v: v is None or is_instant(v), "an ISO 8601 instant with its offset"),
    ("size_bytes", lambda v: v is None or (isinstance(v, int) and not isinstance(v, bool) and v >= 0),
     "a whole number of bytes"),
    ("applied_migrations", lambda v: v is None or (isinstance(v, list) and all(isinstance(m, str) for m in v)),
     'a list of "app.migration" names'),
)


def read_manifest(path: Path, *, file_name: str | None = None) -> Manifest:
    """Read and check a manifest; ManifestProblem names the file and the key that is wrong.

    With `file_name`, the manifest must describe that file (its `file`), and the id in the name must be
    its `id`: a manifest is never applied to another file.
    """
    try:
        if path.stat().st_size > MANIFEST_MAX_BYTES:
            raise ManifestProblem(f"{path.name} is too big to be a backup manifest.")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ManifestProblem(f"There is no manifest {path.name} beside the file.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestProblem(f"The manifest {path.name} cannot be read: {getattr(exc, 'strerror', None) or exc}.") \
            from exc
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ManifestProblem(f"The manifest {path.name} is not valid JSON: {exc}.") from exc
    if not isinstance(data, dict):
        raise ManifestProblem(f"The manifest {path.name} is not a JSON object.")
    for key, check, expected in _CHECKS:
        if key not in data:
            raise ManifestProblem(f"The manifest {path.name} has no {key!r}.")
        if not check(data[key]):
            raise ManifestProblem(f"The manifest {path.name}: {key!r} is {data[key]!r}; it must be {expected}.")
    for key, check, expected in _OPTIONAL_CHECKS:
        if not check(data.get(key)):
            raise ManifestProblem(f"The manifest {path.name}: {key!r} is {data[key]!r}; it must be {expected}.")
    named = FILE_NAME.fullmatch(data["file"])
    if int(named["id"]) != data["id"] or named["vendor"] != data["database_vendor"]:
        raise ManifestProblem(f"The manifest {path.name} contradicts itself: {data['file']!r} is not the name of "
                              f"{data['database_vendor']} backup #{data['id']}.")
    if file_name is not None and data["file"] != file_name:
        raise ManifestProblem(f"The manifest {path.name} describes {data['file']}, not {file_name}.")
    return Manifest(path=path, data=data)


def manifest_path(file_path: Path) -> Path:
    return file_path.with_name(manifest_name(file_path.name))


def finished_manifest(directory: Path, *, file_name: str, backup_id: int) -> Manifest | None:
    """The manifest of backup `backup_id` if its file is published beside it with the size it names, else None.

    Cheap (a stat and a small read, no checksum): the app writes a manifest only after the backup's row
    says completed, so a row still running whose finished manifest is in the folder belongs to a copy of
    the database taken while that backup ran, i.e. a restored database (backups.services.aftermath).
    """
    if not is_ours(file_name, backup_id):
        return None
    try:
        manifest = read_manifest(directory / manifest_name(file_name), file_name=file_name)
        size = (directory / file_name).stat().st_size
    except (ManifestProblem, OSError):
        return None
    if manifest.id != backup_id or (manifest.size_bytes is not None and manifest.size_bytes != size):
        return None
    return manifest


def backup_file_names(directory: Path) -> list[str]:
    """The names in the folder that are backup files as the app names them (not manifests, not partials), oldest
    first (the name starts with the time)."""
    try:
        with os.scandir(directory) as entries:
            return sorted(entry.name for entry in entries
                          if FILE_NAME.fullmatch(entry.name) and entry.is_file(follow_symlinks=False))
    except (FileNotFoundError, NotADirectoryError):
        return []


def vendor_by_content(path: Path) -> str | None:
    """sqlite or postgresql from the file's first bytes (a zstd frame, or pg_dump's PGDMP), else None."""
    with open(path, "rb") as fh:
        head = fh.read(8)
    return next((vendor for vendor, magic in MAGIC.items() if head.startswith(magic)), None)


# --- the manifest's `restore` entry --------------------------------------------------------------------


def restore_entry(*, vendor: str, file_name: str, sha256: str, tool: str) -> dict:
    """How to restore this file with stock tools, in words and commands (the manifest's `restore`).

    The commands are those of docs/restore.md for this very file, with DB (the SQLite path in DATABASE_URL)
    and DATABASE_URL left for the reader to fill in.
    """
    check = f"{sha256}  {file_name}"
    with_the_app = f"manage.py restore_backup --file {file_name}"
    if vendor == "sqlite":
        return {
            "in_words": (
                "An SQLite database compressed with zstd. Check the file against its checksum (sha256sum -c), "
                "decompress it (zstd -d), check the result (sqlite3 FILE 'PRAGMA integrity_check' must print "
                "ok), then, with the app stopped, move the old database and its -wal and -shm files aside and "
                "put the result where DATABASE_URL points (var/db.sqlite3 unless set). With the app "
                f"installed, `{with_the_app}` does all of it."
            ),
            "commands": [
                f"echo '{check}' | sha256sum -c",
                f'zstd -d {file_name} -o "$DB.restored"',
                """sqlite3 "$DB.restored" 'PRAGMA integrity_check'""",
                'mv "$DB.restored" "$DB"',
            ],
            "with_the_app": with_the_app,
            "guide": RESTORE_GUIDE,
        }
    return {
        "in_words": (
            f"A pg_dump archive in custom format (made by {tool or 'pg_dump'}). Check the file against its "
            "checksum (sha256sum -c), read it back in full (pg_restore -f /dev/null), then restore it into an "
            "empty database, or the app's own, with pg_restore --clean --if-exists --no-owner, using a "
            f"pg_restore at least as new as the pg_dump that made it. With the app installed, `{with_the_app}` "
            "does all of it."
        ),
        "commands": [
            f"echo '{check}' | sha256sum -c",
            f"pg_restore -f /dev/null {file_name}",
            f'pg_restore --clean --if-exists --no-owner --single-transaction --exit-on-error -d "$DATABASE_URL" '
            f"{file_name}",
        ],
        "with_the_app": with_the_app,
        "guide": RESTORE_GUIDE,
    }
