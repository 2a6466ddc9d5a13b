"""The channels' words: what a sync did or why it syncs nothing, for every entrance and for a run's record.
The services deal in facts (a GroupSync's counts, a group's cool-down); these put them in words."""

from __future__ import annotations

from collections.abc import Iterable

from django.utils.translation import ngettext

from channels.models import SKIPPED_OUTCOMES, Channel, ChannelGroup, GroupSync, SyncOutcome
from common.formatting import format_instant

# A toast names this many skipped channels, then "and N more".
SKIPPED_NAMED = 5


def channel_added(*, channel: Channel, created: bool, groups: Iterable[ChannelGroup],
                  already_in: Iterable[ChannelGroup] = ()) -> str:
    """What adding a channel did: created or found, which of the chosen groups it joined, and which it was
    already in. A channel already in every chosen group changes nothing, and the message says so."""
    chosen = list(groups)
    before = {group.pk for group in already_in}
    joined = [group for group in chosen if group.pk not in before]
    kept = [group for group in chosen if group.pk in before]
    if created:
        where = f" to {_names(chosen)}" if chosen else " (in no group yet)"
        return f"Channel “{channel.title}” added{where}. Its videos appear after its first sync."
    if not joined:
        where = f" and in {_names(kept)}" if kept else ""
        return f"“{channel.title}” is already in the archive{where}: nothing changed."
    text = f"“{channel.title}” was already in the archive; it is now in {_names(joined)} too."
    if kept:
        text += f" It was already in {_names(kept)}."
    return text


def _names(groups: list[ChannelGroup]) -> str:
    """“News”, “News” and “Lawyers”, “A”, “B” and “C”."""
    quoted = [f"“{group.name}”" for group in groups]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + f" and {quoted[-1]}"


def nothing_to_sync_message(group_sync: GroupSync, group: ChannelGroup) -> str:
    """Why a sync of the group created no job."""
    if group_sync.channels_total == 0:
        return f"“{group.name}” has no enabled channel."
    if group_sync.skipped_cooldown or group.cooldown_until:
        return (f"All {group_sync.channels_total} channels of “{group.name}” are skipped: the group cools down "
                f"until {format_instant(group.cooldown_until)} ({group.cooldown_reason}).")
    return (f"All {group_sync.channels_total} enabled channels of “{group.name}” are skipped: each is waiting "
            "after failures (backoff).")


def sync_now_message(group_sync: GroupSync) -> str:
    """What Sync now did, in words, for every entrance."""
    what = f"“{group_sync.group_name}”" if group_sync.group_name else "the channel"
    if group_sync.jobs_created == 0:
        if group_sync.group is not None:
            return nothing_to_sync_message(group_sync, group_sync.group)
        return f"Not synced: {group_sync.results.first().error}" if group_sync.results.exists() else "Nothing to sync."
    queued = group_sync.jobs_created
    text = f"Syncing {what}: " + ngettext("%d job queued.", "%d jobs queued.", queued) % queued
    if group_sync.skipped:
        text += " " + skipped_note(group_sync)
    return text


def skipped_note(group_sync: GroupSync) -> str:
    """Which channels a sync left out and why, by name (1 channel skipped, waiting after failures: “Tagesschau”.)."""
    results = list(group_sync.results.filter(outcome__in=SKIPPED_OUTCOMES).select_related("channel")
                   .order_by("channel__title", "channel__pk"))
    count = len(results)
    if not count:
        return ""
    reasons = {result.outcome for result in results}
    if reasons == {SyncOutcome.SKIPPED_BACKOFF}:
        why = "waiting after failures"
    elif reasons == {SyncOutcome.SKIPPED_COOLDOWN}:
        why = "cooling down after YouTube refused"
    else:
        why = "waiting after failures or cooling down"
    names = ", ".join(f"“{result.channel.title}”" for result in results[:SKIPPED_NAMED])
    if count > SKIPPED_NAMED:
        names += f" and {count - SKIPPED_NAMED} more"
    return ngettext("%(count)d channel skipped, %(why)s: %(names)s.", "%(count)d channels skipped, %(why)s: %(names)s.",
                    count) % {"count": count, "why": why, "names": names}


def outage_note(*, down: int, checked: int) -> str:
    """A sync judged a feed outage: on the sync and on the schedule run that made it. `checked`: the
    channels the feed answered for."""
    return (f"Feed outage: {down} of {checked} channels checked got 404 or a server error; "
            "not counted against the channels.")


def unreachable_note(*, errors: list[str], checked: int) -> str:
    """Channels whose feed got no answer at all (no DNS, refused, timed out): this server's network,
    not YouTube and not the channels; on the sync and on the run. Each distinct reason once."""
    reasons = list(dict.fromkeys(error for error in errors if error))
    said = " ".join(reasons[:2]) + (" Other reasons too." if len(reasons) > 2 else "")
    return (f"{len(errors)} of {checked} channels got no answer, not counted against them: {said}").rstrip(": ")


def group_deleted_reason(group: ChannelGroup) -> str:
    """Why a schedule was disabled, in its audit trail."""
    return f"Its channel group “{group.name}” (id {group.pk}) was deleted."


def sync_active_message(what: str, active: int) -> str:
    """Sync now refused because an earlier sync of the same group or channel still has jobs to do."""
    return f"{what} is still syncing: " + ngettext("%d job queued, running or waiting to retry.",
                                                   "%d jobs queued, running or waiting to retry.", active) % active


def sync_finished(group_sync: GroupSync, *, name: str) -> str:
    """How a Sync now ended, for the live pages' toast: "Sync of News: 3 channels, 5 new videos, 1 failed."
    `name` is the group's (or, for one channel's sync, the channel's)."""
    checked = group_sync.synced + group_sync.failed
    parts = [ngettext("%d channel", "%d channels", checked) % checked,
             ngettext("%d new video", "%d new videos", group_sync.new_videos) % group_sync.new_videos]
    if group_sync.failed:
        parts.append(f"{group_sync.failed} failed")
    if group_sync.skipped:
        parts.append(f"{group_sync.skipped} skipped")
    text = f"Sync of {name}: {', '.join(parts)}."
    if group_sync.outage:
        text += " Feed outage: failures not counted against the channels."
    return text
