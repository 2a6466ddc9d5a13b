import signal
import threading
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import ngettext

from scheduling import loop, tick
from scheduling.models import HeartbeatSource

# A --now this close to the real clock counts as "now" (clocks and typing are never exact).
FUTURE_TOLERANCE = timedelta(minutes=1)


def parse_instant(value: str) -> datetime:
    try:
        instant = parse_datetime(value.strip())
    except ValueError:  # well-formed but impossible, e.g. month 13
        instant = None
    if instant is None:
        raise CommandError(f"--now: {value!r} is not an ISO-8601 date and time (e.g. 2026-03-29T05:30:00Z).")
    if timezone.is_naive(instant):
        raise CommandError(f"--now: {value!r} has no UTC offset; add Z for UTC, or e.g. +01:00.")
    try:
        return instant.astimezone(dt_timezone.utc)
    except OverflowError:  # 0001-01-01T00:00+14:00 is before year 1 in UTC
        raise CommandError(f"--now: {value!r} is outside the years 1 to 9999 in UTC.") from None


def describe(report: tick.PassReport) -> str:
    ended = (ngettext("%d pause ended", "%d pauses ended", report.pauses_ended) % report.pauses_ended
             if report.pauses_ended else "")
    if not report.windows:
        return f"{report.now.isoformat()}: nothing due{'; ' + ended if ended else ''}."
    parts = ", ".join(f"{count} {outcome}" for outcome, count in sorted(report.outcomes.items()))
    windows = ngettext("%d window", "%d windows", report.windows) % report.windows
    text = f"{report.now.isoformat()}: {windows}: {parts}"
    if report.max_lateness is not None:
        text += f"; dispatched up to {report.max_lateness.total_seconds():.3f} s after the window"
    return text + (f"; {ended}" if ended else "") + "."


class Command(BaseCommand):
    help = (
        "Turn due schedule windows into jobs and keep jobs moving (due retries, lost jobs, lost messages). "
        "One step by default (fits cron or a systemd timer); --loop keeps running until SIGTERM or SIGINT; "
        "--now simulates the pass at an instant."
    )

    def add_arguments(self, parser):
        parser.add_argument("--loop", action="store_true", help="keep running, waking when the next window is due")
        parser.add_argument("--now", help="evaluate as if it were this instant (ISO-8601 with offset); one pass")
        parser.add_argument("--dry-run", action="store_true",
                            help="show what the pass would do, then roll it back: no runs, jobs or changes")
        parser.add_argument("--allow-future", action="store_true",
                            help="let --now lie in the future, dispatching real jobs and moving schedules past "
                                 "the real windows before it")

    def handle(self, *args, **options):
        if options["loop"] and (options["now"] or options["dry_run"]):
            raise CommandError("--loop runs for real; it cannot be combined with --now or --dry-run.")
        if options["loop"]:
            self.run_loop(verbose=options["verbosity"] >= 1)
            return
        real_now = timezone.now()
        now = parse_instant(options["now"]) if options["now"] else real_now
        if now > real_now + FUTURE_TOLERANCE and not (options["dry_run"] or options["allow_future"]):
            raise CommandError(
                f"--now: {now.isoformat()} is in the future. A pass there dispatches real jobs and moves every "
                "schedule past the real windows before it. Add --dry-run to see what it would do, or "
                "--allow-future to do it anyway."
            )
        if options["dry_run"]:
            with transaction.atomic():
                report = tick.run_pass(now=now)
                transaction.set_rollback(True)
        elif options["now"]:
            # A simulated instant runs the pass only: maintenance at a made-up time would reap or
            # release real jobs, and a heartbeat would make a dead scheduler look alive.
            report = tick.run_pass(now=now)
        else:
            report = loop.scheduler_step(now=now, source=HeartbeatSource.ONCE, name=loop.one_shot_name())
        self.stdout.write(("Dry run, nothing kept: " if options["dry_run"] else "") + describe(report))

    def run_loop(self, *, verbose: bool) -> None:
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        self.stdout.write("Scheduler running; SIGTERM or Ctrl-C stops it after the current pass.")
        self.stdout.flush()
        for report in loop.run(stop=stop):
            if report.windows and verbose:
                self.stdout.write(describe(report))
                self.stdout.flush()
        self.stdout.write("Scheduler stopped.")
