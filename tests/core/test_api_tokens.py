"""Personal API tokens and how the API authenticates: the services, the Bearer header, the session with
CSRF, `manage.py create_api_token`, the /account/tokens page and the admin."""

import datetime as dt
import hashlib
import io

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from core.models import ApiToken
from core.services import ApiTokenRefused, api_token_create, api_token_revoke, api_token_use
from scheduling.models import ScheduledTask
from tests.api_clients import ALL_ACTIONS, ApiClient, token_for, user_with
from tests.factories import StaffFactory, UserFactory

pytestmark = pytest.mark.django_db

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
# Clean-up off: deleting old backups needs backups.delete_backup, which these users do not have.
BACKUP = {"name": "Nightly backup", "task_type": "DATABASE_BACKUP", "schedule_time": "02:00",
          "params": {"cleanup_old": False}}


# --- services -------------------------------------------------------------------------------------

def test_it_stores_only_the_hash_and_a_short_prefix():
    user = UserFactory()

    token, raw = api_token_create(user=user, name="nas backup script", now=NOW)

    assert raw.startswith("arc_") and len(raw) > 40
    assert token.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert token.prefix == raw[:12] and raw not in {token.prefix, token.token_hash, token.name}
    assert (token.name, token.created_at, token.last_used_at, token.revoked_at) == ("nas backup script", NOW, None,
                                                                                   None)


def test_it_finds_the_user_of_a_token_and_notes_the_use_at_most_once_a_minute():
    user = UserFactory()
    token, raw = api_token_create(user=user, name="x", now=NOW)

    assert api_token_use(raw_token=raw, now=NOW) == user
    assert ApiToken.objects.get().last_used_at == NOW
    api_token_use(raw_token=raw, now=NOW + dt.timedelta(seconds=59))
    assert ApiToken.objects.get().last_used_at == NOW
    api_token_use(raw_token=raw, now=NOW + dt.timedelta(seconds=60))
    assert ApiToken.objects.get().last_used_at == NOW + dt.timedelta(seconds=60)


def refusal(raw_token: str) -> str:
    with pytest.raises(ApiTokenRefused) as refused:
        api_token_use(raw_token=raw_token, now=NOW)
    return refused.value.reason


def test_it_refuses_malformed_unknown_revoked_and_inactive_users_tokens():
    user = UserFactory()
    token, raw = api_token_create(user=user, name="x", now=NOW)
    assert refusal(raw + "x") == "malformed"
    assert refusal(raw[:-1] + ("A" if raw[-1] != "A" else "B")) == "unknown"

    assert api_token_revoke(token=token, now=NOW) is True
    assert api_token_revoke(token=token, now=NOW) is False
    assert refusal(raw) == "revoked"

    _, other = api_token_create(user=user, name="y", now=NOW)
    user.is_active = False
    user.save()
    assert refusal(other) == "inactive"
    assert ApiToken.objects.filter(last_used_at__isnull=False).count() == 0


# --- the API's authentication ---------------------------------------------------------------------

def test_it_accepts_a_token_and_acts_as_its_user():
    user = user_with(*ALL_ACTIONS)
    api = ApiClient(token_for(user))

    response = api.post("/api/schedules", BACKUP)

    assert response.status_code == 201
    assert ScheduledTask.objects.get().audit_entries.get().actor == user
    assert ApiToken.objects.get().last_used_at is not None


@pytest.mark.parametrize("header", ["Bearer nope", "Bearer ", "Basic dXNlcjpwYXNz", "arc_token-without-scheme"])
def test_it_answers_401_for_a_bad_token(header):
    """What each says: tests/core/test_api_manners.py."""
    response = Client(HTTP_AUTHORIZATION=header).get("/api/schedules")

    assert response.status_code == 401
    assert response.json()["errors"]["__all__"][0].startswith("Malformed")


