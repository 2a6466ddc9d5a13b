from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from backups import conf, offsite
from backups.services.adopting import backups_adopt


class Command(BaseCommand):
    help = ("Register the backup files in BACKUP_DIR that the database does not know (a fresh install, or a database "
            "restored from an older backup), each from the manifest beside it, once its checksum matches. A file "
            "keeps its id if it is free, else gets a new one and is renamed to match. Files without a manifest, or "
            "whose checksum does not match, are listed with the reason and left alone. Running it twice changes "
            "nothing. With --from-remote, first fetch the backups of BACKUP_REMOTE that the folder lacks (after the "
            "whole disk was lost), each checked against its manifest.")

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Check and list, write nothing.")
        parser.add_argument("--from-remote", action="store_true",
                            help="Fetch the backups of BACKUP_REMOTE missing from BACKUP_DIR first (rclone).")

    def handle(self, *args, dry_run: bool, from_remote: bool, **options):
        if from_remote:
            try:
                fetched = offsite.offsite_fetch_all(directory=conf.backup_dir(), now=timezone.now(), dry_run=dry_run)
            except offsite.OffsiteError as exc:
                raise CommandError(f"--from-remote: {exc}") from exc
            for line in fetched.lines():
                self.stdout.write(line)
            if dry_run:
                return  # the files are not here to check: adopting them is for the run without --dry-run
        report = backups_adopt(directory=conf.backup_dir(), now=timezone.now(), dry_run=dry_run, by="adopt_backups")
        for line in report.lines():
            self.stdout.write(line)
        self.stdout.write(self.style.SUCCESS(report.summary()) if report.adopted or not report.left_alone
                          else self.style.WARNING(report.summary()))
