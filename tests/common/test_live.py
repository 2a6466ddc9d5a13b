"""common.live: what a user started is followed in the session and toasted once when it ends."""

import datetime as dt

import pytest
from django.contrib.sessions.backends.signed_cookies import SessionStore
from django.test import RequestFactory

from common import live
from common.pages import Toast

NOW = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.timezone.utc)


@pytest.fixture
def request_():
    request = RequestFactory().get("/")
    request.session = SessionStore()
    request.htmx = True
    return request


def finished(*ids):
    """A resolver for which `ids` have ended, with a toast naming each."""
    return lambda asked: {pk: Toast(f"#{pk} done") for pk in asked if pk in ids}


def test_it_toasts_what_ended_once_and_keeps_waiting_for_the_rest(request_):
    live.follow(request_, "run", 1, now=NOW)
    live.follow(request_, "run", 2, now=NOW)

    toasts, pending = live.settle(request_, {"run": finished(1)}, now=NOW)
    assert [t.message for t in toasts] == ["#1 done"] and pending

    toasts, pending = live.settle(request_, {"run": finished(1, 2)}, now=NOW)
    assert [t.message for t in toasts] == ["#2 done"] and not pending
    assert live.settle(request_, {"run": finished(1, 2)}, now=NOW) == ([], False)


def test_it_leaves_other_kinds_to_their_pages(request_):
    live.follow(request_, "group_sync", 7, now=NOW)

    assert live.settle(request_, {"run": finished(7)}, now=NOW) == ([], False)
    assert live.followed(request_, "group_sync") == [7]


def test_it_forgets_what_waited_too_long_without_a_toast(request_):
    live.follow(request_, "run", 1, now=NOW - live.FOLLOW_FOR - dt.timedelta(seconds=1))

    assert live.settle(request_, {"run": finished()}, now=NOW) == ([], False)
    assert live.followed(request_, "run") == []


def test_it_drops_a_gone_item_silently(request_):
    live.follow(request_, "run", 1, now=NOW)

    assert live.settle(request_, {"run": lambda ids: {1: None}}, now=NOW) == ([], False)
    assert live.followed(request_, "run") == []


def test_it_keeps_at_most_a_few_and_never_twice(request_):
    for pk in range(live.MAX_FOLLOWED + 5):
        live.follow(request_, "job", pk, now=NOW)
    live.follow(request_, "job", live.MAX_FOLLOWED + 4, now=NOW)

    assert live.followed(request_, "job") == list(range(5, live.MAX_FOLLOWED + 5))


def test_it_ignores_a_tampered_session_entry(request_):
    request_.session[live.SESSION_KEY] = [["run", "1", "x"], "junk", ["run", 2, "not a time"], ["run", 3, NOW.isoformat()]]

    assert [t.message for t in live.settle(request_, {"run": finished(1, 2, 3)}, now=NOW)[0]] == ["#3 done"]


def test_a_full_page_gets_the_toasts_as_messages(rf):
    from django.contrib.messages.storage.fallback import FallbackStorage

    request = rf.get("/")
    request.session = SessionStore()
    request._messages = FallbackStorage(request)
    request.htmx = False

    context = live.context(request, active=True, toasts=[Toast("Backup #6 done: 1.2 MB, verified.")])

    assert context == {"live": True, "poll_seconds": live.POLL_SECONDS, "toasts": []}
    assert [str(m) for m in request._messages] == ["Backup #6 done: 1.2 MB, verified."]
