"""Login lockout (django-axes, with the real middleware and backend): /login/ and /admin/login/ refuse a
username from an address after repeated failures, the right password too, until the lockout passes or an
administrator unlocks it with the command the page names."""

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from axes.models import AccessAttempt, AccessLog
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from common.formatting import format_instant
from tests.factories import StaffFactory, UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"
ATTACKER = "203.0.113.7"
ELSEWHERE = "198.51.100.20"
LOCKED = "Too many failed logins"
MANY = 20  # well past the limit; the headline tests send 100


@pytest.fixture
def alice(db):
    return UserFactory(username="alice", password=PASSWORD)


@pytest.fixture
def frozen():
    with time_machine.travel(timezone.now().replace(microsecond=0), tick=False) as traveller:
        yield traveller


def log_in(client, username, password, *, path="/login/", address=ATTACKER, **headers):
    return client.post(path, {"username": username, "password": password}, REMOTE_ADDR=address, **headers)


def fail(client, username, times, **kwargs):
    return [log_in(client, username, "wrong", **kwargs).status_code for _ in range(times)]


def text(response) -> str:
    """The page with its whitespace folded, as a reader sees it."""
    return " ".join(response.content.decode().split())


def logged_in(client) -> bool:
    return client.get("/account/tokens").status_code == 200


def test_a_hundred_wrong_passwords_lock_the_user_out_and_the_right_one_is_refused(client, alice, frozen):
    limit = settings.LOGIN_FAILURE_LIMIT
    statuses = fail(client, "alice", 100)
    # The form answers until the limit; the failure that reaches it, and every one after, gets the lockout page.
    assert statuses == [200] * (limit - 1) + [429] * (100 - limit + 1)

    response = log_in(client, "alice", PASSWORD)

    assert response.status_code == 429
    page = text(response)
    assert LOCKED in page and "Logging in as <strong>alice</strong> from your address failed 5 times" in page
    unlocked_at = timezone.now() + timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES)
    assert f"You can try again at <time datetime=\"{unlocked_at.isoformat()}\">{format_instant(unlocked_at)}</time>" \
        in page and "(in 15 min)" in page
    assert "<code id=\"unlock-command\">python manage.py axes_reset_username alice</code>" in page
    assert response["Retry-After"] == str(settings.LOGIN_LOCKOUT_MINUTES * 60)
    assert not logged_in(client)


def test_trying_during_the_lockout_does_not_push_its_end(client, alice, frozen):
    fail(client, "alice", settings.LOGIN_FAILURE_LIMIT)
    frozen.shift(timedelta(minutes=10))
    fail(client, "alice", 3)
    assert "(in 5 min)" in text(log_in(client, "alice", PASSWORD))
    frozen.shift(timedelta(minutes=5, seconds=1))
    assert log_in(client, "alice", PASSWORD).status_code == 302


def test_the_right_password_works_again_after_the_lockout(client, alice, frozen):
    fail(client, "alice", MANY)
    frozen.shift(timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES) - timedelta(seconds=1))
    assert log_in(client, "alice", PASSWORD).status_code == 429
    frozen.shift(timedelta(seconds=2))

    assert log_in(client, "alice", PASSWORD).status_code == 302
    assert logged_in(client)


def test_the_command_the_page_names_unlocks_at_once(client, alice):
    fail(client, "alice", MANY)
    assert log_in(client, "alice", PASSWORD).status_code == 429

    call_command("axes_reset_username", "alice", stdout=open(os.devnull, "w"))

    assert log_in(client, "alice", PASSWORD).status_code == 302
    assert logged_in(client)


def test_the_same_user_from_another_address_is_not_locked_out(client, alice):
    fail(client, "alice", MANY)
    assert log_in(client, "alice", PASSWORD, address=ELSEWHERE).status_code == 302
    assert logged_in(client)


def test_another_user_from_the_same_address_is_not_locked_out(client, alice):
    UserFactory(username="bob", password=PASSWORD)
    fail(client, "alice", MANY)
    assert log_in(client, "bob", PASSWORD).status_code == 302


def test_a_success_before_the_limit_starts_the_count_again(client, alice):
    limit = settings.LOGIN_FAILURE_LIMIT
    fail(client, "alice", limit - 1)
    assert log_in(client, "alice", PASSWORD).status_code == 302
    client.post("/logout/")
    assert fail(client, "alice", limit - 1) == [200] * (limit - 1)


