"""Live pages: a region that updates itself while something it shows is active, and the toast that says
how a run the user started ended.

Why polling and not server-sent events: the web process is gunicorn with sync workers (WSGI), where
an open event stream holds a worker for as long as the tab stays open; a poll is one short request.
The poll costs nothing when nothing happens, because it only exists then: a view decides whether its
region is *active* and renders the watcher (`includes/live_watch.html`) only in that case. The watcher
asks for the region again every `POLL_SECONDS` and htmx morphs the answer in (idiomorph), so the rows
change in place and the focused button, an open dialog and a half-typed input stay as they are. An
answer without the watcher ends the polling; an action's answer (its `*-changed` event refreshes the
region) starts it again.

"Toast how it ended" needs to remember what this user started: an action calls `follow()` and the id
goes into the session (so a reload or another live page still gets the toast, and only once); each
render of a live region asks `settle()` which followed items have finished, gets their toasts and
forgets them. The words come from the owning app's messages (a `resolve` function per kind).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from common.pages import Toast, message

# How often an active region asks again. The measured latency from a job's commit to the page
# showing it is about this plus one render (docs/benchmarks.md, "Live pages").
POLL_SECONDS = 1
# A followed run that has not finished by then (its jobs wait for a worker that never comes) is
# forgotten: no toast, and the pages stop asking on its behalf.
FOLLOW_FOR = timedelta(minutes=30)
# At most this many followed items per session; the oldest go first.
MAX_FOLLOWED = 20
SESSION_KEY = "live_follow"

# Given the ids still followed, the toasts of those that have finished ({id: Toast}); an id whose
# item no longer exists may map to None (forgotten without a toast). Ids left out are still going.
Resolve = Callable[[list[int]], dict[int, "Toast | None"]]


def follow(request, kind: str, pk: int, *, now: datetime) -> None:
    """Remember that this user started `kind` #pk (a schedule run, a group sync, a job), to toast its end."""
    entries = [entry for entry in _entries(request) if entry[:2] != [kind, pk]]
    entries.append([kind, pk, now.isoformat()])
    request.session[SESSION_KEY] = entries[-MAX_FOLLOWED:]


def followed(request, kind: str) -> list[int]:
    return [entry[1] for entry in _entries(request) if entry[0] == kind]


def settle(request, kinds: dict[str, Resolve], *, now: datetime) -> tuple[list[Toast], bool]:
    """The toasts of the followed items (of these kinds) that have finished, each given once; and whether
    any followed item of these kinds is still going (the region then stays active)."""
    entries = _entries(request)
    if not entries:
        return [], False
    toasts: list[Toast] = []
    keep: list[list] = []
    pending = False
    by_kind: dict[str, list[int]] = {}
    for kind, pk, since in entries:
        try:
            if datetime.fromisoformat(since) < now - FOLLOW_FOR:
                continue  # waited long enough: forget it
        except ValueError:
            continue
        keep.append([kind, pk, since])
        if kind in kinds:
            by_kind.setdefault(kind, []).append(pk)
    finished: set[tuple[str, int]] = set()
    for kind, ids in by_kind.items():
        for pk, toast in kinds[kind](ids).items():
            finished.add((kind, pk))
            if toast is not None:
                toasts.append(toast)
        pending = pending or any((kind, pk) not in finished for pk in ids)
    keep = [entry for entry in keep if (entry[0], entry[1]) not in finished]
    if keep != entries:
        request.session[SESSION_KEY] = keep
    return toasts, pending


def _entries(request) -> list[list]:
    session = getattr(request, "session", None)
    if session is None:
        return []
    entries = session.get(SESSION_KEY) or []
    # Only well-formed entries: [kind, id, ISO instant].
    return [list(entry) for entry in entries if isinstance(entry, list | tuple) and len(entry) == 3
            and isinstance(entry[0], str) and isinstance(entry[1], int) and isinstance(entry[2], str)]


def context(request, *, active: bool, toasts: Iterable[Toast] = ()) -> dict:
    """What a live region's template needs: `live` (render the watcher?), `poll_seconds`, and the
    finished runs' `toasts` (shown out of band by an htmx refresh; on a full page load, they become
    messages, which the page's toast region shows)."""
    toasts = list(toasts)
    if not request.htmx:
        for toast in toasts:
            message(request, toast)
        toasts = []
    return {"live": active, "poll_seconds": POLL_SECONDS, "toasts": toasts}
