from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import ngettext

from scheduling import portable


class Command(BaseCommand):
    help = ("Write every schedule, keyed by its key, as JSON or YAML: the fields a person edits, sorted, so two "
            "exports of the same schedules are the same file. Channel groups are named by their name, "
            "notification channels by their name (by id where two share one). import_schedules reads it back.")

    def add_arguments(self, parser):
        parser.add_argument("--format", choices=portable.FORMATS, default="json", help="json (default) or yaml")
        parser.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of the standard output")

    def handle(self, *args, format: str, output: str | None, **options):
        document = portable.to_document()
        text = portable.dump(document, format)
        if output is None:
            self.stdout.write(text, ending="")
            return
        try:
            Path(output).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"--output: cannot write {output}: {exc.strerror}.") from exc
        count = len(document["schedules"])
        self.stdout.write(ngettext("Wrote %(n)d schedule to %(file)s.", "Wrote %(n)d schedules to %(file)s.", count)
                          % {"n": count, "file": output})