def test_the_admin_login_locks_out_the_same_way(client, frozen):
    StaffFactory(username="root", password=PASSWORD)
    statuses = fail(client, "root", 100, path="/admin/login/")
    assert statuses[-1] == 429 and statuses.count(200) == settings.LOGIN_FAILURE_LIMIT - 1

    response = log_in(client, "root", PASSWORD, path="/admin/login/")

    assert response.status_code == 429
    page = text(response)
    assert LOCKED in page and "python manage.py axes_reset_username root" in page
    assert client.get("/admin/").status_code == 302  # still not logged in
    # One count for both forms: the lock holds on /login/ too, and not from elsewhere.
    assert log_in(client, "root", PASSWORD).status_code == 429
    assert log_in(client, "root", PASSWORD, path="/admin/login/", address=ELSEWHERE).status_code == 302


def test_a_spoofed_forwarded_for_header_does_not_bypass_the_lock(client, alice):
    for number in range(20):
        log_in(client, "alice", "wrong", HTTP_X_FORWARDED_FOR=f"10.0.0.{number}")
    assert log_in(client, "alice", PASSWORD, HTTP_X_FORWARDED_FOR="10.9.9.9").status_code == 429


def test_behind_a_trusted_proxy_the_forwarded_address_counts(client, alice, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = "192.0.2.1"
    # What the client wrote into the header itself stands left of what the proxy appended; it does not count.
    fail(client, "alice", MANY, address=proxy, HTTP_X_FORWARDED_FOR=f"10.0.0.1, {ATTACKER}")
    assert log_in(client, "alice", PASSWORD, address=proxy, HTTP_X_FORWARDED_FOR=ATTACKER).status_code == 429
    assert log_in(client, "alice", PASSWORD, address=proxy, HTTP_X_FORWARDED_FOR=ELSEWHERE).status_code == 302


def test_the_command_on_the_page_is_quoted_for_the_shell(client):
    odd = "eve; rm -rf ~"
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        response = log_in(client, odd, "wrong")
    assert response.status_code == 429
    assert "python manage.py axes_reset_username &#x27;eve; rm -rf ~&#x27;" in text(response)


def test_nothing_grows_with_every_login(client, alice, frozen):
    for _ in range(3):
        assert log_in(client, "alice", PASSWORD).status_code == 302
        client.post("/logout/")
    fail(client, "alice", MANY)
    assert AccessLog.objects.count() == 0
    assert AccessAttempt.objects.count() == 1  # one row per username and address, however many failures
    frozen.shift(timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES, seconds=1))
    fail(client, "mallory", 1, address=ELSEWHERE)  # any failure clears the attempts whose lockout has passed
    assert list(AccessAttempt.objects.values_list("username", flat=True)) == ["mallory"]


ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name, value, message", [
    ("LOGIN_FAILURE_LIMIT", "five", "LOGIN_FAILURE_LIMIT='five' is not a whole number."),
    ("LOGIN_FAILURE_LIMIT", "0", "LOGIN_FAILURE_LIMIT=0 is too small; use 1 or more."),
    ("LOGIN_LOCKOUT_MINUTES", "99999999999999", "LOGIN_LOCKOUT_MINUTES=99999999999999 is too large; use 10080 or less."),
    ("TRUSTED_PROXY_COUNT", "-1", "TRUSTED_PROXY_COUNT=-1 is too small; use 0 or more."),
    ("API_TOKEN_FAILURE_LIMIT", "1e3", "API_TOKEN_FAILURE_LIMIT='1e3' is not a whole number."),
    ("API_TOKEN_FAILURE_WINDOW_SECONDS", "0", "API_TOKEN_FAILURE_WINDOW_SECONDS=0 is too small; use 1 or more."),
])
def test_the_limits_from_the_environment_are_read_strictly(tmp_path, name, value, message):
    done = subprocess.run([sys.executable, "-c", "import config.settings"], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "VAR_DIR": str(tmp_path), name: value})
    assert done.returncode != 0
    assert message in done.stderr


def test_an_ipv6_client_is_counted_by_its_slash_64(client, alice):
    fail(client, "alice", MANY, address="2001:db8:1:2::1")
    # Any other address of the same /64 is the same subscriber: still locked.
    assert log_in(client, "alice", PASSWORD, address="2001:db8:1:2:ffff::9").status_code == 429
    assert log_in(client, "alice", PASSWORD, address="2001:db8:1:3::1").status_code == 302


def test_the_admin_lists_the_lockouts_and_only_them(client, alice):
    fail(client, "alice", MANY)
    client.force_login(StaffFactory())
    listing = client.get("/admin/axes/accessattempt/")
    assert listing.status_code == 200 and "alice" in text(listing)
    # axes' access and failure logs are switched off: no page that would always be empty.
    assert client.get("/admin/axes/accesslog/").status_code == 404
    assert client.get("/admin/axes/accessfailurelog/").status_code == 404
