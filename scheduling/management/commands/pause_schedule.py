import datetime as dt

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from common.actors import COMMAND
from common.forms import errors_by_field
from scheduling import recurrence, services
from scheduling.messages import pause_done
from scheduling.models import ScheduledTask


class Command(BaseCommand):
    help = ("Pause a schedule until a date and time, with a reason: its windows until then are recorded as paused, "
            "not run, and the scheduler resumes it then. --resume lifts the pause now. "
            "Exits 1 when the pause is refused (the message names the field), 2 for an unknown id.")

    def add_arguments(self, parser):
        parser.add_argument("schedule_id", type=int, help="id of the schedule")
        action = parser.add_mutually_exclusive_group(required=True)
        action.add_argument("--until", help="ISO-8601, e.g. 2026-05-04T08:00 (on the schedule's wall clock) or "
                                            "2026-05-04T08:00+02:00")
        action.add_argument("--resume", action="store_true", help="lift the pause now")
        parser.add_argument("--reason", default="", help="why, in a few words (at most 200 characters)")

    def handle(self, *args, schedule_id: int, until: str | None, resume: bool, reason: str, **options):
        try:
            schedule = ScheduledTask.objects.get(pk=schedule_id)
        except ScheduledTask.DoesNotExist:
            raise CommandError(f"schedule_id: no schedule with id {schedule_id}.", returncode=2) from None
        now = timezone.now()
        if resume:
            was_paused = schedule.paused_until is not None
            services.schedule_resume(schedule=schedule, now=now, actor=COMMAND)
            self.stdout.write(f"“{schedule.name}” resumed." if was_paused else f"“{schedule.name}” is not paused.")
            return
        try:
            services.schedule_pause(schedule=schedule, until=self._instant(until, schedule), reason=reason, now=now,
                                    actor=COMMAND)
        except ValidationError as exc:
            raise CommandError(" ".join(f"{field}: {' '.join(messages)}" if field != "__all__" else " ".join(messages)
                                        for field, messages in errors_by_field(exc).items()), returncode=1) from exc
        self.stdout.write(pause_done(schedule))

    def _instant(self, text: str, schedule: ScheduledTask) -> dt.datetime:
        try:
            value = dt.datetime.fromisoformat(text)
        except ValueError:
            raise CommandError(f"until: not an ISO-8601 date and time: {text!r}.", returncode=1) from None
        return value if value.tzinfo is not None else recurrence.wall_to_instant(value, schedule.timezone)
