"""Backup files on disk: their names, the temporary files they are made in, and publishing them.

A backup is made in temporary files named `.partial-...` inside BACKUP_DIR (same file system, so
the final rename is atomic), fsynced, renamed to its final name and the folder fsynced, so after a
crash the folder holds either the whole file under its name or no file under that name. Only
files whose name matches FILE_NAME exactly, with the id of a row naming that same file, are ever
deleted by the app; anything else in the folder is left alone.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import tempfile
from datetime import datetime
from pathlib import Path

from backups.errors import BackupConfigError, BackupError

FILE_NAME = re.compile(
    r"db-(?P<vendor>sqlite|postgresql)-(?P<stamp>\d{8}T\d{6}Z)-(?P<id>[1-9]\d*)\.(?P<ext>sqlite3\.zst|pgdump)"
)
EXTENSIONS = {"sqlite": "sqlite3.zst", "postgresql": "pgdump"}
PARTIAL_PREFIX = ".partial-"
MANIFEST_SUFFIX = ".json"
CHUNK_BYTES = 1 << 20


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
    """Bytes used by the files in the folder, and the total and free space of its disk."""
    used = files = 0
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.is_file(follow_symlinks=False):
                    used += entry.stat(follow_symlinks=False).st_size
                    files += 1
    except FileNotFoundError:
        return {"path": str(directory), "exists": False, "used_bytes": 0, "files": 0,
                "free_bytes": None, "total_bytes": None}
    disk = shutil.disk_usage(directory)
    return {"path": str(directory), "exists": True, "used_bytes": used, "files": files,
            "free_bytes": disk.free, "total_bytes": disk.total}


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
