"""The headers every answer carries: Content-Security-Policy (and pages that keep to it), Permissions-Policy,
Cache-Control.

The policy is only worth something if the pages need nothing it forbids: so every main page, fragment and
admin page is rendered here as a superuser and its HTML read for what the policy would block (an inline
script without the answer's nonce, an `on*=` handler, an htmx attribute htmx evaluates with Function()).
The browser tests (tests/e2e/test_csp.py) prove the same in Chromium.
"""

import base64
import datetime as dt
import hashlib
import re
from html.parser import HTMLParser

import pytest
from django.contrib import admin
from django.urls import reverse

from common.actors import Actor, Via
from core.services import api_token_create
from jobs.models import JobStatus
from notifications.models import Delivery
from scheduling.services import schedule_run_now
from tests.api_clients import token_client
from tests.factories import (
    BackupFactory,
    ChannelFactory,
    ChannelGroupFactory,
    JobFactory,
    NotificationChannelFactory,
    ScheduledTaskFactory,
    StaffFactory,
    VideoFactory,
)

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 12, 4, 19, 37, 51, tzinfo=dt.UTC)


@pytest.fixture
def site(db, settings, tmp_path):
    """A superuser and one of everything a page can show."""
    settings.BACKUP_DIR = tmp_path / "backups"
    user = StaffFactory(is_superuser=True)
    schedule = ScheduledTaskFactory(name="Nightly backup")
    run = schedule_run_now(schedule=schedule, now=NOW, actor=Actor(Via.PAGE, user))
    backup = BackupFactory()
    group = ChannelGroupFactory(name="News")
    channel = ChannelFactory(title="Tagesschau", group=group)
    VideoFactory(channel=channel, thumbnail_url="https://i.ytimg.com/vi/x/hqdefault.jpg")
    alert_channel = NotificationChannelFactory(name="Phone")
    # Something in progress, so the pages render their polls (hx-trigger="every ...") too.
    JobFactory(status=JobStatus.RUNNING, started_at=NOW)
    delivery = Delivery.objects.create(channel=alert_channel, channel_name="Phone", event="test", title="Test",
                                       created_at=NOW, next_attempt_at=NOW, status="pending")
    api_token_create(user=user, name="laptop", now=NOW)
    return {"user": user, "schedule": schedule, "run": run, "job": run.jobs.get(), "backup": backup,
            "group": group, "channel": channel, "alert_channel": alert_channel, "delivery": delivery}


def main_pages(site) -> list[str]:
    """Every page a person opens (and the dialogs' full-page forms), with an object where one is needed."""
    schedule, group, channel = site["schedule"].pk, site["group"].pk, site["channel"].pk
    return [
        "/schedules", "/schedules/new", "/schedules/upcoming", f"/schedules/{schedule}",
        f"/schedules/{schedule}/edit", f"/schedules/{schedule}/delete", f"/schedules/{schedule}/pause",
        f"/schedules/runs/{site['run'].pk}",
        "/backups", "/backups/restore-guide", f"/backups/{site['backup'].pk}/delete",
        "/channels", "/channels/groups/new", f"/channels/groups/{group}/edit", f"/channels/groups/{group}/delete",
        f"/channels/{channel}",
        "/jobs", f"/jobs/{site['job'].pk}",
        "/notifications", "/notifications/channels/new", f"/notifications/channels/{site['alert_channel'].pk}/edit",
        f"/notifications/channels/{site['alert_channel'].pk}/delete", f"/notifications/deliveries/{site['delivery'].pk}",
        "/account/tokens", "/api/docs",
    ]


def admin_pages(site) -> list[str]:
    """The admin's index and, for every registered model, its list and (if there is one) its first object."""
    pages = [reverse("admin:index")]
    for model in admin.site._registry:
        info = (model._meta.app_label, model._meta.model_name)
        pages.append(reverse("admin:{}_{}_changelist".format(*info)))
        if first := model._default_manager.order_by("pk").first():
            pages.append(reverse("admin:{}_{}_change".format(*info), args=[first.pk]))
    return pages


def directives(response) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    return {name: sources for name, *sources in (part.split() for part in policy.split(";") if part.strip())}


