"""Adopting backups: registering the backup files of a folder that the database does not know.

A fresh install pointed at an old BACKUP_DIR, or a database restored from an older backup, lists none of
the files made since: their records were in the database that was lost. Each file's manifest holds the
same record, so it can be registered again. `manage.py adopt_backups`, the /backups page's Adopt button
and a restore from a file (backups.services.restoring) call `backups_adopt`; whoever brings files back
from elsewhere (an off-site copy) calls it after placing them in the folder.

A file is adopted only if its manifest is there, reads, describes that very file, and the file's size and
SHA-256 are the manifest's. It keeps its id when the database has no backup with that id; otherwise it
gets the next free one and is renamed to match (the app's file names end with the id, and the app opens
and deletes only files whose name carries their row's id), its manifest rewritten to say so. Files that
do not qualify are listed with the reason and left exactly as they are. Adopting twice changes nothing:
a file whose name, or whose checksum, the database knows is not adopted again.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from django.core.management.color import no_style
from django.db import IntegrityError, connections, transaction
from django.utils.translation import ngettext

from backups import files
from backups.errors import BackupError, ManifestProblem
from backups.models import Backup, BackupPurpose, BackupStatus


@dataclass(frozen=True)
class Adoption:
    """A file registered (or, in a dry run, that would be): its id in this database, and its new name when
    its own id was taken."""

    file_name: str
    backup_id: int | None  # None in a dry run whose file needs a new id (not known before it is inserted)
    renamed_to: str = ""
    id_taken_by: str = ""  # the backup that has the file's own id, in words

    @property
    def kept_id(self) -> bool:
        return not self.id_taken_by


@dataclass(frozen=True)
class LeftAlone:
    file_name: str
    reason: str


@dataclass
class AdoptReport:
    directory: Path
    dry_run: bool
    adopted: list[Adoption] = field(default_factory=list)
    left_alone: list[LeftAlone] = field(default_factory=list)
    known: int = 0  # backup files the database knows already
    not_checked: list[str] = field(default_factory=list)  # the time budget ran out before them

    def adoption_of(self, file_name: str) -> Adoption | None:
        return next((a for a in self.adopted if a.file_name == file_name), None)

    def summary(self) -> str:
        """One sentence: what was (or would be) adopted and what was left alone."""
        verb = "Would adopt" if self.dry_run else "Adopted"
        adopted = ngettext("%(n)d backup file", "%(n)d backup files", len(self.adopted)) % {"n": len(self.adopted)}
        parts = [f"{verb} {adopted} from {self.directory}"]
        if self.left_alone:
            parts.append(ngettext("left %(n)d alone", "left %(n)d alone", len(self.left_alone)) % {
                "n": len(self.left_alone)})
        if self.known:
            parts.append(ngettext("%(n)d was known already", "%(n)d were known already", self.known) % {
                "n": self.known})
        if self.not_checked:
            parts.append(ngettext("%(n)d not checked yet (adopt again for it)",
                                  "%(n)d not checked yet (adopt again for them)", len(self.not_checked)) % {
                "n": len(self.not_checked)})
        return ", ".join(parts) + "."

    def lines(self) -> list[str]:
        """One line per file adopted or left alone, with the id it got or the reason."""
        lines = []
        for adoption in self.adopted:
            if adoption.kept_id:
                lines.append(f"{adoption.file_name}: {'would be' if self.dry_run else 'registered as'} "
                             f"#{adoption.backup_id}.")
            elif self.dry_run:
                lines.append(f"{adoption.file_name}: would get a new id and be renamed to match: its own id is taken "
                             f"by backup {adoption.id_taken_by}.")
            else:
                lines.append(f"{adoption.file_name}: registered as #{adoption.backup_id} and renamed "
                             f"{adoption.renamed_to}: its own id is taken by backup {adoption.id_taken_by}.")
        lines += [f"{item.file_name}: left alone: {item.reason}." for item in self.left_alone]
        return lines


def fields_from_manifest(manifest: files.Manifest) -> dict:
    """A completed Backup row's fields, as the manifest records them (keys it lacks take their defaults)."""
    data = manifest.data

    def text(key: str, limit: int) -> str:
        value = data.get(key)
        return str(value)[:limit] if value is not None else ""

    def number(key: str, kind):
        value = data.get(key)
        return kind(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    verified = data.get("verified_at")
    purpose = data.get("purpose")
    tables = data.get("tables")
    table_rows = ({str(name)[:200]: rows for name, rows in tables.items()
                   if isinstance(rows, int) and not isinstance(rows, bool) and rows >= 0}
                  if isinstance(tables, dict) else {})
    return {
        "status": BackupStatus.COMPLETED,
        "purpose": purpose if purpose in BackupPurpose.values else BackupPurpose.REGULAR,
        "backup_type": text("backup_type", 16) or "full",
        "database_vendor": manifest.vendor,
        "database_version": text("database_version", 100),
        "tool": text("tool", 100),
        "file_name": manifest.file,
        "size_bytes": manifest.size_bytes,
        "database_size_bytes": number("database_size_bytes", int),
        "sha256": manifest.sha256,
        "compression": text("compression", 40),
        "duration_seconds": number("duration_seconds", float),
        "applied_migrations": manifest.applied_migrations,
        "started_at": manifest.started_at,
        "finished_at": manifest.finished_at,
        # Verified when it was made; its checksum still matching says it is that same file.
        "verified_at": datetime.fromisoformat(verified) if files.is_instant(verified) else manifest.finished_at,
        "verify_error": "",
        "error": "",
        "worker": text("worker", 200),
        "table_rows": table_rows,  # what a restore drill compares with
    }


def reset_id_sequence() -> None:
    """After rows were written with ids of their own: PostgreSQL's sequence would hand those ids out again
    (SQLite's AUTOINCREMENT keeps up by itself)."""
    connection = connections["default"]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for sql in connection.ops.sequence_reset_sql(no_style(), [Backup]):
                cursor.execute(sql)


def _problem(directory: Path, file_name: str) -> tuple[str, files.Manifest | None]:
    """Why the file cannot be adopted ("" if it can), with its manifest."""
    path = directory / file_name
    try:
        manifest = files.read_manifest(files.manifest_path(path), file_name=file_name)
    except ManifestProblem as exc:
        return str(exc), None
    try:
        size = path.stat().st_size
        if manifest.size_bytes is not None and size != manifest.size_bytes:
            return (f"its size ({size} bytes) is not the {manifest.size_bytes} bytes its manifest records: the file "
                    "is truncated or was replaced"), None
        actual = files.sha256_of(path)
    except OSError as exc:
        return f"it cannot be read: {exc.strerror or exc}", None
    if actual != manifest.sha256:
        return (f"its checksum does not match its manifest (recorded {manifest.sha256[:16]}…, the file has "
                f"{actual[:16]}…): the file is damaged or was replaced"), None
    return "", manifest


def backups_adopt(*, directory: Path, now: datetime, dry_run: bool = False, by: str = "",
                  budget_seconds: float | None = None) -> AdoptReport:
    """Register every backup file in `directory` that the database does not know and whose manifest and
    checksum are good (see the module's docstring); `dry_run` checks the same and writes nothing.

    `budget_seconds` bounds the time spent reading files (a page's request): once it is spent (and at least
    one file was read), the files not reached are listed in `not_checked`, for the next call.
    """
    report = AdoptReport(directory=directory, dry_run=dry_run)
    names = files.backup_file_names(directory)
    if not names:
        return report
    known_names = set(Backup.objects.filter(file_name__in=names).values_list("file_name", flat=True))
    known_sums = dict(Backup.objects.filter(status=BackupStatus.COMPLETED).exclude(sha256="")
                      .values_list("sha256", "pk"))
    started = time.monotonic()
    kept_ids = False
    for name in names:
        if name in known_names:
            report.known += 1
            continue
        read_one = report.adopted or report.left_alone  # at least one file a call, so each call gets on
        if budget_seconds is not None and read_one and time.monotonic() - started > budget_seconds:
            report.not_checked.append(name)
            continue
        problem, manifest = _problem(directory, name)
        if problem:
            report.left_alone.append(LeftAlone(name, problem))
            continue
        if manifest.sha256 in known_sums:
            report.left_alone.append(LeftAlone(name, f"it is the same file as backup #{known_sums[manifest.sha256]} "
                                                     "(same checksum), under another name"))
            continue
        try:
            adoption = _adopt(manifest, directory=directory, now=now, dry_run=dry_run, by=by)
        except BackupError as exc:
            report.left_alone.append(LeftAlone(name, str(exc)))
            continue
        report.adopted.append(adoption)
        known_sums[manifest.sha256] = adoption.backup_id
        kept_ids = kept_ids or adoption.kept_id
    if kept_ids and not dry_run:
        reset_id_sequence()
    return report


def _note(now: datetime, by: str, name: str) -> str:
    return f"Adopted from its manifest ({name}) on {now:%Y-%m-%d %H:%M} UTC" + (f" by {by}" if by else "") + "."


def _adopt(manifest: files.Manifest, *, directory: Path, now: datetime, dry_run: bool, by: str) -> Adoption:
    holder = Backup.objects.filter(pk=manifest.id).first()
    taken_by = f"#{holder.pk} ({holder.file_name or holder.get_status_display().lower()})" if holder else ""
    if dry_run:
        return Adoption(manifest.file, None if holder else manifest.id, id_taken_by=taken_by)
    fields = {**fields_from_manifest(manifest), "note": _note(now, by, manifest.file)}
    if holder is None:
        try:
            with transaction.atomic():
                Backup.objects.create(pk=manifest.id, **fields)
        except IntegrityError:
            raise BackupError("it was registered meanwhile (another adoption at the same moment?)") from None
        return Adoption(manifest.file, manifest.id)
    return _adopt_renamed(manifest, fields=fields, directory=directory, taken_by=taken_by)


def _adopt_renamed(manifest: files.Manifest, *, fields: dict, directory: Path, taken_by: str) -> Adoption:
    """Register it under the next free id, and give the file and its manifest that id's name.

    The new name is a hard link made inside the transaction that writes the row, with its manifest; only
    once that is committed do the old names go. A failure before the commit leaves the folder as it was.
    """
    old = directory / manifest.file
    stamp = files.FILE_NAME.fullmatch(manifest.file)["stamp"]
    created: list[Path] = []
    try:
        with transaction.atomic():
            backup = Backup.objects.create(**{**fields, "file_name": ""})
            new_name = f"db-{manifest.vendor}-{stamp}-{backup.pk}.{files.EXTENSIONS[manifest.vendor]}"
            Backup.objects.filter(pk=backup.pk).update(file_name=new_name)
            new = directory / new_name
            os.link(old, new)
            created.append(new)
            data = {**manifest.data, "id": backup.pk, "file": new_name, "adopted_from": manifest.file,
                    "restore": files.restore_entry(vendor=manifest.vendor, file_name=new_name,
                                                   sha256=manifest.sha256, tool=str(manifest.data.get("tool") or ""))}
            created.append(directory / files.manifest_name(new_name))
            files.write_manifest(directory, new_name, data)
    except OSError as exc:
        for path in created:
            path.unlink(missing_ok=True)
        raise BackupError(files.describe_os_error(exc, what=f"its new name in {directory}")) from exc
    except BaseException:
        for path in created:
            path.unlink(missing_ok=True)
        raise
    files.fsync_dir(directory)
    old.unlink(missing_ok=True)
    files.manifest_path(old).unlink(missing_ok=True)
    files.fsync_dir(directory)
    return Adoption(manifest.file, backup.pk, renamed_to=new_name, id_taken_by=taken_by)
