import sys

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from backups import files
from backups.errors import BackupError, RestoredWithProblems, RestoreMismatch
from backups.management.commands.verify_backup import get_backup
from backups.services.restoring import backup_restore
from backups.sources import Database


class Command(BaseCommand):
    help = ("Replace the live database with a backup. Checks the checksum and that the backup's migrations match "
            "the code, and takes a pre_restore backup first.")

    def add_arguments(self, parser):
        parser.add_argument("backup_id", type=int)
        parser.add_argument("--yes", action="store_true", help="Do not ask for confirmation.")
        parser.add_argument("--force", action="store_true",
                            help="Restore even on a checksum or migration mismatch (integrity is still checked).")

    def handle(self, *args, backup_id: int, yes: bool, force: bool, **options):
        backup = get_backup(backup_id)
        database = Database.default()
        if not yes:
            if not sys.stdin.isatty():
                raise CommandError("Not restoring without confirmation: run it in a terminal, or add --yes.")
            self.stdout.write(
                f"This replaces {database.describe()} with backup #{backup.pk} ({backup.file_name}, made "
                f"{backup.started_at:%Y-%m-%d %H:%M:%S} UTC, {files.human_size(backup.size_bytes)}).\n"
                "Everything written since then is replaced; a pre_restore backup of the current data is taken "
                "first. Stop the worker and the scheduler before you go on."
            )
            if input("Type 'restore' to go on: ").strip().lower() != "restore":
                raise CommandError("Not restored: not confirmed.")
        try:
            report = backup_restore(backup=backup, now=timezone.now(), force=force, database=database)
        except RestoredWithProblems as exc:
            raise CommandError(str(exc)) from exc
        except RestoreMismatch as exc:
            raise CommandError(f"Not restored: {exc} Refusing to restore it; use --force to restore it anyway (its "
                               "integrity is still checked). The live database was not changed.") from exc
        except BackupError as exc:
            raise CommandError(f"Not restored: {exc} The live database was not changed.") from exc
        for warning in report.warnings:
            self.stderr.write(self.style.WARNING(f"Restored despite: {warning}"))
        self.stdout.write(self.style.SUCCESS(
            f"Restored backup #{backup.pk} ({backup.file_name}); the restored database passes its integrity check. "
            f"The data from just before is in backup #{report.pre_restore.pk} ({report.pre_restore.file_name}): "
            f"manage.py restore_backup {report.pre_restore.pk} puts it back."
        ))