class _Inline(HTMLParser):
    """What in a page a Content-Security-Policy without 'unsafe-inline' and 'unsafe-eval' would block."""

    # Script types a browser does not run (data blocks: Swagger's settings, Django's json_script).
    DATA_TYPES = {"application/json", "application/ld+json"}

    def __init__(self, nonce: str | None):
        super().__init__()
        self.nonce, self.problems, self.style_blocks = nonce, [], []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=...>: an inline event handler")
            if name.startswith(("hx-on", "data-hx-on")):
                self.problems.append(f"<{tag} {name}=...>: htmx runs it with Function() (eval)")
            if name in ("hx-vals", "hx-vars", "hx-headers") and value and value.lstrip().startswith("js:"):
                self.problems.append(f"<{tag} {name}='js:...'>: htmx evaluates it (eval)")
            if name == "hx-trigger" and value and "[" in value:
                self.problems.append(f"<{tag} hx-trigger={value!r}>: htmx evaluates the filter with Function()")
            if name == "style":
                self.problems.append(f"<{tag} style=...>: an inline style attribute")
            if name in ("href", "src", "action", "formaction") and value and value.strip().lower().startswith(
                    "javascript:"):
                self.problems.append(f"<{tag} {name}='javascript:...'>: an inline script URL")
        if tag == "script" and "src" not in values and values.get("type") not in self.DATA_TYPES:
            if not self.nonce or values.get("nonce") != self.nonce:
                self.problems.append("<script> with neither src nor this answer's nonce")
        if tag == "style":
            self._in_style = True
            self.style_blocks.append("")

    def handle_endtag(self, tag):
        if tag == "style":
            self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.style_blocks[-1] += data


def nonce_of(policy: dict[str, list[str]]) -> str | None:
    return next((source[len("'nonce-"):-1] for source in policy.get("script-src", [])
                 if source.startswith("'nonce-")), None)


def sha256_source(text: str) -> str:
    return f"'sha256-{base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()}'"


def assert_keeps_to_its_policy(path: str, response) -> None:
    policy = directives(response)
    scripts = policy.get("script-src", policy.get("default-src"))
    assert "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts, (path, scripts)
    assert "'unsafe-inline'" not in policy["style-src"], (path, policy["style-src"])
    page = _Inline(nonce_of(policy))
    page.feed(response.content.decode())
    assert page.problems == [], path
    for block in page.style_blocks:  # the error pages' inline styles, allowed by their hash
        assert sha256_source(block) in policy["style-src"], (path, "an inline <style> the policy does not allow")


# --- Content-Security-Policy ---------------------------------------------------------------------------------

def test_the_policy_allows_only_our_own_scripts_and_youtubes_thumbnails(client, site):
    client.force_login(site["user"])

    policy = directives(client.get("/schedules"))

    assert policy["default-src"] == ["'self'"]
    assert [source for source in policy["script-src"] if not source.startswith("'nonce-")] == ["'self'"]
    assert policy["img-src"] == ["'self'", "data:", "https://i.ytimg.com", "https://*.ytimg.com",
                                 "https://yt3.ggpht.com"]
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"]
    assert policy["form-action"] == ["'self'"]


def test_every_main_page_keeps_to_the_policy(client, site):
    client.force_login(site["user"])

    polling = []
    for path in main_pages(site):
        response = client.get(path)
        assert response.status_code == 200, path
        assert_keeps_to_its_policy(path, response)
        if 'hx-trigger="every' in response.content.decode() or ', every ' in response.content.decode():
            polling.append(path)

    assert {"/jobs", "/notifications", f"/notifications/deliveries/{site['delivery'].pk}"} <= set(polling)


def test_every_fragment_htmx_asks_for_keeps_to_the_policy(client, site):
    """The answers htmx swaps in (dialogs, refreshed regions) run in the page's policy: they bring no inline
    script or handler either."""
    client.force_login(site["user"])

    for path in main_pages(site):
        response = client.get(path, HTTP_HX_REQUEST="true")
        assert response.status_code == 200, path
        assert_keeps_to_its_policy(path, response)


def test_every_admin_page_keeps_to_the_policy(client, site):
    client.force_login(site["user"])

    pages = admin_pages(site)
    assert len(pages) > 20  # the walk found the models
    for path in pages:
        response = client.get(path)
        assert response.status_code == 200, path
        assert_keeps_to_its_policy(path, response)


def test_the_login_page_and_the_error_pages_keep_to_the_policy(client, site, settings):
    """The error pages' frame carries its styles inline (it must not need static files); the policy allows
    exactly those blocks by their hash."""
    response = client.get("/login/")
    assert_keeps_to_its_policy("/login/", response)

    client.force_login(site["user"])
    missing = client.get("/schedules/999999")
    assert missing.status_code == 404
    assert "<style>" in missing.content.decode()
    assert_keeps_to_its_policy("/schedules/999999", missing)


