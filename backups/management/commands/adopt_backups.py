from django.core.management.base import BaseCommand
from django.utils import timezone

from backups import conf
from backups.services.adopting import backups_adopt


class Command(BaseCommand):
    help = ("Register the backup files in BACKUP_DIR that the database does not know (a fresh install, or a database "
            "restored from an older backup), each from the manifest beside it, once its checksum matches. A file "
            "keeps its id if it is free, else gets a new one and is renamed to match. Files without a manifest, or "
            "whose checksum does not match, are listed with the reason and left alone. Running it twice changes "
            "nothing.")

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Check and list, write nothing.")

    def handle(self, *args, dry_run: bool, **options):
        report = backups_adopt(directory=conf.backup_dir(), now=timezone.now(), dry_run=dry_run, by="adopt_backups")
        for line in report.lines():
            self.stdout.write(line)
        self.stdout.write(self.style.SUCCESS(report.summary()) if report.adopted or not report.left_alone
                          else self.style.WARNING(report.summary()))
