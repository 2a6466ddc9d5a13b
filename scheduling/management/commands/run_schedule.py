from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from common.actors import COMMAND
from scheduling import services
from scheduling.messages import run_now_message
from scheduling.models import RunOutcome, ScheduledTask


class Command(BaseCommand):
    help = ("Run a schedule's task now (\"Run now\"): records a manual run; the next scheduled run stays. "
            "Exits 1 while a run of it is still active (unless --force) or when it cannot run, 2 for an unknown id.")

    def add_arguments(self, parser):
        parser.add_argument("schedule_id", type=int, help="id of the schedule")
        parser.add_argument("--force", action="store_true", help="run even while an earlier run is still active")

    def handle(self, *args, schedule_id: int, force: bool, **options):
        try:
            schedule = ScheduledTask.objects.get(pk=schedule_id)
        except ScheduledTask.DoesNotExist:
            raise CommandError(f"schedule_id: no schedule with id {schedule_id}.", returncode=2) from None
        try:
            run = services.schedule_run_now(schedule=schedule, now=timezone.now(), force=force, actor=COMMAND)
        except services.RunActiveError as exc:
            raise CommandError(f"{exc} (use --force to run anyway)", returncode=1) from exc
        text = f"Run {run.pk} of schedule {schedule.pk}: {run_now_message(run)}"
        if run.outcome == RunOutcome.DISPATCH_FAILED:
            raise CommandError(text, returncode=1)
        jobs = list(run.jobs.order_by("pk").values_list("pk", flat=True))
        self.stdout.write(text + (f" Jobs: {', '.join(map(str, jobs))}." if jobs else ""))
