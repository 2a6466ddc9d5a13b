"""Off-site copies of the backups, through rclone: copy, check, delete and fetch back.

The app writes no storage client. `BACKUP_REMOTE` names an rclone remote path (`offsite:channel-archive`,
a remote of rclone's own config file; or an on-the-fly one, `:sftp,host=…,user=…:backups`), and every
operation runs the `rclone` program: a subprocess with a time limit, its arguments a list (never a shell
string), its output read back. A remote's connection string can hold secrets (an obscured password, a
token, a URL with credentials), so it is shown and logged only masked (`:sftp,…:backups`, see mask())
and rclone's own messages, which quote it whole, are scrubbed before they are kept or shown.

A copy is the backup's file, then its manifest, each under its own name in the remote folder, and is
then checked there: the size of both, and a hash where the remote can give one (SHA-256 against the
manifest's checksum, or SHA-1 / MD5 against the same hash of the local file, computed while the file
uploads); a remote with no hash at all (plain WebDAV, FTP) is read back and its SHA-256 compared
(`rclone hashsum --download`). rclone's own check after the upload is switched off, since ours replaces
it. A copy that does not match is deleted from the remote, so the next attempt uploads it afresh.

The job `BACKUP_OFFSITE_COPY` (backups.handlers) copies one backup, with its own retries and backoff, so
a failed copy never fails the backup; the backup records the copy (when, where, how it was checked) or
the last error. Deleting a backup deletes its remote copy (offsite_delete); a remote copy that could not
be deleted then is deleted again by the next retention pass. offsite_fetch_all brings the remote's
backups back into BACKUP_DIR after the disk was lost (then `adopt_backups` registers them), and
offsite_fetch_one fetches one backup's copy for a restore drill.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.db.models import Count, Max, Q

from backups import conf, files
from backups.errors import BackupConfigError, BackupError, DrillFailed
from backups.models import Backup, BackupStatus
from backups.services.drilling import DrillSource
from jobs.models import ACTIVE_STATUSES, Job, JobStatus

logger = logging.getLogger(__name__)

JOB_TYPE = "BACKUP_OFFSITE_COPY"
# Flags for every call: errors only on stderr (no progress, no notices), one try per call (the job has
# its own retries with backoff), a bounded wait for the connection and for a transfer that stalls.
COMMON_FLAGS = ("--log-level", "ERROR", "--stats", "0", "--retries", "1", "--low-level-retries", "3",
                "--contimeout", "15s", "--timeout", "60s")
# Hashes the app can compute too (rclone's names), strongest first; SHA-256 needs no local reading at all.
HASHES = {"sha256": "SHA-256", "sha1": "SHA-1", "md5": "MD5", "sha512": "SHA-512"}
# rclone's exit code for "directory not found" (rclone docs, "Exit Code").
EXIT_DIRECTORY_NOT_FOUND = 3
# Remote copies left behind by a deletion that failed, deleted again per retention pass.
LEFTOVERS_PER_PASS = 20
_SECRET_KEYS = re.compile(r"pass|key|secret|token|auth|cred|sig|session|bearer|url|cookie", re.I)


class OffsiteError(BackupError):
    """An off-site copy, check, deletion or fetch failed; the message names the remote only masked."""


class OffsiteConfigError(OffsiteError, BackupConfigError):
    """No remote is set, or rclone cannot be run: no retry fixes it."""


class OffsiteCopyDamaged(OffsiteError):
    """The remote holds a copy that is not the backup its manifest describes (size, SHA-256, manifest)."""


# --- the remote and its secrets -------------------------------------------------------------------


def remote() -> str:
    """BACKUP_REMOTE ("" when off-site copies are off)."""
    return getattr(settings, "BACKUP_REMOTE", "") or ""


def rclone_path() -> str | None:
    """The rclone program to run, or None if it is not there."""
    return shutil.which(str(conf.get("BACKUP_RCLONE_BIN")))


def remote_problem() -> str:
    """Why off-site copies cannot be made although BACKUP_REMOTE is set ("" when they can, or are off)."""
    if not remote() or rclone_path():
        return ""
    return (f"BACKUP_REMOTE is set ({mask(remote())}) but the rclone program ({conf.get('BACKUP_RCLONE_BIN')}) "
            "is not installed or not on PATH, so no backup is copied off-site. Install it (Debian: apt-get "
            "install rclone) or unset BACKUP_REMOTE.")


def _split(spec: str) -> tuple[str, str]:
    """(`name,params` or `:backend,params`, path) of an rclone path; ("", spec) for a local path.

    The remote part ends at the first colon outside quotes (a parameter's value may hold colons when
    quoted: `url='http://host:8080'`, as rclone's connection strings allow).
    """
    if spec.startswith(("/", ".", "~")):
        return "", spec
    quote = ""
    for index, char in enumerate(spec):
        if index == 0 and char == ":":
            continue
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == ":":
            return spec[:index], spec[index + 1:]
        elif char in "/\\":
            break
    return "", spec


def _params(head: str) -> list[tuple[str, str]]:
    """The `key=value` parameters of a remote's head, values unquoted."""
    parts, current, quote = [], "", ""
    for char in head.partition(",")[2] if "," in head else "":
        if quote:
            current += char
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
            current += char
        elif char == ",":
            parts.append(current)
            current = ""
        else:
            current += char
    if current:
        parts.append(current)
    pairs = []
    for part in parts:
        key, _, value = part.partition("=")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        pairs.append((key.strip(), value))
    return pairs


def mask(spec: str) -> str:
    """The remote as it may be shown: its name or backend and its path, never its parameters
    (`:sftp,host=h,pass=X:backups` → `:sftp,…:backups`)."""
    head, path = _split(spec)
    if not head:
        return spec
    name = head.split(",", 1)[0]
    return f"{name}{',…' if ',' in head else ''}:{path}"


def scrub(text: str, spec: str) -> str:
    """rclone's words with the remote masked: it quotes the whole connection string in its errors."""
    head, _ = _split(spec)
    if not head:
        return text
    masked_head = mask(spec).rsplit(":", 1)[0] if "," in head else head
    for form in (head, head.lstrip(":")):
        text = text.replace(form, masked_head)
    for key, value in _params(head):
        if not _SECRET_KEYS.search(key):
            continue
        # A URL's password also on its own: rclone may quote the URL mangled ("https/./user:password@host").
        password = urlsplit(value).password if "://" in value else None
        for secret in (value, password):
            if secret and len(secret) >= 4:
                text = text.replace(secret, "…")
    return text


def _join(spec: str, name: str = "") -> str:
    """`spec` with a file name added (`offsite:archive` + `f` → `offsite:archive/f`; `offsite:` → `offsite:f`)."""
    if not name:
        return spec
    return spec + name if spec.endswith((":", "/")) else f"{spec}/{name}"


# --- running rclone -------------------------------------------------------------------------------


def _rclone(args: list[str], *, spec: str, what: str, timeout: float | None = None,
            ok_codes: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess:
    """Run `rclone <args>`; OffsiteError with rclone's last words (scrubbed) if it failed."""
    binary = rclone_path()
    if binary is None:
        raise OffsiteConfigError(remote_problem() or f"The rclone program ({conf.get('BACKUP_RCLONE_BIN')}) is not "
                                 "installed or not on PATH.")
    timeout = float(timeout if timeout is not None else conf.get("BACKUP_RCLONE_TIMEOUT_SECONDS"))
    try:
        done = subprocess.run([binary, *args, *COMMON_FLAGS], capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, errors="replace")
    except subprocess.TimeoutExpired:
        raise OffsiteError(f"rclone did not {what} within {timeout:g} s ({mask(spec)}); it was stopped.") from None
    except OSError as exc:
        raise OffsiteConfigError(f"The rclone program ({binary}) could not be run: {exc.strerror or exc}.") from None
    if done.returncode not in ok_codes:
        raise OffsiteError(f"rclone could not {what} ({mask(spec)}): {_last_words(done.stderr, spec)}",
                           ) from None
    return done


def _last_words(stderr: str, spec: str) -> str:
    """rclone's last error line, without its time stamp, scrubbed of secrets."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    if not lines:
        return "it failed without saying why."
    line = re.sub(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d (ERROR|CRITICAL|NOTICE)?\s*:?\s*", "", lines[-1])
    return scrub(line, spec)[:500]


def _listing(spec: str, names: list[str], *, hash_type: str | None = None) -> dict[str, dict]:
    """The remote folder's entries of these names (name → rclone's lsjson entry)."""
    args = ["lsjson", _join(spec), "--files-only", "--max-depth", "1"]
    for name in names:
        args += ["--include", "/" + name]
    if hash_type:
        args += ["--hash-type", hash_type]
    done = _rclone(args, spec=spec, what="list the remote folder", ok_codes=(0, EXIT_DIRECTORY_NOT_FOUND))
    if done.returncode == EXIT_DIRECTORY_NOT_FOUND:
        return {}
    return {entry["Name"]: entry for entry in json.loads(done.stdout or "[]")}


# The hashes each remote has, as rclone said once in this process (a remote's backend does not change).
_hash_types_of: dict[str, list[str]] = {}


def _hash_types(spec: str) -> list[str]:
    if spec not in _hash_types_of:
        done = _rclone(["backend", "features", _join(spec)], spec=spec, what="ask the remote which hashes it has")
        try:
            _hash_types_of[spec] = list(json.loads(done.stdout).get("Hashes") or [])
        except (ValueError, AttributeError):
            return []
    return _hash_types_of[spec]


class _LocalHash(threading.Thread):
    """The hash of a local file, computed in a thread while rclone uploads it (hashlib lets go of the GIL)."""

    def __init__(self, path: Path, algorithm: str):
        super().__init__(daemon=True)
        self.path, self.algorithm, self.digest, self.error = path, algorithm, "", None

    def run(self) -> None:
        try:
            with open(self.path, "rb") as fh:
                self.digest = hashlib.file_digest(fh, self.algorithm).hexdigest()
        except OSError as exc:
            self.error = exc


# --- copying one backup ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Copied:
    remote: str  # masked
    check: str  # how the copy was checked, in words
    seconds: float


def _remote_or_error() -> str:
    spec = remote()
    if not spec:
        raise OffsiteConfigError("No BACKUP_REMOTE is set: there is nowhere to copy backups off-site.")
    if problem := remote_problem():
        raise OffsiteConfigError(problem)
    return spec


def offsite_copy_file(*, backup: Backup, directory: Path) -> Copied:
    """Copy a backup's file and manifest to BACKUP_REMOTE and check the copy; OffsiteError if it failed
    (a copy that does not match is deleted from the remote first)."""
    spec = _remote_or_error()
    started = time.monotonic()
    name, manifest_name = backup.file_name, files.manifest_name(backup.file_name)
    # Never a symbolic link planted under a backup's name: its target would be copied off-site.
    try:
        local, manifest = files.regular_file(directory, name), files.regular_file(directory, manifest_name)
    except files.UnsafeBackupFile as exc:
        raise OffsiteConfigError(f"Not copied off-site: {exc}") from exc
    for path in (local, manifest):
        if not path.is_file():
            raise OffsiteError(f"{path} is missing: there is nothing to copy off-site.")
    available = _hash_types(spec)
    algorithm = next((kind for kind in HASHES if kind in available), None)
    local_hash = None
    if algorithm and algorithm != "sha256":
        local_hash = _LocalHash(local, algorithm)
        local_hash.start()
    # Both files in one call (one connection); each is checked below, so the order they land in does not
    # matter: a copy cut off half-way is a file that does not match its manifest, which nothing takes
    # for a backup (offsite_fetch_all checks it).
    _rclone(["copy", str(directory), _join(spec), "--include", "/" + name, "--include", "/" + manifest_name,
             "--max-depth", "1", "--ignore-checksum"], spec=spec, what=f"copy {name}",
            timeout=float(conf.get("BACKUP_RCLONE_COPY_TIMEOUT_SECONDS")))
    expected = {name: (local.stat().st_size, backup.sha256),
                manifest_name: (manifest.stat().st_size, files.sha256_of(manifest))}
    if local_hash is not None:
        local_hash.join()
        if local_hash.error is not None:
            raise OffsiteError(files.describe_os_error(local_hash.error, what=f"reading {local}"))
        with open(manifest, "rb") as fh:
            manifest_digest = hashlib.file_digest(fh, algorithm).hexdigest()
        expected = {name: (expected[name][0], local_hash.digest),
                    manifest_name: (expected[manifest_name][0], manifest_digest)}
    try:
        check = _check(spec, expected, algorithm)
    except OffsiteError:
        _delete(spec, [name, manifest_name])
        raise
    return Copied(remote=mask(spec), check=check, seconds=time.monotonic() - started)


def _check(spec: str, expected: dict[str, tuple[int, str]], algorithm: str | None) -> str:
    """Compare the remote's sizes and hashes with `expected` (name → (size, hex digest)); the check in words."""
    listed = _listing(spec, list(expected), hash_type=algorithm)
    problems = []
    for name, (size, _) in expected.items():
        entry = listed.get(name)
        if entry is None:
            problems.append(f"{name} is not on the remote after the copy")
        elif entry.get("Size") != size:
            problems.append(f"{name} has {entry.get('Size')} bytes on the remote, {size} here")
    if not problems and algorithm:
        for name, (_, digest) in expected.items():
            theirs = (listed[name].get("Hashes") or {}).get(algorithm, "")
            if theirs.lower() != digest:
                problems.append(f"the {HASHES[algorithm]} of {name} on the remote is {theirs[:16] or 'missing'}…, "
                                f"here {digest[:16]}…")
        how = f"size and {HASHES[algorithm]} checked by the remote"
    elif not problems:
        sums = _downloaded_sha256(spec, list(expected))
        for name, (_, digest) in expected.items():
            if sums.get(name) != digest:
                problems.append(f"the SHA-256 of {name} read back from the remote is "
                                f"{(sums.get(name) or 'missing')[:16]}…, here {digest[:16]}…")
        how = "size checked, read back and SHA-256 checked (the remote has no hashes)"
    if problems:
        raise OffsiteError(f"The copy on {mask(spec)} does not match: " + "; ".join(problems) + ". It was deleted "
                           "there, so the next attempt copies it afresh.")
    return how


def _downloaded_sha256(spec: str, names: list[str]) -> dict[str, str]:
    """SHA-256 of these files as read back from the remote (rclone downloads and hashes them)."""
    args = ["hashsum", "sha256", "--download", _join(spec), "--max-depth", "1"]
    for name in names:
        args += ["--include", "/" + name]
    done = _rclone(args, spec=spec, what="read the copy back",
                   timeout=float(conf.get("BACKUP_RCLONE_COPY_TIMEOUT_SECONDS")))
    sums = {}
    for line in done.stdout.splitlines():
        digest, _, name = line.strip().partition("  ")
        if name:
            sums[name] = digest.lower()
    return sums


def _delete(spec: str, names: list[str]) -> None:
    """Delete these files from the remote folder; nothing else (the filters name each file exactly)."""
    args = ["delete", _join(spec), "--max-depth", "1"]
    for name in names:
        args += ["--include", "/" + name]
    _rclone(args, spec=spec, what="delete the copy", ok_codes=(0, EXIT_DIRECTORY_NOT_FOUND))


# --- the job's service ----------------------------------------------------------------------------


def offsite_copy_enqueue(*, backup: Backup, now: datetime) -> Job:
    """Queue the job that copies this backup off-site, and link it to the backup."""
    from jobs.services import job_enqueue

    job = job_enqueue(job_type=JOB_TYPE, params={"backup_id": backup.pk}, now=now,
                      origin_label=f"Off-site copy of backup #{backup.pk}", origin_url=f"/backups#backup-{backup.pk}")
    Backup.objects.filter(pk=backup.pk).update(offsite_job=job, offsite_error="")
    backup.offsite_job, backup.offsite_error = job, ""
    return job


def backup_offsite_copy(*, backup: Backup, now: datetime) -> dict:
    """What one BACKUP_OFFSITE_COPY attempt does: copy and check, and record the copy (or the error) on the
    backup. Raises OffsiteError (OffsiteConfigError when no retry can help) after recording it."""
    if not backup.has_file:
        return {"status": "skipped", "reason": backup.no_file_reason(to="copy off-site")}
    try:
        copied = offsite_copy_file(backup=backup, directory=conf.backup_dir())
    except OffsiteError as exc:
        Backup.objects.filter(pk=backup.pk).update(offsite_error=str(exc))
        raise
    copied_at = now + timedelta(seconds=copied.seconds)
    Backup.objects.filter(pk=backup.pk).update(offsite_copied_at=copied_at, offsite_remote=copied.remote,
                                               offsite_check=copied.check, offsite_error="", offsite_deleted_at=None)
    backup.refresh_from_db()
    if not backup.has_file:  # deleted while it was being copied: its copy goes too
        problem = offsite_delete(backup=backup, now=copied_at)
        return {"status": "skipped", "reason": f"Backup #{backup.pk} was deleted during its copy; the copy was "
                f"deleted too{f' (but: {problem})' if problem else ''}."}
    return {"status": "copied", "backup_id": backup.pk, "remote": copied.remote, "check": copied.check,
            "seconds": round(copied.seconds, 3)}


# --- deleting the remote copy ---------------------------------------------------------------------


def offsite_delete(*, backup: Backup, now: datetime) -> str:
    """Delete the backup's remote copy (file and manifest), as its local file is deleted; "" when done or
    there is none, else why it stays (retention deletes it again at its next pass)."""
    if backup.offsite_copied_at is None or backup.offsite_deleted_at is not None:
        return ""
    spec = remote()
    if not spec:
        return f"its off-site copy on {backup.offsite_remote} stays: BACKUP_REMOTE is no longer set"
    if mask(spec) != backup.offsite_remote:
        return (f"its off-site copy on {backup.offsite_remote} stays: BACKUP_REMOTE names another remote now "
                f"({mask(spec)})")
    try:
        _delete(spec, [backup.file_name, files.manifest_name(backup.file_name)])
    except OffsiteError as exc:
        return f"its off-site copy was not deleted: {exc}"
    Backup.objects.filter(pk=backup.pk).update(offsite_deleted_at=now)
    backup.offsite_deleted_at = now
    return ""


def offsite_delete_leftovers(*, now: datetime) -> list[str]:
    """Delete again the remote copies of deleted backups that stayed (the remote was down); the problems left."""
    if not remote():
        return []
    problems = []
    for backup in Backup.objects.filter(status=BackupStatus.DELETED, offsite_copied_at__isnull=False,
                                        offsite_deleted_at__isnull=True).order_by("started_at")[:LEFTOVERS_PER_PASS]:
        if problem := offsite_delete(backup=backup, now=now):
            problems.append(f"#{backup.pk}: {problem}")
    return problems


# --- fetching back --------------------------------------------------------------------------------


@dataclass
class FetchReport:
    remote: str  # masked
    fetched: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)  # already in the folder: left as they are
    problems: list[tuple[str, str]] = field(default_factory=list)  # (file name, why it was not fetched)
    dry_run: bool = False

    def lines(self) -> list[str]:
        """The report in words, a line each, for a command to print."""
        verb = "Would fetch" if self.dry_run else "Fetched"
        lines = [f"{verb} {name} from {self.remote}." for name in self.fetched]
        lines += [f"{name}: already in the folder, left as it is." for name in self.present]
        lines += [f"{name}: NOT fetched: {why}" for name, why in self.problems]
        lines.append(f"{verb} {len(self.fetched)} backup(s) from {self.remote}; {len(self.present)} already here, "
                     f"{len(self.problems)} not fetched.")
        return lines


