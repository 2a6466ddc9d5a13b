import sys

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from common.actors import IMPORT
from scheduling import portable


class Command(BaseCommand):
    help = ("Create and change schedules to match a file written by export_schedules (JSON or YAML, keyed by "
            "key); with --prune, delete the schedules the file does not list. Prints what changes; writes all of "
            "it or, if any entry is invalid, nothing (exit 1, each error naming the entry's key and the field). "
            "Audited as \"import\".")

    def add_arguments(self, parser):
        parser.add_argument("file", help="the document, JSON or YAML (by its first character); - for standard input")
        parser.add_argument("--dry-run", action="store_true", help="show what would change, write nothing")
        parser.add_argument("--prune", action="store_true", help="delete the schedules the file does not list")

    def handle(self, *args, file: str, dry_run: bool, prune: bool, **options):
        data = self._read(file)
        try:
            plan = portable.apply(portable.load(data), now=timezone.now(), actor=IMPORT, prune=prune,
                                  dry_run=dry_run)
        except portable.ImportRefused as exc:
            lines = exc.lines()
            raise CommandError("\n".join([f"{file}: nothing imported, the file has {len(lines)} error"
                                          f"{'s' if len(lines) > 1 else ''}:", *lines])) from None
        for line in portable.plan_lines(plan):
            self.stdout.write(line)
        self.stdout.write(plan.summary())

    def _read(self, file: str) -> bytes:
        limit = portable.MAX_DOCUMENT_BYTES
        try:
            if file == "-":
                return sys.stdin.buffer.read(limit + 1)
            with open(file, "rb") as stream:
                return stream.read(limit + 1)  # one more than allowed: load() says it is too large
        except OSError as exc:
            raise CommandError(f"file: cannot read {file}: {exc.strerror}.") from exc
