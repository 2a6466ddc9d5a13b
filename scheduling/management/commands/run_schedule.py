import sys

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from common.actors import COMMAND
from scheduling import services
from scheduling.models import RunOutcome, ScheduledTask


class Command(BaseCommand):
    help = "Run a schedule's task now (\"Run now\"): records a manual run; the next scheduled run stays."

    def add_arguments(self, parser):
        parser.add_argument("schedule_id", help="id of the schedule")
        parser.add_argument("--force", action="store_true", help="run even while an earlier run is still active")

    def handle(self, *args, schedule_id: str, force: bool, **options):
        try:
            schedule = ScheduledTask.objects.get(pk=int(schedule_id))
        except (ValueError, ScheduledTask.DoesNotExist):
            self.stderr.write(f"schedule_id: no schedule with id {schedule_id!r}.")
            sys.exit(2)
        try:
            run = services.schedule_run_now(schedule=schedule, now=timezone.now(), force=force, actor=COMMAND)
        except services.RunActiveError as exc:
            raise CommandError(f"{exc} (use --force to run anyway)", returncode=1)
        jobs = list(run.jobs.order_by("pk").values_list("pk", flat=True))
        self.stdout.write(
            f"Run {run.pk} of schedule {schedule.pk}: {services.run_now_message(run)}"
            + (f" Jobs: {', '.join(map(str, jobs))}." if jobs else "")
        )
        if run.outcome == RunOutcome.DISPATCH_FAILED:
            sys.exit(1)