def _fetch(spec: str, name: str, directory: Path, *, sha256: str, size: int | None) -> Path:
    """Copy one remote file into `directory` under its name, through a temporary file, after checking its
    size and SHA-256; OffsiteError if it does not match (nothing is left behind)."""
    final = directory / name
    partial = files.partial_path(directory, name, ".fetch")
    try:
        _rclone(["copyto", _join(spec, name), str(partial)], spec=spec, what=f"fetch {name}",
                timeout=float(conf.get("BACKUP_RCLONE_COPY_TIMEOUT_SECONDS")))
        if size is not None and partial.stat().st_size != size:
            raise OffsiteCopyDamaged(f"{name} has {partial.stat().st_size} bytes on the remote; its manifest says {size}.")
        actual = files.sha256_of(partial)
        if actual != sha256:
            raise OffsiteCopyDamaged(f"The SHA-256 of {name} on the remote is {actual[:16]}…; its manifest says "
                               f"{sha256[:16]}…: the copy is damaged or was replaced.")
        files.fsync_file(partial)
        files.publish(partial, final)
    finally:
        partial.unlink(missing_ok=True)
    return final


def _read_manifest(spec: str, name: str) -> tuple[dict, str]:
    """The manifest of a remote backup: parsed, and its text as it is there (kept byte for byte)."""
    done = _rclone(["cat", _join(spec, files.manifest_name(name))], spec=spec, what=f"read the manifest of {name}")
    try:
        manifest = json.loads(done.stdout)
    except ValueError:
        raise OffsiteCopyDamaged(f"The manifest of {name} on the remote is not JSON.") from None
    if not isinstance(manifest, dict) or manifest.get("file") != name or not re.fullmatch(
            r"[0-9a-f]{64}", str(manifest.get("sha256", ""))):
        raise OffsiteCopyDamaged(f"The manifest of {name} on the remote does not describe it (its file name or SHA-256 "
                           "is missing or different).")
    return manifest, done.stdout


