"""A feed outage lasting hours as an incident: `feed_outage:<group>`.

YouTube's feeds are down for hours on some days; one sync judged an outage is normal, a group whose
syncs have been outages for more than a few hours is worth a message. A watch
(notifications.registry), run from the scheduler's step: a group whose newest finished sync is an
outage, and whose consecutive outage syncs span more than NOTIFY_FEED_OUTAGE_AFTER_SECONDS, opens
it; the group's next sync that is not an outage resolves it.
"""

from __future__ import annotations

from datetime import datetime

from channels.models import ChannelGroup, GroupSync
from channels.selectors import schedules_of_group
from common.conf import AppSettings
from common.formatting import human_duration
from notifications.selectors import open_incident_keys
from notifications.services import incident_open, incident_resolve

SETTINGS = AppSettings({
    # Consecutive outage syncs of a group spanning longer than this are an incident.
    "NOTIFY_FEED_OUTAGE_AFTER_SECONDS": 3 * 3600.0,
})

FEED_OUTAGE = "feed_outage"


def key(group_id: int) -> str:
    return f"{FEED_OUTAGE}:{group_id}"


def _utc(instant: datetime) -> str:
    return f"{instant:%Y-%m-%d %H:%M} UTC"


def outage_began(group: ChannelGroup) -> GroupSync | None:
    """The first sync of the group's current run of outage syncs (its newest finished sync is one)."""
    latest = group.last_sync
    last_good = (GroupSync.objects.filter(group=group, finished_at__isnull=False, outage=False,
                                          created_at__lt=latest.created_at)
                 .order_by("-created_at").values_list("created_at", flat=True).first())
    streak = GroupSync.objects.filter(group=group, finished_at__isnull=False, outage=True,
                                      created_at__lte=latest.created_at)
    if last_good is not None:
        streak = streak.filter(created_at__gt=last_good)
    return streak.order_by("created_at", "id").first()


def _channels_of(group: ChannelGroup) -> list[int]:
    """The channels the group's schedules chose; all when one of them chose none (or it has none)."""
    chosen: set[int] = set()
    for channel_ids in schedules_of_group(group).values_list("notify_channels", flat=True):
        if not channel_ids:
            return []
        chosen.update(channel_ids)
    return sorted(chosen)


def watch_outages(*, now: datetime, source: str) -> None:
    limit = SETTINGS.seconds("NOTIFY_FEED_OUTAGE_AFTER_SECONDS")
    open_keys = open_incident_keys(kinds=(FEED_OUTAGE,))
    in_outage = list(ChannelGroup.objects.filter(last_sync__outage=True).select_related("last_sync"))
    for group in in_outage:
        if key(group.pk) in open_keys:
            continue
        first = outage_began(group)
        latest = group.last_sync
        if first is None or latest.finished_at - first.created_at <= limit:
            continue
        span = human_duration(latest.finished_at - first.created_at)
        incident_open(key=key(group.pk), kind=FEED_OUTAGE, title=f"YouTube feed outage for “{group.name}” ({span})",
                      detail=f"Every sync of the group since {_utc(first.created_at)} found most feeds down (404, "
                             f"server errors or no answer); no new videos come in. {latest.note}".strip(),
                      link="/channels", channel_ids=_channels_of(group), now=now)
    current = {key(group.pk) for group in in_outage}
    for gone in sorted(open_keys - current):
        group = ChannelGroup.objects.filter(pk=int(gone.partition(":")[2])).select_related("last_sync").first()
        if group is None:
            detail = "The group was deleted."
        elif group.last_sync is not None:
            detail = f"The latest sync of “{group.name}” was no outage: {group.last_sync.summary}"
        else:
            detail = f"“{group.name}” has no finished sync any more."
        incident_resolve(key=gone, detail=detail, now=now)