def test_it_answers_401_once_a_token_is_revoked():
    user = user_with("view")
    token, raw = api_token_create(user=user, name="x", now=timezone.now())
    api = ApiClient(raw)
    assert api.get("/api/schedules").status_code == 200

    api_token_revoke(token=token, now=timezone.now())

    assert api.get("/api/schedules").status_code == 401


def test_it_answers_403_json_without_the_permission():
    response = ApiClient(token_for(UserFactory())).get("/api/schedules")

    assert response.status_code == 403
    assert response.json() == {"errors": {"__all__": [
        "You do not have the permission “scheduling.view_scheduledtask” this needs; ask an administrator to grant it."]}}


def test_it_lets_a_superuser_do_everything():
    api = ApiClient(token_for(StaffFactory()))

    assert api.post("/api/schedules", BACKUP).status_code == 201


def test_it_accepts_the_browser_session_with_its_csrf_token():
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user_with(*ALL_ACTIONS))
    browser.get("/account/tokens")  # sets the CSRF cookie, as any page with a form does
    csrf = browser.cookies["csrftoken"].value

    assert browser.get("/api/schedules").status_code == 200
    response = browser.post("/api/schedules", BACKUP, content_type="application/json", HTTP_X_CSRFTOKEN=csrf)
    assert response.status_code == 201


def test_it_refuses_a_session_write_without_csrf():
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user_with(*ALL_ACTIONS))

    response = browser.post("/api/schedules", BACKUP, content_type="application/json")

    assert response.status_code == 403
    assert response.json() == {"errors": {"__all__": [
        "CSRF check failed: a browser session must send its CSRF token as the X-CSRFToken header. "
        "Scripts should use an API token instead."]}}
    assert not ScheduledTask.objects.exists()


def test_it_needs_no_csrf_token_with_an_api_token():
    api = ApiClient(token_for(user_with(*ALL_ACTIONS)), enforce_csrf_checks=True)

    assert api.post("/api/schedules", BACKUP).status_code == 201


def test_it_answers_401_not_a_csrf_403_to_an_anonymous_write():
    response = Client(enforce_csrf_checks=True).post("/api/schedules", BACKUP, content_type="application/json")

    assert response.status_code == 401


def test_it_answers_401_before_looking_at_the_body():
    response = Client().post("/api/schedules", "name=x", content_type="application/x-www-form-urlencoded")

    assert response.status_code == 401


def test_it_answers_a_broken_multipart_body_with_a_session_without_500():
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user_with(*ALL_ACTIONS))
    browser.get("/account/tokens")

    response = browser.post("/api/schedules", b"--x\r\ngarbage", content_type="multipart/form-data; boundary=x",
                            HTTP_X_CSRFTOKEN=browser.cookies["csrftoken"].value)

    assert response.status_code == 415


# --- manage.py create_api_token --------------------------------------------------------------------

def test_it_creates_a_token_from_the_command_line_and_prints_it_once():
    user = UserFactory(username="alice")
    out, err = io.StringIO(), io.StringIO()

    call_command("create_api_token", "alice", "--name", "cron on nas", stdout=out, stderr=err)

    raw = out.getvalue().strip()
    token = ApiToken.objects.get()
    assert (token.user, token.name) == (user, "cron on nas")
    assert api_token_use(raw_token=raw, now=NOW) == user
    assert raw not in err.getvalue() and "not shown again" in err.getvalue()


def test_it_names_a_command_line_token_by_default():
    UserFactory(username="alice")

    call_command("create_api_token", "alice", stdout=io.StringIO(), stderr=io.StringIO())

    assert ApiToken.objects.get().name == "API token"


@pytest.mark.parametrize("username, message", [("nobody", "username: no user named 'nobody'."), ("inactive", "inactive")])
def test_it_refuses_an_unknown_or_inactive_user(username, message):
    UserFactory(username="inactive", is_active=False)

    with pytest.raises(CommandError, match=message):
        call_command("create_api_token", username, stdout=io.StringIO(), stderr=io.StringIO())
    assert not ApiToken.objects.exists()


