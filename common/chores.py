"""Chores: work one process of many does every so often, claimed with a compare-and-set (common.models.Chore).

    claim = chore_claim(name="history prune", now=now, lease=timedelta(minutes=10))
    if claim:
        ...                  # claim.state: where an unfinished round got to
        chore_release(claim=claim, now=now, next_at=now + timedelta(days=1), done=True)

A claim holds the chore for its lease: no other process claims it before `now + lease`, so a process
that dies mid-round delays the next one by the lease at most. Idle calls only read (one indexed
SELECT, no write lock on SQLite).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction

from common.models import Chore
from common.processes import process_name


@dataclass
class Claim:
    name: str
    token: str
    state: dict = field(default_factory=dict)


def chore_claim(*, name: str, now: datetime, lease: timedelta) -> Claim | None:
    """Take the chore if it is due at `now`; None if it is not, or another process took it first."""
    due_at = Chore.objects.filter(name=name).values_list("next_at", flat=True).first()
    if due_at is None:
        try:
            with transaction.atomic():
                Chore.objects.create(name=name, next_at=now)
        except IntegrityError:  # another process created it first; the update below decides
            pass
    elif due_at > now:
        return None
    token = uuid.uuid4().hex
    # The compare-and-set: of several processes finding it due, one moves next_at past now.
    if not Chore.objects.filter(name=name, next_at__lte=now).update(next_at=now + lease, claimed_by=process_name(),
                                                                    claim_token=token):
        return None
    state = Chore.objects.filter(name=name).values_list("state", flat=True).get()
    return Claim(name=name, token=token, state=dict(state or {}))


def chore_release(*, claim: Claim, now: datetime, next_at: datetime, done: bool) -> bool:
    """Say when the chore is next due and what it got to (`claim.state`; emptied when `done`). False if
    the claim's lease had passed and another process holds the chore now: then nothing is written."""
    changes = {"next_at": next_at, "state": {} if done else claim.state, "claim_token": ""}
    if done:
        changes["last_done_at"] = now
    return bool(Chore.objects.filter(name=claim.name, claim_token=claim.token).update(**changes))


def chore_last_done(name: str) -> datetime | None:
    return Chore.objects.filter(name=name).values_list("last_done_at", flat=True).first()
