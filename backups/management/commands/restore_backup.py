import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.translation import ngettext

from backups import files
from backups.errors import BackupError, ChecksumMismatch, ManifestProblem, RestoredWithProblems, RestoreMismatch
from backups.management.commands.verify_backup import get_backup
from backups.services.restoring import RestoreReport, backup_restore, backup_restore_file
from backups.sources import Database

UNCHANGED = "The database was not changed."


class Command(BaseCommand):
    help = ("Replace the database with a backup: one the app lists (its number, see list_backups), or a backup file "
            "and the manifest beside it (--file; for a fresh install whose database is empty or does not exist "
            "yet). Checks the file's checksum (always), its integrity, and that its migrations match the code; "
            "takes a pre_restore backup of the data it replaces; then empties the cache table, interrupts the jobs "
            "the restored copy had active and releases its backup lock. See docs/restore.md.")

    def add_arguments(self, parser):
        parser.add_argument("backup_id", type=int, nargs="?", help="The backup's number (manage.py list_backups).")
        parser.add_argument("--file", type=Path, metavar="PATH",
                            help="A backup file (db-….sqlite3.zst or db-….pgdump), its manifest (PATH.json) beside it.")
        parser.add_argument("--yes", action="store_true", help="Do not ask for confirmation.")
        parser.add_argument("--force", action="store_true",
                            help="Restore even if the backup's migrations do not match the code's (a backup of an "
                                 "older version is then migrated). Never overrides a checksum mismatch or a failed "
                                 "integrity check.")
        parser.add_argument("--no-manifest", action="store_true",
                            help="With --file: restore a file that has no usable manifest beside it. There is then "
                                 "no checksum to check it against; its integrity is still checked.")

    def handle(self, *args, backup_id: int | None, file: Path | None, yes: bool, force: bool, no_manifest: bool,
               **options):
        if (backup_id is None) == (file is None):
            raise CommandError("Name one backup: manage.py restore_backup <number> (see manage.py list_backups), or "
                               "manage.py restore_backup --file PATH for a backup file.")
        if no_manifest and file is None:
            raise CommandError("--no-manifest goes with --file: a backup the app lists has its record.")
        database = Database.default()
        if file is not None:
            what = f"the backup file {file}"
        else:
            backup = get_backup(backup_id)
            what = (f"backup #{backup.pk} ({backup.file_name}, made {backup.started_at:%Y-%m-%d %H:%M:%S} UTC, "
                    f"{files.human_size(backup.size_bytes)})")
        if not yes:
            self._confirm(what, database)
        try:
            if file is not None:
                report = backup_restore_file(path=file, now=timezone.now(), force=force, no_manifest=no_manifest,
                                             database=database)
            else:
                report = backup_restore(backup=backup, now=timezone.now(), force=force, database=database)
        except RestoredWithProblems as exc:
            raise CommandError(str(exc)) from exc
        except ChecksumMismatch as exc:
            raise CommandError(f"Not restored: {exc} A file that is not the one recorded is never restored, not even "
                               "with --force: take another backup (an older one, or an off-site copy). "
                               f"{UNCHANGED}") from exc
        except RestoreMismatch as exc:
            raise CommandError(f"Not restored: {exc} Refusing to restore it; use --force to restore it anyway (its "
                               f"checksum and integrity are still checked). {UNCHANGED}") from exc
        except ManifestProblem as exc:
            raise CommandError(f"Not restored: {exc} The manifest holds the checksum the file is checked against. "
                               "If you trust the file as it is, add --no-manifest (its integrity is still checked). "
                               f"{UNCHANGED}") from exc
        except BackupError as exc:
            raise CommandError(f"Not restored: {exc} {UNCHANGED}") from exc
        self._report(report, database=database, what=what)

    def _confirm(self, what: str, database: Database) -> None:
        if not sys.stdin.isatty():
            raise CommandError("Not restoring without confirmation: run it in a terminal, or add --yes.")
        self.stdout.write(
            f"This replaces {database.describe()} with {what}.\n"
            "Everything written since that backup is replaced; if the database holds data, a pre_restore backup of "
            "it is taken first. Stop the worker and the scheduler before you go on."
        )
        if input("Type 'restore' to go on: ").strip().lower() != "restore":
            raise CommandError("Not restored: not confirmed.")

    def _report(self, report: RestoreReport, *, database: Database, what: str) -> None:
        for warning in report.warnings:
            prefix = "Restored despite: " if warning.startswith("The backup's migrations") else "Note: "
            self.stderr.write(self.style.WARNING(prefix + warning))
        restored = f"backup #{report.backup.pk} ({report.backup.file_name})" if report.backup else what
        was = {"missing": " (it did not exist yet)", "empty": " (it was empty)"}.get(report.database_was, "")
        self.stdout.write(self.style.SUCCESS(
            f"Restored {restored} into {database.describe()}{was}; the restored database passes its integrity check."))
        if report.migrated:
            self.stdout.write(f"Migrated the restored database: {len(report.migrated)} migration(s) of this code it "
                              f"lacked ({', '.join(report.migrated[:5])}{', …' if len(report.migrated) > 5 else ''}).")
        if report.aftermath is not None:
            for line in _aftermath_lines(report.aftermath):
                self.stdout.write(line)
        if report.adopted is not None and (report.adopted.adopted or report.adopted.left_alone):
            self.stdout.write(report.adopted.summary())
            for line in report.adopted.lines():
                self.stdout.write(f"  {line}")
        if report.pre_restore is not None:
            self.stdout.write(self.style.SUCCESS(
                f"The data from just before is in backup #{report.pre_restore.pk} ({report.pre_restore.file_name}): "
                f"manage.py restore_backup {report.pre_restore.pk} puts it back."))
        self.stdout.write("Start the worker and the scheduler again (systemctl start channel-archive.target, or "
                          "make run).")


def _aftermath_lines(aftermath) -> list[str]:
    lines = [f"Emptied the cache table {table}." for table in aftermath.caches_emptied]
    lines += aftermath.problems
    if aftermath.interrupted:
        count = len(aftermath.interrupted)
        lines.append(ngettext("Interrupted %(n)d job that was active in the restored copy (no worker has it any more):",
                              "Interrupted %(n)d jobs that were active in the restored copy (no worker has them any "
                              "more):", count) % {"n": count})
        lines += [f"  #{item.job.pk} {item.job.job_type} (was {item.was.replace('_', ' ')})"
                  for item in aftermath.interrupted]
    else:
        lines.append("No job was active in the restored copy.")
    for backup in aftermath.completed:
        lines.append(f"Backup #{backup.pk} was running in the copy; its file and manifest are in BACKUP_DIR, so it is "
                     "recorded as completed (the backup lock is free).")
    for backup in aftermath.released:
        lines.append(f"Backup #{backup.pk} was running in the copy and its file is not in BACKUP_DIR: recorded as "
                     "interrupted (the backup lock is free).")
    return lines