# --- the /account/tokens page ----------------------------------------------------------------------

def test_it_shows_a_new_token_once_on_the_page(user_client, user):
    response = user_client.post("/account/tokens", {"name": "laptop"})

    assert response.status_code == 200
    token = ApiToken.objects.get()
    page = response.content.decode()
    raw = page.split('<code id="new-token">')[1].split("</code>")[0]
    assert raw.startswith(token.prefix) and api_token_use(raw_token=raw, now=NOW) == user
    assert "no-store" in response["Cache-Control"]
    assert raw not in user_client.get("/account/tokens").content.decode()


def test_it_lists_the_users_own_tokens_with_last_use(user_client, user):
    token, _ = api_token_create(user=user, name="laptop", now=NOW)
    token.last_used_at = NOW + dt.timedelta(hours=1)
    token.save()
    api_token_create(user=UserFactory(), name="someone else's", now=NOW)

    page = user_client.get("/account/tokens").content.decode()

    assert "laptop" in page and "Fri 1 May 2026, 13:00 UTC" in page and f"{token.prefix}…" in page
    assert "someone else" not in page
    assert f'data-opens-dialog="revoke-dialog-{token.pk}"' in page


def test_it_needs_a_name_for_a_new_token(user_client):
    response = user_client.post("/account/tokens", {"name": ""})

    assert 'aria-invalid="true"' in response.content.decode()
    assert not ApiToken.objects.exists()


def test_it_revokes_a_token_from_the_page(user_client, user):
    token, raw = api_token_create(user=user, name="laptop", now=NOW)

    response = user_client.post(f"/account/tokens/{token.pk}/revoke", follow=True)

    assert "Token “laptop” revoked" in response.content.decode()
    assert ApiToken.objects.get().revoked_at is not None
    assert ApiClient(raw).get("/api/schedules").status_code == 401


def test_it_cannot_revoke_someone_elses_token(user_client):
    token, _ = api_token_create(user=UserFactory(), name="theirs", now=NOW)

    assert user_client.post(f"/account/tokens/{token.pk}/revoke").status_code == 404
    assert ApiToken.objects.get().revoked_at is None


def test_it_sends_anonymous_visitors_of_the_page_to_login(client):
    assert client.get("/account/tokens").url.startswith("/login/")


# --- the admin --------------------------------------------------------------------------------------

def test_it_lists_and_revokes_tokens_in_the_admin_without_showing_them(staff_client):
    token, raw = api_token_create(user=UserFactory(username="bob"), name="script of bob", now=NOW)

    listing = staff_client.get("/admin/core/apitoken/").content.decode()
    assert "script of bob" in listing and token.prefix in listing
    assert raw not in listing and token.token_hash not in listing
    detail = staff_client.get(f"/admin/core/apitoken/{token.pk}/change/").content.decode()
    assert token.token_hash not in detail
    assert staff_client.get("/admin/core/apitoken/add/").status_code == 403

    response = staff_client.post("/admin/core/apitoken/", {"action": "revoke", "_selected_action": [token.pk]},
                                 follow=True)

    assert "1 token revoked." in response.content.decode()
    assert ApiToken.objects.get().revoked_at is not None


def test_it_lets_only_who_may_change_tokens_revoke_them_in_the_admin(client):
    """The admin's token list is read-only; revoking still needs core.change_apitoken (a view-only
    staff user sees no action, and a forged POST of it changes nothing)."""
    token, _ = api_token_create(user=UserFactory(username="bob"), name="script of bob", now=NOW)
    viewer = UserFactory(is_staff=True, permissions=["core.view_apitoken"])
    client.force_login(viewer)

    listing = client.get("/admin/core/apitoken/").content.decode()
    client.post("/admin/core/apitoken/", {"action": "revoke", "_selected_action": [token.pk]})

    assert "script of bob" in listing and "Revoke selected tokens" not in listing
    assert ApiToken.objects.get().revoked_at is None