def _write_text(directory: Path, name: str, text: str) -> None:
    """Write a file through a temporary one (fsync, rename), as the backups' own manifests are written."""
    partial = files.partial_path(directory, name)
    with open(partial, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(partial, directory / name)


def offsite_fetch_all(*, directory: Path, now: datetime, dry_run: bool = False) -> FetchReport:
    """Bring every backup on BACKUP_REMOTE that `directory` lacks into it, each checked against its manifest's
    size and SHA-256 (then `adopt_backups` registers them). Files already there are left alone; a remote
    file without a manifest, or that does not match it, is listed with the reason and not fetched.
    `dry_run`: only list what would be fetched (nothing is downloaded, so nothing is checked either)."""
    spec = _remote_or_error()
    if not dry_run:
        files.ensure_writable_dir(directory)
    report = FetchReport(remote=mask(spec), dry_run=dry_run)
    done = _rclone(["lsjson", _join(spec), "--files-only", "--max-depth", "1"], spec=spec,
                   what="list the remote folder", ok_codes=(0, EXIT_DIRECTORY_NOT_FOUND))
    if done.returncode == EXIT_DIRECTORY_NOT_FOUND:
        raise OffsiteError(f"The remote folder {mask(spec)} does not exist: there is nothing to fetch.")
    names = {entry["Name"] for entry in json.loads(done.stdout or "[]")}
    for name in sorted(name for name in names if files.FILE_NAME.fullmatch(name)):
        if (directory / name).exists():
            report.present.append(name)
            continue
        if files.manifest_name(name) not in names:
            report.problems.append((name, "it has no manifest beside it on the remote (a copy that never "
                                          "finished?): not fetched"))
            continue
        if dry_run:
            report.fetched.append(name)
            continue
        try:
            manifest, text = _read_manifest(spec, name)
            _fetch(spec, name, directory, sha256=manifest["sha256"], size=manifest.get("size_bytes"))
        except OffsiteError as exc:
            report.problems.append((name, str(exc)))
            continue
        _write_text(directory, files.manifest_name(name), text)
        files.fsync_dir(directory)
        report.fetched.append(name)
    logger.info("%s %d backup(s) from %s at %s; %d already here, %d not fetched.",
                "Would fetch" if dry_run else "Fetched", len(report.fetched), report.remote, now.isoformat(),
                len(report.present), len(report.problems))
    return report


def offsite_fetch_one(*, backup: Backup, directory: Path) -> Path:
    """Fetch this backup's off-site copy into `directory` (a scratch folder: a restore drill's), checked
    against the backup's size and SHA-256; its path. OffsiteError if it has none or it does not match."""
    spec = _remote_or_error()
    if backup.offsite_copied_at is None or backup.offsite_deleted_at is not None:
        raise OffsiteError(f"Backup #{backup.pk} has no off-site copy.")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / backup.file_name).unlink(missing_ok=True)
    return _fetch(spec, backup.file_name, directory, sha256=backup.sha256, size=backup.size_bytes)


