"""Hostile input at the pages: every page's query string and every form POST.

Rows are (page, field, hostile value). A value that is not text at all (NUL, bytes that are not UTF-8) is
a 400 naming the field, before any view reads it (common.middleware.RefuseUnreadableInput). Any other
hostile value in a query string is ignored or refused, never a 500; in a form it is the form's error on
that field. The stored data is the same before and after every row.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.forms import BaseForm
from django.test import Client
from django.utils import timezone

from scheduling import services
from scheduling.models import ScheduledTask
from tests.factories import BackupFactory, JobFactory, NotificationChannelFactory
from tests.hostile.conftest import HUGE_ID, ONE_MB, stored_data

pytestmark = pytest.mark.django_db

INTERVAL = {"name": "Hourly backup", "task_type": "DATABASE_BACKUP", "schedule_kind": "interval",
            "interval_minutes": 60}

# Every page's query parameters, as its views and forms read them.
PAGE_PARAMETERS = {
    "/jobs": ["type", "status", "q", "before", "after"],
    "/schedules": ["type", "state", "page"],
    "/schedules/upcoming": ["tz"],
    "/schedules/new": ["task_type", "fixed", "next", "name", "schedule_kind", "interval_minutes", "anchor_at",
                       "timezone", "cron_expr", "schedule_days"],
    "POST /schedules/preview": ["schedule"],  # the editor's live preview: a POST of the form, as it is
    "/channels": ["group", "page"],
    "/backups": ["page", "skipped"],
    "/notifications": ["before"],
    "/account/tokens": ["page"],
    "/schedules/{schedule}": ["next"],
    "/schedules/{schedule}/pause": ["next"],
    "/jobs/{job}": ["next"],
    "/channels/{channel}": ["page", "before"],
}
# Raw, %-encoded: none of them is text; each is a 400 naming the parameter.
NOT_TEXT = ["%00", "a%00b", "%FF", "%C0%AF"]
# Text no parameter of a page takes; each is ignored or refused, never a 500.
ODD_TEXT = ["-1", str(HUGE_ID), "NaN", "1e999", "", "mnday", "Mars%2FBase", "utc+", "0001-01-01T00:00:00%2B14:00",
            "9999-12-31T23:59:59-14:00", "%5B%5D", "x" * 10_000, "0+4+*+*+*+*", "../../etc/passwd"]


@pytest.fixture
def ids(world):
    schedule = services.schedule_save(schedule=ScheduledTask(**INTERVAL), now=timezone.now())
    BackupFactory()
    NotificationChannelFactory()
    return {"schedule": schedule.pk, "job": JobFactory().pk, "channel": world["channel"].pk,
            "group": world["group"].pk}


@pytest.fixture
def browser(world):
    client = Client()
    client.force_login(world["admin"])
    return client


def url_of(page: str, ids: dict) -> str:
    for name, pk in ids.items():
        page = page.replace("{" + name + "}", str(pk))
    return page


def ask(browser, page: str, ids: dict, query: str):
    method, _, page = page.rpartition(" ")
    url = f"{url_of(page, ids)}?{query}"
    return browser.post(url, SCHEDULE_FORM) if method == "POST" else browser.get(url)


# The stored data is compared once per page (a few hundred rows each would take minutes): a row that
# changed anything leaves it changed, and the failure names the page.

def test_it_refuses_a_query_value_that_is_not_text_naming_it(browser, ids):
    failures = []
    for page, names in PAGE_PARAMETERS.items():
        before = stored_data()
        for name in names:
            for value in NOT_TEXT:
                response = ask(browser, page, ids, f"{name}={value}")
                try:
                    assert response.status_code == 400, response.status_code
                    assert f"{name}: " in response.content.decode(), response.content[:300]
                except AssertionError as exc:
                    failures.append(f"{page}?{name}={value}: {exc}")
        if stored_data() != before:
            failures.append(f"{page}: stored data changed")
    assert not failures, "\n".join(failures)


def test_it_ignores_or_refuses_odd_text_in_every_query_parameter(browser, ids):
    """Pages read filters leniently (a bad one is "no filter"); what matters is that no value is a 500."""
    failures = []
    for page, names in PAGE_PARAMETERS.items():
        before = stored_data()
        for name in names:
            for value in ODD_TEXT:
                try:
                    response = ask(browser, page, ids, f"{name}={value}")
                    assert response.status_code in (200, 302, 400, 404), response.status_code
                    assert b"Traceback" not in response.content
                except Exception as exc:  # noqa: BLE001 - a row's crash is its failure; the others still run
                    failures.append(f"{page}?{name}={value[:40]}: {exc!r}"[:300])
        if stored_data() != before:
            failures.append(f"{page}: stored data changed")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("page", ["/schedules/{id}", "/schedules/{id}/edit", "/schedules/runs/{id}", "/jobs/{id}",
                                  "/channels/{id}", "/backups/{id}/download"])
@pytest.mark.parametrize("pk", ["-1", "0", str(HUGE_ID), str(10**30)])
def test_it_answers_404_for_an_id_no_row_can_have(browser, ids, page, pk):
    response = browser.get(page.replace("{id}", pk))

    assert response.status_code == 404


# --- forms ----------------------------------------------------------------------------------------------

IN_A_MONTH = f"{timezone.now() + dt.timedelta(days=30):%Y-%m-%dT%H:%M}"
# (page, a valid form, field, hostile value): each is the form's error on that field, the page re-rendered.
SCHEDULE_FORM = {**INTERVAL, "timezone": "UTC", "grace_minutes": "60", "overlap_policy": "skip", "enabled": "on",
                 "database_backup-backup_type": "full", "database_backup-retention_days": "30"}
FORM_ROWS = [
    *[("/schedules/new", SCHEDULE_FORM, field, value) for field, value in [
        ("name", ONE_MB), ("name", "a\x00b"), ("name", ""),
        ("anchor_at", "0001-01-01T00:00:00+14:00"), ("anchor_at", "9999-12-31T23:59:59-14:00"),
        ("anchor_at", "0000-01-01T00:00"), ("anchor_at", "yesterday"),
        ("interval_minutes", "0"), ("interval_minutes", "-1"), ("interval_minutes", str(10**12)),
        ("interval_minutes", "1e999"), ("interval_minutes", "NaN"), ("interval_minutes", str(HUGE_ID)),
        ("timezone", "Mars/Base"), ("timezone", ""), ("timezone", "a\x00b"),
        ("grace_minutes", "-1"), ("grace_minutes", str(10**12)), ("grace_minutes", "NaN"),
        ("overlap_policy", "sometimes"), ("task_type", "DROP TABLE"), ("schedule_kind", "hourly"),
    ]],
    *[("/schedules/new", {**SCHEDULE_FORM, "schedule_kind": "weekly", "schedule_time": "04:00",
                        "schedule_days": "mon"}, "schedule_days",
       value) for value in ["mnday", "a\x00b", ONE_MB]],
    *[("/schedules/new", {**SCHEDULE_FORM, "schedule_kind": "cron", "cron_expr": "0 4 * * *"}, "cron_expr", value)
      for value in ["0 4 * * * *", "0 4 31 2 *", "@daily", "99 * * * *", ONE_MB, "a\x00b"]],
    *[("/schedules/new", {**SCHEDULE_FORM, "task_type": "DATABASE_BACKUP"}, "database_backup-retention_days", value)
      for value in ["-1", str(HUGE_ID), "1e999", "NaN", "a\x00b"]],
    *[("/schedules/new", {**SCHEDULE_FORM, "schedule_kind": "daily", "schedule_time": "04:00"}, "schedule_time", value)
      for value in ["25:00", "a\x00b", ONE_MB]],
    *[("/schedules/{schedule}/edit", SCHEDULE_FORM, field, value) for field, value in [
        ("anchor_at", "0001-01-01T00:00:00+14:00"), ("interval_minutes", "0"), ("timezone", "Mars/Base"),
        ("name", "a\x00b"), ("grace_minutes", str(10**12))]],
    *[("/schedules/{schedule}/pause", {"until": IN_A_MONTH, "reason": ""}, field, value)
      for field, value in [("until", "0001-01-01T00:00"), ("until", "99999-01-01T00:00"), ("until", "yesterday"),
                           ("until", "a\x00b"), ("reason", ONE_MB), ("reason", "a\x00b")]],
    *[("/channels/groups/new", {"name": "Lawyers", "description": ""}, field, value)
      for field, value in [("name", ONE_MB), ("name", "a\x00b"), ("name", ""), ("description", "a\x00b")]],
    *[("/channels/add", {"reference": "UCsXVk37bltHxD1rDPwtNM8Q", "title": ""}, field, value)
      for field, value in [("reference", ONE_MB), ("reference", "a\x00b"), ("reference", "-1"),
                           ("reference", "https://evil.example/channel/UCsXVk37bltHxD1rDPwtNM8Q"),
                           ("title", ONE_MB), ("groups", "-1"), ("groups", str(HUGE_ID)), ("groups", "abc")]],
    *[("/notifications/channels/new", {"name": "Phone", "target": "ntfy://ntfy.example.com/alerts",
                                       "enabled": "on"}, field, value)
      for field, value in [("name", ONE_MB), ("name", "a\x00b"), ("target", "a\x00b"), ("target", ONE_MB),
                           ("target", "not a url")]],
    *[("/account/tokens", {"name": "nas"}, "name", value) for value in [ONE_MB, "a\x00b", ""]],
    *[("/schedules/new", SCHEDULE_FORM, "notify_channels", value) for value in ["-1", str(HUGE_ID), "abc"]],
    *[("/channels/{channel}/groups", {}, "groups", value) for value in ["-1", str(HUGE_ID), "abc"]],
    *[("/channels/groups/{group}/edit", {"name": "News", "description": ""}, field, value)
      for field, value in [("name", ONE_MB), ("name", "a\x00b"), ("description", "a\x00b")]],
]

# The editor's live preview answers a fragment, not a form page: a timing field's message is in it (by the
# field's label), never a 500; a field the preview does not show (name, grace) is simply not a 500.
PREVIEW_ROWS = [
    ("anchor_at", "0001-01-01T00:00:00+14:00", "Starting at"), ("anchor_at", "9999-12-31T23:59:59-14:00", "Starting at"),
    ("interval_minutes", str(10**12), "Every (minutes)"), ("interval_minutes", "1e999", "Every (minutes)"),
    ("timezone", "Mars/Base", "Time zone"), ("timezone", "a\x00b", "Time zone"),
    ("grace_minutes", str(10**12), None), ("name", ONE_MB, None),
]


@pytest.mark.parametrize("field, value, label", PREVIEW_ROWS, ids=[f"{row[0]}-{row[1][:30]}" for row in PREVIEW_ROWS])
def test_the_live_preview_names_the_field_and_stores_nothing(browser, ids, field, value, label):
    before = stored_data()

    response = browser.post(f"/schedules/preview?schedule={ids['schedule']}", {**SCHEDULE_FORM, field: value})

    assert response.status_code == 200
    if label:
        errors = response.context["preview"].get("errors") or []
        assert any(name.startswith(label) for name, _ in errors), errors
    assert stored_data() == before


def shown_form(response):
    """The bound form a page shows again (`form`, or another `*_form` of its context), if any."""
    for context in response.context or []:
        for key, value in context.flatten().items() if hasattr(context, "flatten") else context.items():
            if (key == "form" or key.endswith("_form")) and isinstance(value, BaseForm) and value.is_bound:
                return value
    return None


@pytest.mark.parametrize("page, form, field, value", [
    pytest.param(*row, id=f"{row[0]}-{row[2]}-{str(row[3])[:30]!r}") for row in FORM_ROWS])
def test_it_shows_the_forms_error_on_the_field_and_stores_nothing(browser, ids, page, form, field, value):
    before = stored_data()

    response = browser.post(url_of(page, ids), {**form, field: value})

    assert response.status_code in (200, 400), (response.status_code, response.content[:300])
    form_shown = shown_form(response)
    assert form_shown is not None, response.content[:300]
    assert field in form_shown.errors or any(key.startswith(f"{field}") for key in form_shown.errors), (
        dict(form_shown.errors))
    assert stored_data() == before


# Raw form bodies no form can read: each is a 400 naming the field, before the view.
@pytest.mark.parametrize("page", ["/schedules/new", "/schedules/preview", "/channels/groups/new", "/channels/add",
                                  "/notifications/channels/new", "/account/tokens", "/schedules/{schedule}/pause"])
@pytest.mark.parametrize("body", ["name=%FF", "name=a%00b", "reason=%C0%AF"])
def test_it_refuses_a_form_body_that_is_not_text(browser, ids, page, body):
    before = stored_data()

    response = browser.post(url_of(page, ids), body, content_type="application/x-www-form-urlencoded")

    assert response.status_code == 400
    assert f"{body.split('=')[0]}: " in response.content.decode()
    assert stored_data() == before


@pytest.mark.parametrize("page, form", list({(row[0], repr(row[1])): (row[0], row[1]) for row in FORM_ROWS}.values()))
def test_it_takes_each_forms_valid_version(browser, ids, page, form):
    """Each row changes one field of a form the page takes: so its refusal is that field's doing."""
    response = browser.post(url_of(page, ids), form)

    errors = form.errors if (form := shown_form(response)) is not None else {}
    assert response.status_code in (200, 204, 302) and not errors, (response.status_code, dict(errors))
