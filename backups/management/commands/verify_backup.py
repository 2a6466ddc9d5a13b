from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from backups.errors import BackupError, NoBackupFile
from backups.models import Backup
from backups.services.restoring import backup_verify


def get_backup(backup_id: int) -> Backup:
    try:
        return Backup.objects.get(pk=backup_id)
    except Backup.DoesNotExist:
        raise CommandError(f"backup_id: there is no backup #{backup_id} (see manage.py list_backups).") from None


class Command(BaseCommand):
    help = "Check a backup again (checksum, then integrity) and record the result."

    def add_arguments(self, parser):
        parser.add_argument("backup_id", type=int)

    def handle(self, *args, backup_id: int, **options):
        backup = get_backup(backup_id)
        try:
            backup = backup_verify(backup=backup, now=timezone.now())
        except NoBackupFile as exc:
            raise CommandError(str(exc)) from exc
        except BackupError as exc:
            raise CommandError(f"Backup #{backup.pk} failed verification: {exc}") from exc
        self.stdout.write(self.style.SUCCESS(
            f"Backup #{backup.pk} ({backup.file_name}) is good: the checksum matches and the database inside "
            f"passes its integrity check. Recorded as verified at {backup.verified_at:%Y-%m-%d %H:%M:%S} UTC."
        ))