# --- reads: the page, /healthz, /metrics, the alert ------------------------------------------------


def offsite_summary() -> dict:
    """What /backups says about off-site copies: where to, and what stops them."""
    spec = remote()
    return {"enabled": bool(spec), "remote": mask(spec) if spec else "", "problem": remote_problem()}


def offsite_counts() -> dict:
    """Completed backups by off-site state (copied, waiting, failed, not asked), and the newest copy's time.

    One query. "waiting": its copy job is still queued, running or waiting to retry; "failed": it ended
    without a copy; "not asked": no copy job (made before BACKUP_REMOTE was set, or with copy_offsite off).
    """
    completed = Q(status=BackupStatus.COMPLETED)
    copied = Q(offsite_copied_at__isnull=False, offsite_deleted_at__isnull=True)
    asked = Q(offsite_job__isnull=False)
    active = Q(offsite_job__status__in=ACTIVE_STATUSES)
    return Backup.objects.aggregate(
        copied=Count("pk", filter=completed & copied),
        waiting=Count("pk", filter=completed & ~copied & asked & active),
        failed=Count("pk", filter=completed & ~copied & asked & ~active),
        not_asked=Count("pk", filter=completed & ~copied & ~asked),
        last_copied_at=Max("offsite_copied_at"),
    )


