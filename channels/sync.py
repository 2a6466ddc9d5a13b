"""Quick sync: one channel's feed into its videos (the QUICK_SYNC job), and the group sync's summary.

Every QUICK_SYNC job belongs to a GroupSync (a group's run, or Sync now of one channel), whose id
it carries. Each attempt records how it went on the channel and in the sync's ChannelSync row at
once; what a failure means is decided only when the whole sync is done (`group_sync_finish`, on
`jobs.signals.job_status_changed`): when most of the group's channels that got an answer got 404
or 5xx, YouTube's feed is down (it is, for hours, on some days) and no channel is blamed; otherwise
each failing channel's failure count grows and its next attempt backs off. Deciding afterwards,
rather than undoing a backoff, means no channel is ever seen backed off because of an outage.

A feed that gave no answer at all (no DNS, a refused connection, a timeout, a connection cut off)
is neither: the network between this server and YouTube failed, so the channel is not blamed and
YouTube is not called down. Its words name the host this server tried (`feed.network_failure`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from django.db import transaction
from django.db.models import Exists, OuterRef, Q

from channels import feed, messages
from channels.models import (
    OUTAGE_OUTCOMES,
    SKIPPED_OUTCOMES,
    SUCCESS_OUTCOMES,
    Channel,
    ChannelGroup,
    ChannelSync,
    GroupSync,
    SyncOutcome,
    Video,
)
from common.db import update_rows
from jobs import conf as jobs_conf
from jobs.models import ACTIVE_STATUSES, Job
from jobs.registry import PermanentJobError
from jobs.services import job_attempt_succeeded
from scheduling.services import schedule_run_add_note

logger = logging.getLogger(__name__)

JOB_TYPE = "QUICK_SYNC"
# A failing channel waits 10 min, 20, 40... up to a day before group syncs try it again.
BACKOFF_BASE = timedelta(minutes=10)
BACKOFF_MAX = timedelta(hours=24)
# "Most of the group": more than half of the channels checked, and at least this many of them.
OUTAGE_MIN_CHANNELS = 3
COOLDOWN_429 = timedelta(minutes=30)
COOLDOWN_403 = timedelta(hours=1)
COOLDOWN_MAX = timedelta(hours=6)


class FeedTemporaryError(Exception):
    """A 5xx or no answer: the job's retry policy tries again."""


