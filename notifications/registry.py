"""Periodic checks other apps register: "is something wrong right now?", asked by the scheduler's step.

A watch is `fn(*, now, source)`: it reads a little (a few queries) and opens or resolves its
incidents through `notifications.services`; `source` names the process taking the step (the loop,
a one-shot `schedule_tick`, the worker cluster's safety net), so a watch can tell what it is
running in. Apps register theirs in their `AppConfig.ready()`, as task types and job handlers are.
"""

from __future__ import annotations

from collections.abc import Callable

Watch = Callable[..., None]

_watches: list[Watch] = []


def register_watch(watch: Watch) -> Watch:
    """Add a watch (once: a second registration of the same function is ignored); usable as a decorator."""
    if watch not in _watches:
        _watches.append(watch)
    return watch


def watches() -> tuple[Watch, ...]:
    return tuple(_watches)