def newest_offsite_outcome() -> Backup | None:
    """The newest backup whose off-site copy has an outcome: copied, or its job ended without a copy
    (after its retries); None if there is none yet. Copies still being tried are passed over."""
    candidates = (Backup.objects.filter(Q(offsite_copied_at__isnull=False) | Q(offsite_job__isnull=False))
                  .select_related("offsite_job").order_by("-started_at", "-id"))
    for backup in candidates[:20]:
        if backup.offsite_copied_at is not None:
            return backup
        if backup.offsite_job is not None and backup.offsite_job.status == JobStatus.FAILED:
            return backup
    return None


def rclone_version() -> str:
    """`rclone v1.60.1` (for the benchmark and the docs); "" if it cannot be run."""
    binary = rclone_path()
    if binary is None:
        return ""
    try:
        done = subprocess.run([binary, "version"], capture_output=True, text=True, timeout=30,
                              stdin=subprocess.DEVNULL, env={**os.environ})
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return (done.stdout.splitlines() or [""])[0].strip()


# --- the restore drill's second source -----------------------------------------------------------------

def offsite_drill_source(*, database) -> DrillSource | None:
    """The newest good backup of this engine with a verified off-site copy, fetched back from the remote
    with its manifest (backups.services.drilling registers it): a drill proves the copy off the disk
    restores too. None when BACKUP_REMOTE is off or no backup was copied yet."""
    if not remote():
        return None
    backup = (Backup.objects.good().filter(database_vendor=database.vendor, offsite_copied_at__isnull=False,
                                           offsite_deleted_at__isnull=True)
              .order_by("-started_at", "-id").first())
    if backup is None:
        return None
    return DrillSource(label="the off-site copy", backup=backup,
                                fetch=lambda scratch_dir: _fetch_for_drill(backup, scratch_dir))


def _fetch_for_drill(backup: Backup, scratch_dir: Path) -> Path:
    """The copy and its manifest, as they are on the remote. A copy that is gone or does not match is the
    drill's finding (DrillFailed); a remote that does not answer is an error the job retries."""
    spec = _remote_or_error()
    if not _listing(spec, [backup.file_name, files.manifest_name(backup.file_name)]).get(backup.file_name):
        raise DrillFailed(f"Backup #{backup.pk}'s off-site copy ({backup.file_name}) is not on {mask(spec)} any more.")
    try:
        path = offsite_fetch_one(backup=backup, directory=scratch_dir)
        _, text = _read_manifest(spec, backup.file_name)
    except OffsiteCopyDamaged as exc:
        raise DrillFailed(str(exc)) from exc
    (scratch_dir / files.manifest_name(backup.file_name)).write_text(text)
    return path