def backoff_delay(failures: int) -> timedelta:
    # The factor stops at the cap before it multiplies: BACKOFF_BASE * 2 ** 38 overflows a timedelta, and a
    # deleted channel (never disabled) fails once a day, so its 39th failure in a row broke the judging.
    return BACKOFF_BASE * min(2 ** max(failures - 1, 0), BACKOFF_MAX // BACKOFF_BASE)


# --------------------------------------------------------------------------- one channel


CHANNEL_FIELDS = ("youtube_id", "title", "feed_etag", "feed_last_modified", "feed_sha256")


def channel_sync(*, channel_id: int, group_sync_id: int | None, now: datetime, job: Job | None = None,
                 clock: Callable[[], datetime] | None = None) -> dict:
    """Fetch one channel's feed and upsert its videos; the job's result, or an exception.

    Raises PermanentJobError for what no retry fixes (404, 403/429, an unreadable feed) and
    FeedTemporaryError for a 5xx or a network failure, after recording the attempt.

    Given the `job` whose attempt this is, a sync that succeeds records the job's success in the
    transaction of its own last writes, at `clock()` (`now` is when the sync began): they commit
    together, and SQLite's one write lock is taken once fewer per job (at 8 workers, 2-10 % more
    channels a second, side by side; bench/channel_sync.py).
    """
    # Only the columns a sync reads, and get() (first() would order): these two reads are a good
    # part of the CPU of an unchanged feed's sync.
    try:
        channel = Channel.objects.only(*CHANNEL_FIELDS).get(pk=channel_id)
    except Channel.DoesNotExist:
        raise PermanentJobError(f"Channel {channel_id} no longer exists.") from None
    group_sync = None
    if group_sync_id is not None:
        try:
            group_sync = (GroupSync.objects.select_related("group").only("group__name", "group__cooldown_until")
                          .get(pk=group_sync_id))
        except GroupSync.DoesNotExist:
            pass  # deleted meanwhile: the channel is synced all the same
    cooling = _cooling_group(channel, group_sync, now)
    if cooling is not None:
        # A 403/429 earlier in this run (or another) stops the rest of it.
        _record(channel, group_sync, now=now, outcome=SyncOutcome.SKIPPED_COOLDOWN, touch_channel=False,
                error=f"Cool-down of “{cooling.name}” until {cooling.cooldown_until:%Y-%m-%d %H:%M} UTC.")
        return {"outcome": SyncOutcome.SKIPPED_COOLDOWN.value, "until": cooling.cooldown_until.isoformat()}

    try:
        url = feed.feed_url(channel.youtube_id)
        started = time.perf_counter()
        response = feed.fetch(url, etag=channel.feed_etag, last_modified=channel.feed_last_modified)
        fetch_ms = round((time.perf_counter() - started) * 1000, 1)
    except feed.FeedError as exc:
        _fail(channel, group_sync, now=now, outcome=SyncOutcome.BAD_FEED, error=str(exc))
        raise PermanentJobError(str(exc)) from None
    except httpx.HTTPError as exc:
        # No answer at all (no DNS, refused, timed out, cut off): the network's doing, so a retry may help.
        message = feed.network_failure(exc)
        _fail(channel, group_sync, now=now, outcome=SyncOutcome.UNREACHABLE, error=message)
        raise FeedTemporaryError(message) from None
    except Exception as exc:
        # Anything else before an answer (a feed URL that is no URL, a header the client refuses) is
        # a failure of this sync too: recorded, so the channel never keeps showing its last success.
        # Raised again with its traceback: it is a fault to fix, not the feed's.
        _fail(channel, group_sync, now=now, outcome=SyncOutcome.BAD_FEED,
              error=f"The feed request could not be made ({exc.__class__.__name__}: {exc}).")
        raise

    status = response.status
    finish = _Completion(job, clock, fetch_ms)
    if status == 304:
        return _unchanged(channel, group_sync, now=now, response=response, finish=finish)
    if status == 200:
        # The hash is of a body that parsed and was stored: the same bytes need neither again.
        if response.sha256 == channel.feed_sha256:
            return _unchanged(channel, group_sync, now=now, response=response, finish=finish)
        try:
            parsed = feed.parse(response.body, channel_id=channel.youtube_id, content_type=response.content_type)
        except feed.BadFeed as exc:
            _fail(channel, group_sync, now=now, outcome=SyncOutcome.BAD_FEED, error=str(exc), http_status=status)
            raise PermanentJobError(f"{channel.youtube_id}: {exc} Nothing was written.") from None
        return _store(channel, group_sync, parsed, now=now, response=response, finish=finish)
    if status == 404:
        message = (f"The feed answered 404 Not Found for {channel.youtube_id} (a deleted channel, a wrong id, "
                   "or YouTube's feed being down).")
        _fail(channel, group_sync, now=now, outcome=SyncOutcome.NOT_FOUND, error=message, http_status=status)
        raise PermanentJobError(message)
    if status in (403, 429):
        until = _set_cooldown(channel, group_sync, now=now, response=response)
        message = (f"YouTube refused the feed request (HTTP {status}); group syncs pause until "
                   f"{until:%Y-%m-%d %H:%M} UTC.")
        _fail(channel, group_sync, now=now, outcome=SyncOutcome.THROTTLED, error=message, http_status=status)
        raise PermanentJobError(message)
    if status >= 500:
        message = f"The feed server answered HTTP {status}."
        _fail(channel, group_sync, now=now, outcome=SyncOutcome.SERVER_ERROR, error=message, http_status=status)
        raise FeedTemporaryError(message)
    message = f"The feed answered HTTP {status}, which a feed never should."
    _fail(channel, group_sync, now=now, outcome=SyncOutcome.BAD_FEED, error=message, http_status=status)
    raise PermanentJobError(message)


def _cooling_group(channel: Channel, group_sync: GroupSync | None, now: datetime) -> ChannelGroup | None:
    if group_sync is not None and group_sync.group is not None:
        return group_sync.group if group_sync.group.in_cooldown(now) else None
    return channel.group_in_cooldown(now)


def _set_cooldown(channel: Channel, group_sync: GroupSync | None, *, now: datetime, response) -> datetime:
    delay = COOLDOWN_429 if response.status == 429 else COOLDOWN_403
    seconds = response.retry_after.strip()  # the form in seconds; an HTTP date keeps the default
    if seconds.isascii() and seconds.isdigit():  # isdigit() alone also takes "²", which int() refuses
        delay = timedelta(seconds=min(int(seconds), COOLDOWN_MAX.total_seconds()))
    until = now + min(max(delay, timedelta(minutes=1)), COOLDOWN_MAX)
    if group_sync is not None and group_sync.group_id:
        groups = ChannelGroup.objects.filter(pk=group_sync.group_id)
    else:
        groups = ChannelGroup.objects.filter(channels=channel)
    groups.update(cooldown_until=until, cooldown_reason=f"YouTube answered HTTP {response.status} for "
                                                        f"{channel.youtube_id} at {now:%Y-%m-%d %H:%M} UTC.")
    return until


@dataclass(frozen=True)
class _Completion:
    """How a successful sync ends: the job's result, recorded with the sync's last writes when the
    sync runs as a job (see channel_sync)."""

    job: Job | None
    clock: Callable[[], datetime] | None
    fetch_ms: float

    def __call__(self, result: dict) -> dict:
        result = {**result, "fetch_ms": self.fetch_ms}
        if self.job is not None and self.clock is not None:
            job_attempt_succeeded(job=self.job, result=result, now=self.clock())
        return result


def _unchanged(channel: Channel, group_sync, *, now: datetime, response, finish: _Completion) -> dict:
    with transaction.atomic():
        _succeed(channel, group_sync, now=now, outcome=SyncOutcome.UNCHANGED, http_status=response.status,
                 validators=response, new=0, updated=0)
        return finish({"outcome": SyncOutcome.UNCHANGED.value, "http_status": response.status, "new": 0,
                       "updated": 0})


VIDEO_FIELDS = ("title", "description", "url", "thumbnail_url", "published_at", "feed_updated_at", "view_count")


def _store(channel: Channel, group_sync, parsed: feed.Feed, *, now: datetime, response, finish: _Completion) -> dict:
    """Upsert the feed's videos and the channel's record in one transaction: all of it or none.

    Videos missing from the feed are left alone: it lists only the newest 15. The videos are read
    and compared before the transaction, so that SQLite's one write lock, which every worker's
    every job needs a few times, is held only while writing (with 8 workers, waiting for it was a
    large part of a job; bench/channel_sync.py).
    """
    existing = {v.youtube_id: v for v in Video.objects.filter(youtube_id__in=[e.video_id for e in parsed.entries])}
    new: list[Video] = []
    changed: dict[tuple[str, ...], list[Video]] = {}  # by the fields that changed: mostly the view count
    others = 0  # entries naming a video that another channel holds: only its own channel's feed writes it
    for entry in parsed.entries:
        values = {"title": entry.title, "description": entry.description, "url": entry.url,
                  "thumbnail_url": entry.thumbnail_url, "published_at": entry.published,
                  "feed_updated_at": entry.updated, "view_count": entry.view_count}
        video = existing.get(entry.video_id)
        if video is None:
            new.append(Video(channel=channel, youtube_id=entry.video_id, is_short=entry.is_short,
                             first_seen_at=now, **values))
            continue
        if video.channel_id != channel.pk:
            others += 1
            continue
        differs = [name for name in VIDEO_FIELDS if getattr(video, name) != values[name]]
        if entry.is_short and video.is_short is not True:  # a later feed without the link knows less, not more
            differs.append("is_short")
            video.is_short = True
        if differs:
            for name in differs:
                if name != "is_short":
                    setattr(video, name, values[name])
            changed.setdefault(tuple(differs), []).append(video)
    updated = sum(len(videos) for videos in changed.values())
    if parsed.title and channel.title in ("", channel.youtube_id):
        channel.title = parsed.title
    with transaction.atomic():
        if new:
            # ignore_conflicts: the same channel synced by another group's run at the same moment
            # may have inserted one of them since it was read.
            Video.objects.bulk_create(new, ignore_conflicts=True)
        for names, videos in changed.items():
            # Not bulk_update, which builds a CASE WHEN per field and row: a 15-video update cost
            # ~60 ms of CPU with it (bench/channel_sync.py).
            update_rows(Video, videos, names, now=now)
        _succeed(channel, group_sync, now=now, outcome=SyncOutcome.SYNCED, http_status=response.status,
                 validators=response, new=len(new), updated=updated, sha256=response.sha256)
        result = {"outcome": SyncOutcome.SYNCED.value, "http_status": response.status, "new": len(new),
                  "updated": updated, "entries": len(parsed.entries) - others,
                  "entries_skipped": parsed.skipped + others}
        held = f"{others:,} of its videos belong to another channel here; left as they are." if others else ""
        if note := " ".join(filter(None, [parsed.note, held])):
            result["note"] = note
        return finish(result)


def _succeed(channel: Channel, group_sync, *, now, outcome, http_status, validators, new, updated,
             sha256: str | None = None) -> None:
    changes = {
        "last_checked_at": now, "last_success_at": now, "last_outcome": outcome, "last_http_status": http_status,
        "last_new_count": new, "last_updated_count": updated, "last_error": "", "consecutive_failures": 0,
        "next_attempt_at": None, "title": channel.title,
    }
    # A server that stops sending validators must not be asked with stale ones.
    if http_status == 200:
        # Both are checked to be fit for a request header (feed.validator) before they get here.
        changes.update(feed_etag=validators.etag, feed_last_modified=validators.last_modified)
    if sha256 is not None:
        changes["feed_sha256"] = sha256
    Channel.objects.filter(pk=channel.pk).update(**changes)
    _result(group_sync, channel, now=now, outcome=outcome, http_status=http_status, new=new, updated=updated,
            settled=True)


def _fail(channel: Channel, group_sync, *, now, outcome, error, http_status=None) -> None:
    """Record a failed attempt. Whether it counts against the channel is settled when the sync is done
    (a network failure never does)."""
    _record(channel, group_sync, now=now, outcome=outcome, error=error, http_status=http_status)
    if group_sync is None and outcome not in NOT_BLAMED:
        # A job of no sync (made by hand): nothing to compare with, so settle now.
        _count_failure(channel.pk, checked_at=now)


# Outcomes settled as they are recorded, never counted against the channel: skipped, or no answer at all.
NOT_BLAMED = (*SKIPPED_OUTCOMES, SyncOutcome.UNREACHABLE)


def _record(channel: Channel, group_sync, *, now, outcome, error="", http_status=None, touch_channel=True) -> None:
    with transaction.atomic():
        if touch_channel:
            Channel.objects.filter(pk=channel.pk).update(last_checked_at=now, last_outcome=outcome,
                                                         last_http_status=http_status, last_error=error,
                                                         last_new_count=0, last_updated_count=0)
        _result(group_sync, channel, now=now, outcome=outcome, http_status=http_status, error=error,
                settled=outcome in NOT_BLAMED)


RESULT_FIELDS = ["outcome", "http_status", "new_videos", "updated_videos", "error", "checked_at", "settled"]


def _result(group_sync, channel, *, now, outcome, http_status=None, new=0, updated=0, error="", settled) -> None:
    if group_sync is None:
        return
    # One INSERT ... ON CONFLICT DO UPDATE: a retried attempt replaces the row of the attempt before.
    ChannelSync.objects.bulk_create(
        [ChannelSync(group_sync=group_sync, channel=channel, outcome=outcome, http_status=http_status,
                     new_videos=new, updated_videos=updated, error=error, checked_at=now, settled=settled)],
        update_conflicts=True, unique_fields=["group_sync", "channel"], update_fields=RESULT_FIELDS,
    )


def _count_failure(channel_id: int, *, checked_at: datetime) -> None:
    """One more failure of the channel itself: back off, unless a newer check has happened since."""
    channel = Channel.objects.filter(pk=channel_id, last_checked_at=checked_at).first()
    if channel is None:
        return
    failures = channel.consecutive_failures + 1
    Channel.objects.filter(pk=channel_id, last_checked_at=checked_at,
                           consecutive_failures=channel.consecutive_failures).update(
        consecutive_failures=failures, next_attempt_at=checked_at + backoff_delay(failures))


# --------------------------------------------------------------------------- the whole sync


def group_syncs_follow_jobs(*, jobs: list[Job], now: datetime) -> int:
    """Finish the syncs whose jobs are all done; called when jobs finish (maybe more than once for the
    same change: a sync already up to date is left as it is). Returns how many changed."""
    group_sync_ids = set()
    for job in jobs:
        params = job.params
        if job.job_type == JOB_TYPE and isinstance(params, dict) and isinstance(params.get("group_sync_id"), int):
            group_sync_ids.add(params["group_sync_id"])
    return sum(group_sync_finish(group_sync_id=pk, now=now) for pk in sorted(group_sync_ids))


def group_syncs_settle_stale(*, now: datetime, limit: int = 20) -> int:
    """Finish syncs still running although none of their jobs is active; return how many.

    The net under the jobs' announcements (each scheduler step, through jobs.signals.jobs_maintained):
    a sync whose last job's announcement never came, and never will (no job of it is marked to be
    announced any more). A job still marked is the announcement's to settle, so in normal operation
    this finishes nothing. Looks at the oldest few syncs still running longer than the announcements
    are given (the partial index of running syncs), one query each while their jobs are active.
    """
    running = (GroupSync.objects.filter(finished_at__isnull=True,
                                        created_at__lt=now - jobs_conf.seconds("JOBS_ANNOUNCE_AGAIN_AFTER_SECONDS"))
               .order_by("created_at").values_list("pk", flat=True)[:limit])
    waiting = Q(status__in=ACTIVE_STATUSES) | Q(announce_due_at__isnull=False)
    finished = sum(group_sync_finish(group_sync_id=pk, now=now) for pk in list(running)
                   if not sync_jobs(pk).filter(waiting).exists())
    if finished:
        logger.warning("Finished %d group sync(s) left running after their last job finished.", finished)
    return finished


def sync_jobs(group_sync_id: int):
    # The (job_type, status) index narrows this to the active syncs before the JSON is read.
    return Job.objects.filter(job_type=JOB_TYPE, params__group_sync_id=group_sync_id)


def group_sync_finish(*, group_sync_id: int, now: datetime) -> bool:
    """Judge the failures and write the summary once none of the sync's jobs is active; True if
    that changed anything. Idempotent: a job retried by hand later makes it run again, judging only
    what changed, and a sync already summarised as it stands is left untouched."""
    if sync_jobs(group_sync_id).filter(status__in=ACTIVE_STATUSES).exists():
        return False
    with transaction.atomic():
        # of=("self",): PostgreSQL locks no row of a nullable join (the group may be gone).
        group_sync = (GroupSync.objects.select_for_update(of=("self",)).select_related("group")
                      .filter(pk=group_sync_id).first())
        if group_sync is None:
            return False
        results = list(group_sync.results.all())
        # The channels YouTube answered for: one this server could not reach says nothing of the feed.
        answered = [r for r in results if r.outcome not in NOT_BLAMED]
        down = [r for r in answered if r.outcome in OUTAGE_OUTCOMES or r.outcome == SyncOutcome.FEED_OUTAGE]
        outage = len(answered) >= OUTAGE_MIN_CHANNELS and 2 * len(down) > len(answered)
        unsettled = [r for r in results if not r.settled and r.outcome not in SUCCESS_OUTCOMES]
        _judge_failures(unsettled, outage=outage)
        return _summarise(group_sync, results, outage=outage, now=now, judged=bool(unsettled))


def _judge_failures(unsettled: list[ChannelSync], *, outage: bool) -> None:
    """Settle the failures not judged yet: in an outage its 404s, 5xx and silences become
    FEED_OUTAGE, any other failure backs its channel off.

    The caller holds the group sync's row (and on SQLite the write lock), so one judge runs at a
    time. The outage is written set-wise: it fails most of a group at once, and one statement per
    channel would hold that lock for the whole group.
    """
    if not unsettled:
        return
    ChannelSync.objects.filter(pk__in=[r.pk for r in unsettled]).update(settled=True)
    down = {r.pk: r.channel_id for r in unsettled if outage and r.outcome in OUTAGE_OUTCOMES}
    if down:
        ChannelSync.objects.filter(pk__in=list(down)).update(outcome=SyncOutcome.FEED_OUTAGE)
        # Only a channel whose latest check is this one shows the outage: a newer check has its say.
        this_check = ChannelSync.objects.filter(pk__in=list(down), channel=OuterRef("pk"),
                                                checked_at=OuterRef("last_checked_at"))
        Channel.objects.filter(pk__in=list(down.values())).filter(Exists(this_check)).update(
            last_outcome=SyncOutcome.FEED_OUTAGE)
    for result in unsettled:
        if result.pk not in down:
            _count_failure(result.channel_id, checked_at=result.checked_at)


def _summarise(group_sync: GroupSync, results: list[ChannelSync], *, outage: bool, now: datetime,
               judged: bool) -> bool:
    by_outcome: dict[str, int] = {}
    for result in results:
        by_outcome[result.outcome] = by_outcome.get(result.outcome, 0) + 1
    synced = sum(by_outcome.get(o, 0) for o in SUCCESS_OUTCOMES)
    skipped_backoff = by_outcome.get(SyncOutcome.SKIPPED_BACKOFF, 0)
    skipped_cooldown = by_outcome.get(SyncOutcome.SKIPPED_COOLDOWN, 0)
    # A job cancelled before it ran, or lost with its worker, left no result: it failed too.
    failed = group_sync.channels_total - synced - skipped_backoff - skipped_cooldown
    down = sum(by_outcome.get(o, 0) for o in (*OUTAGE_OUTCOMES, SyncOutcome.FEED_OUTAGE))
    checked = len(results) - skipped_backoff - skipped_cooldown
    unreachable = [r.error for r in results if r.outcome == SyncOutcome.UNREACHABLE]
    note = " ".join(filter(None, [
        messages.outage_note(down=down, checked=checked - len(unreachable)) if outage else "",
        messages.unreachable_note(errors=unreachable, checked=checked) if unreachable else "",
    ]))
    first_time = group_sync.finished_at is None
    summary = {"synced": synced, "failed": failed, "skipped_backoff": skipped_backoff,
               "skipped_cooldown": skipped_cooldown, "outage": outage, "note": note,
               "new_videos": sum(r.new_videos for r in results),
               "updated_videos": sum(r.updated_videos for r in results)}
    if not first_time and not judged and all(getattr(group_sync, name) == value for name, value in summary.items()):
        return False  # told again of jobs it has already summarised
    GroupSync.objects.filter(pk=group_sync.pk).update(finished_at=now, **summary)
    if group_sync.group_id:
        newer = GroupSync.objects.filter(group_id=group_sync.group_id, finished_at__isnull=False,
                                         created_at__gt=group_sync.created_at)
        if not newer.exclude(pk=group_sync.pk).exists():
            ChannelGroup.objects.filter(pk=group_sync.group_id).update(last_sync=group_sync.pk)
        if outage:
            ChannelGroup.objects.filter(pk=group_sync.group_id).update(last_outage_at=now)
    if note and group_sync.schedule_run_id is not None and first_time:
        # The run's own message, so its page says it without knowing about channels.
        schedule_run_add_note(run_id=group_sync.schedule_run_id, note=note)
    return True


def group_syncs_prune_batch(*, before: datetime, after_id: int, batch_size: int) -> tuple[int, int | None]:
    """History that stays small (scheduling.history): delete up to `batch_size` group syncs finished
    before `before`, with ids above `after_id`, and their per-channel results with them; a group's
    last sync stays (its card shows it). Returns how many went and the last id looked at (None: done)."""
    ids = list(GroupSync.objects.filter(pk__gt=after_id, finished_at__lt=before)
               .order_by("pk").values_list("pk", flat=True)[:batch_size])
    if not ids:
        return 0, None
    shown = set(ChannelGroup.objects.filter(last_sync__in=ids).values_list("last_sync", flat=True))
    doomed = [pk for pk in ids if pk not in shown]
    deleted = 0
    if doomed:
        with transaction.atomic():
            deleted = GroupSync.objects.filter(pk__in=doomed).delete()[1].get(GroupSync._meta.label, 0)
    return deleted, ids[-1] if len(ids) == batch_size else None
