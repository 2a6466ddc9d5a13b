from django.core.management.base import BaseCommand
from django.utils import timezone
from django.utils.translation import ngettext

from backups import files, selectors
from backups.models import BackupPurpose, BackupStatus
from common.formatting import human_duration


def _when(instant) -> str:
    return f"{instant:%Y-%m-%d %H:%M:%S}" if instant else "—"


class Command(BaseCommand):
    help = "List the database backups, newest first, with BACKUP_DIR's space."

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=50, help="Show at most this many (default 50; 0: all).")
        parser.add_argument("--no-skipped", action="store_true", help="Leave out the runs that were skipped.")

    def handle(self, *args, limit: int, no_skipped: bool, **options):
        backups = selectors.backup_list(include_skipped=not no_skipped)
        if limit > 0:
            backups = backups[:limit]
        rows = [("ID", "Status", "Started (UTC)", "Size", "Ratio", "Duration", "Verified (UTC)", "File / note")]
        for backup in backups:
            detail = backup.file_name if backup.status in (BackupStatus.COMPLETED, BackupStatus.RUNNING) else (
                backup.error or backup.note or backup.file_name)
            if backup.purpose == BackupPurpose.PRE_RESTORE:
                detail += " (before a restore)"
            if backup.verify_error:
                detail += f" — verification failed: {backup.verify_error}"
            rows.append((
                str(backup.pk), backup.get_status_display(), _when(backup.started_at),
                files.human_size(backup.size_bytes) if backup.size_bytes else "—",
                f"{backup.ratio:.1f}x" if backup.ratio else "—",
                f"{backup.duration_seconds:.1f} s" if backup.duration_seconds is not None else "—",
                _when(backup.verified_at), detail.splitlines()[0] if detail else "",
            ))
        if len(rows) == 1:
            self.stdout.write("No backups yet.")
        else:
            widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
            for row in rows:
                self.stdout.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1])
        usage = selectors.backup_dir_usage()
        newest = selectors.newest_good_backup()
        age = f"#{newest.pk}, {human_duration(timezone.now() - newest.started_at)} ago" if newest else "none"
        in_files = ngettext("%(n)d file", "%(n)d files", usage["files"]) % {"n": usage["files"]}
        self.stdout.write(
            f"\nBACKUP_DIR {usage['path']}: {files.human_size(usage['used_bytes'])} in {in_files}, "
            f"{files.human_size(usage['free_bytes'])} free. Newest good backup: {age}."
        )