def test_a_script_given_the_nonce_is_allowed_and_no_other(rf):
    """The way to an inline script if one is ever truly needed: `nonce="{{ request.csp_nonce }}"`; the header
    then names that nonce, fresh for every answer."""
    from csp.middleware import CSPMiddleware
    from django.http import HttpResponse
    from django.template import engines

    template = engines["django"].from_string(
        '<script nonce="{{ request.csp_nonce }}">go()</script><script>injected()</script>')

    def view(request):
        return HttpResponse(template.render({}, request))

    answers = [CSPMiddleware(view)(request) for request in (rf.get("/"), rf.get("/"))]

    nonces = [nonce_of(directives(answer)) for answer in answers]
    assert nonces[0] and nonces[1] and nonces[0] != nonces[1]
    page = _Inline(nonces[0])
    page.feed(answers[0].content.decode())
    assert page.problems == ["<script> with neither src nor this answer's nonce"]


def test_the_checks_of_a_page_catch_what_the_policy_would_block():
    """The page reader itself: each thing the policy forbids is reported, so a clean walk means something."""
    page = _Inline("abc")
    page.feed('<button onclick="x()">a</button><div hx-on:click="y()"></div><span hx-trigger="every 2s [ok()]">'
              '</span><div hx-vals=\'js:{a: b()}\'></div><p style="color: red">p</p><a href="javascript:z()">z</a>'
              '<script>inline()</script><script nonce="other">inline()</script>'
              '<script nonce="abc">fine()</script><script src="/static/x.js"></script>'
              '<script type="application/json">{"data": 1}</script>')

    assert len(page.problems) == 8, page.problems


# --- Permissions-Policy ----------------------------------------------------------------------------------------

def test_features_the_app_never_uses_are_switched_off(client, site):
    client.force_login(site["user"])

    header = client.get("/schedules")["Permissions-Policy"]

    features = dict(part.strip().split("=") for part in header.split(","))
    for feature in ("camera", "microphone", "geolocation", "payment", "usb", "serial", "bluetooth", "midi",
                    "display-capture", "xr-spatial-tracking"):
        assert features[feature] == "()", feature


# --- Cache-Control ---------------------------------------------------------------------------------------------

def private_no_store(response) -> bool:
    parts = {part.strip() for part in response.get("Cache-Control", "").split(",")}
    return {"private", "no-store"} <= parts and "public" not in parts


def test_pages_fragments_and_api_answers_are_kept_by_no_cache(client, site):
    """Pages hold one user's view of the archive: after logging out, Back must not show them from the disk."""
    client.force_login(site["user"])

    answers = {
        "page": client.get("/schedules"),
        "fragment": client.get(f"/schedules/{site['schedule'].pk}/edit", HTTP_HX_REQUEST="true"),
        "API answer, session": client.get("/api/schedules"),
        "API answer, token": token_client(site["user"]).get("/api/schedules"),
        "the admin": client.get("/admin/"),
        "a redirect": client.get("/"),
        "a refusal": client.get("/schedules/999999"),
    }

    for what, response in answers.items():
        assert response.status_code in (200, 302, 404), what
        assert private_no_store(response), (what, response.get("Cache-Control"))


def test_a_backup_download_and_the_metrics_are_kept_by_no_cache(client, site, settings):
    from tests.backups.conftest import with_file

    backup = with_file(site["backup"], settings.BACKUP_DIR)
    client.force_login(site["user"])

    download = client.get(f"/backups/{backup.pk}/download")
    metrics = client.get("/metrics")

    assert download.status_code == 200 and b"".join(download.streaming_content) == b"backup bytes"
    assert metrics.status_code == 200
    assert private_no_store(download) and private_no_store(metrics)


def test_anonymous_answers_are_not_kept_either(client):
    """The redirect to the login page, the API's 401: nothing outside a login is worth a shared cache's copy."""
    assert private_no_store(client.get("/schedules"))
    assert private_no_store(client.get("/api/schedules"))


def test_static_files_keep_their_long_public_cache(client, settings):
    """Static files are the same for everyone: whitenoise answers them before our middleware, with its cache."""
    settings.WHITENOISE_USE_FINDERS = True  # serve from the source folders (no collectstatic in tests)
    settings.WHITENOISE_MAX_AGE = 3600

    from django.test import Client

    response = Client().get("/static/css/app.css")  # a new client: whitenoise reads its settings at start

    assert response.status_code == 200
    assert not private_no_store(response)
    assert re.search(r"\bmax-age=3600\b", response["Cache-Control"]) and "public" in response["Cache-Control"]
