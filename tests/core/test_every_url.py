"""One permission rule for every URL, proven by walking them all.

Every pattern of the URLconf (the pages, their POST actions, the API's own pages, the admin by its
prefix) and every operation of the JSON API (method and path, from its OpenAPI document) is requested
as five users: anonymous, a user with no permission, a user with only the view permission of the
row's model, one with only its change permission, and a superuser. What each gets (the login
redirect, 401, 403, 200, 302, 404...) must be what the tables below say. A URL or operation with no
row fails the walk with a message naming it: a new page is not reachable by accident.

Objects are made fresh for every request (a delete or a toggle never changes what a later row sees).
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from common.actors import Actor, Via
from core.api import api
from core.services import api_token_create
from notifications import services as notification_services
from scheduling import services as scheduling_services
from tests.api_clients import ApiClient, token_for
from tests.backups.conftest import with_file
from tests.factories import (
    BackupFactory,
    ChannelFactory,
    ChannelGroupFactory,
    JobFactory,
    NotificationChannelFactory,
    ScheduledTaskFactory,
    StaffFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "no permission", "view only", "change only", "superuser")
LOGIN = "login form"  # 302 to /login/?next=<the path>
ADMIN_LOGIN = "admin login form"  # 302 to /admin/login/?next=<the path>

# The usual answers, per role in the order of ROLES.
READ = (LOGIN, 403, 200, 403, 200)  # a page that needs the view permission
ANY_USER = (LOGIN, 200, 200, 200, 200)  # a page of the user's own (their API tokens)


def change(ok: int) -> tuple:
    """An action or form that needs the change permission; `ok` is what a permitted user gets."""
    return (LOGIN, 403, 403, ok, ok)


def superuser_only(ok: int) -> tuple:
    """Needs a permission neither the view-only nor the change-only user has (add, delete, download)."""
    return (LOGIN, 403, 403, 403, ok)


API_READ = (401, 403, 200, 403, 200)


def api_change(ok: int) -> tuple:
    return (401, 403, 403, ok, ok)


def api_superuser_only(ok: int) -> tuple:
    return (401, 403, 403, 403, ok)


# --- objects the URLs need, fresh for each request ----------------------------------------------------------

def schedule(user=None) -> dict:
    return {"pk": scheduling_services.schedule_save(schedule=ScheduledTaskFactory.build(), now=timezone.now()).pk}


def run(user=None) -> dict:
    task = scheduling_services.schedule_save(schedule=ScheduledTaskFactory.build(), now=timezone.now())
    return {"pk": scheduling_services.schedule_run_now(schedule=task, now=timezone.now(),
                                                       actor=Actor(Via.PAGE, None)).pk}


def queued_job(user=None) -> dict:
    return {"pk": JobFactory(status="queued").pk}


def failed_job(user=None) -> dict:
    return {"pk": JobFactory(status="failed", error="ValueError: boom").pk}


def backup(user=None) -> dict:
    from django.conf import settings

    return {"pk": with_file(BackupFactory(), settings.BACKUP_DIR).pk}


def group(user=None) -> dict:
    return {"pk": ChannelGroupFactory().pk}


def channel(user=None) -> dict:
    return {"pk": ChannelFactory().pk}


def notification_channel(user=None) -> dict:
    return {"pk": NotificationChannelFactory().pk}


def delivery(user=None) -> dict:
    return {"pk": notification_services.delivery_test(channel=NotificationChannelFactory(), now=timezone.now()).pk}


def own_token(user=None) -> dict:
    """The requesting user's own token (anonymous: someone else's)."""
    owner = user if user is not None else UserFactory()
    return {"pk": api_token_create(user=owner, name="walk", now=timezone.now())[0].pk}


def nothing(user=None) -> dict:
    return {}


@dataclass(frozen=True)
class Row:
    """What each role gets from one method of one URL.

    `model` ("app.model") gives the view-only and change-only users their one permission; `make`
    makes the objects the URL names (its kwargs); `data` is the form or JSON body sent.
    """

    model: str
    expect: tuple
    make: Callable[..., dict] = nothing
    data: dict | None = None
    path: str = ""  # for a pattern that takes no reverse() (the API's catch-all, the admin)


S, B, G, C, J, N = ("scheduling.scheduledtask", "backups.backup", "channels.channelgroup", "channels.channel",
                    "jobs.job", "notifications.notificationchannel")

# The pages and their actions: URL name (or route, where it has none) and method.
PAGES: dict[tuple[str, str], Row] = {
    ("home", "GET"): Row(S, (LOGIN, 302, 302, 302, 302)),  # to the first list the user may open
    ("login", "GET"): Row(S, (200, 302, 302, 302, 302)),  # a logged-in user is sent on
    ("login", "POST"): Row(S, (200, 302, 302, 302, 302), data={"username": "nobody", "password": "wrong"}),
    ("logout", "POST"): Row(S, (LOGIN, 302, 302, 302, 302)),
    ("api_tokens", "GET"): Row(S, ANY_USER),
    ("api_tokens", "POST"): Row(S, ANY_USER, data={"name": "a script"}),
    ("api_token_revoke", "POST"): Row(S, (LOGIN, 302, 302, 302, 302), own_token),
    ("healthz", "GET"): Row(S, (503, 503, 503, 503, 503)),  # no scheduler in a test: down, for everyone to see
    ("metrics", "GET"): Row(S, (401, 403, 403, 403, 200)),  # for Prometheus: a token or a staff session
    # The API's own pages; its operations are walked below.
    ("api:openapi-json", "GET"): Row(S, (401, 200, 200, 200, 200)),
    ("api:openapi-view", "GET"): Row(S, (LOGIN, 200, 200, 200, 200)),
    ("api:api-root", "GET"): Row(S, (404, 404, 404, 404, 404)),
    ("api:no-such-endpoint", "GET"): Row(S, (404, 404, 404, 404, 404), path="/api/no/such/thing"),
    ("no-such-endpoint", "GET"): Row(S, (404, 404, 404, 404, 404)),  # /api without its slash
    # Schedules.
    ("schedules", "GET"): Row(S, READ),
    ("schedule_upcoming", "GET"): Row(S, READ),
    ("schedule_detail", "GET"): Row(S, READ, schedule),
    ("schedule_run_detail", "GET"): Row(S, READ, run),
    ("schedule_new", "GET"): Row(S, superuser_only(200)),
    ("schedule_new", "POST"): Row(S, superuser_only(200), data={"name": ""}),  # refused: the form again
    ("schedule_preview", "POST"): Row(S, change(200), data={"schedule_kind": "daily", "schedule_time": "03:00"}),
    ("schedule_edit", "GET"): Row(S, change(200), schedule),
    ("schedule_edit", "POST"): Row(S, change(200), schedule, data={"name": ""}),
    ("schedule_toggle", "POST"): Row(S, change(302), schedule),
    ("schedule_run_now", "POST"): Row(S, change(302), schedule),
    ("schedule_pause", "GET"): Row(S, change(200), schedule),
    ("schedule_pause", "POST"): Row(S, change(200), schedule, data={"until": "not a time"}),
    ("schedule_resume", "POST"): Row(S, change(302), schedule),
    ("schedule_delete", "GET"): Row(S, superuser_only(200), schedule),
    ("schedule_delete", "POST"): Row(S, superuser_only(302), schedule),
    # Backups.
    ("backups", "GET"): Row(B, READ),
    ("backups_restore_guide", "GET"): Row(B, READ),
    ("backups_adopt", "POST"): Row(B, superuser_only(302)),
    ("backup_verify", "POST"): Row(B, change(302), backup),
    ("backup_download", "GET"): Row(B, superuser_only(200), backup),
    ("backup_delete", "GET"): Row(B, superuser_only(200), backup),
    ("backup_delete", "POST"): Row(B, superuser_only(302), backup),
    ("backup_schedule_toggle", "POST"): Row(S, change(302), schedule),
    ("backup_schedule_run_now", "POST"): Row(S, change(302), schedule),
    # Channels: the pages follow the groups' permissions; a channel's own settings its own.
    ("channels", "GET"): Row(G, READ),
    ("channel_detail", "GET"): Row(G, READ, channel),
    ("group_new", "GET"): Row(G, superuser_only(200)),
    ("group_new", "POST"): Row(G, superuser_only(200), data={"name": ""}),
    ("group_edit", "GET"): Row(G, change(200), group),
    ("group_edit", "POST"): Row(G, change(200), group, data={"name": ""}),
    ("group_delete", "GET"): Row(G, superuser_only(200), group),
    ("group_delete", "POST"): Row(G, superuser_only(302), group),
    ("group_sync", "POST"): Row(G, change(302), group),
    ("channel_sync", "POST"): Row(G, change(302), channel),
    ("channel_add", "GET"): Row(C, superuser_only(200)),
    ("channel_add", "POST"): Row(C, superuser_only(200), data={"reference": ""}),
    ("channel_toggle", "POST"): Row(C, change(302), channel),
    ("channel_groups", "POST"): Row(C, change(302), channel),
    # Jobs.
    ("jobs", "GET"): Row(J, READ),
    ("job_detail", "GET"): Row(J, READ, failed_job),
    ("job_cancel", "POST"): Row(J, change(302), queued_job),
    ("job_retry", "POST"): Row(J, change(302), failed_job),
    # Notifications.
    ("notifications", "GET"): Row(N, READ),
    ("notification_delivery", "GET"): Row(N, READ, delivery),
    ("notification_channel_new", "GET"): Row(N, superuser_only(200)),
    ("notification_channel_new", "POST"): Row(N, superuser_only(200), data={"name": ""}),
    ("notification_channel_edit", "GET"): Row(N, change(200), notification_channel),
    ("notification_channel_edit", "POST"): Row(N, change(200), notification_channel, data={"name": ""}),
    ("notification_channel_test", "POST"): Row(N, change(302), notification_channel),
    ("notification_channel_delete", "GET"): Row(N, superuser_only(200), notification_channel),
    ("notification_channel_delete", "POST"): Row(N, superuser_only(302), notification_channel),
}

# The admin, by its prefix: staff only (everyone else gets its own login form), then each model
# admin's own permissions (tests/core/test_auth_and_admin.py and each app's admin tests).
ADMIN = {
    ("admin/", "GET"): Row(J, (ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 200), path="/admin/"),
    ("admin/jobs/job/", "GET"): Row(J, (LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, 200),
                                    path="/admin/jobs/job/"),
}

# The JSON API's operations: "METHOD /path" as in its OpenAPI document. Scripts send a token.
SCHEDULE = {"name": "Walked", "task_type": "DATABASE_BACKUP", "schedule_kind": "daily", "schedule_time": "02:00",
            "params": {"cleanup_old": False}}


def api_schedule(user=None) -> dict:
    return {"schedule_id": schedule()["pk"]}


def api_backup(user=None) -> dict:
    return {"backup_id": backup()["pk"]}


def api_group(user=None) -> dict:
    return {"group_id": group()["pk"]}


def api_group_with_a_channel(user=None) -> dict:
    synced = ChannelGroupFactory()
    ChannelFactory(group=synced)
    return {"group_id": synced.pk}


def api_channel(user=None) -> dict:
    return {"channel_id": channel()["pk"]}


def api_queued_job(user=None) -> dict:
    return {"job_id": queued_job()["pk"]}


def api_failed_job(user=None) -> dict:
    return {"job_id": failed_job()["pk"]}


IN_A_MONTH = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=30)).isoformat()  # a pause's end: in the future

OPERATIONS: dict[str, Row] = {
    "GET /api/schedules": Row(S, API_READ),
    "POST /api/schedules": Row(S, api_superuser_only(201), data=SCHEDULE),
    "POST /api/schedules/preview": Row(S, API_READ, data={"schedule_time": "03:00"}),
    "GET /api/schedules/export": Row(S, API_READ),
    "POST /api/schedules/import": Row(S, api_superuser_only(200), data={"version": 1, "schedules": {}}),
    "GET /api/schedules/{schedule_id}": Row(S, API_READ, api_schedule),
    "PATCH /api/schedules/{schedule_id}": Row(S, api_change(200), api_schedule, data={"name": "Renamed"}),
    "DELETE /api/schedules/{schedule_id}": Row(S, api_superuser_only(204), api_schedule),
    "POST /api/schedules/{schedule_id}/toggle": Row(S, api_change(200), api_schedule),
    "POST /api/schedules/{schedule_id}/run_now": Row(S, api_change(200), api_schedule),
    "POST /api/schedules/{schedule_id}/pause": Row(S, api_change(200), api_schedule, data={"until": IN_A_MONTH}),
    "POST /api/schedules/{schedule_id}/resume": Row(S, api_change(200), api_schedule),
    "GET /api/backup_config": Row(S, API_READ),
    # Over an existing backup schedule (made first): changing it needs change; creating one, add.
    "POST /api/backup_config": Row(S, api_change(200), api_schedule, data={"schedule_time": "04:15"}),
    "GET /api/backups": Row(B, API_READ),
    "POST /api/backups": Row(B, api_superuser_only(202)),
    "GET /api/backups/{backup_id}": Row(B, API_READ, api_backup),
    "DELETE /api/backups/{backup_id}": Row(B, api_superuser_only(200), api_backup),
    "POST /api/backups/{backup_id}/verify": Row(B, api_change(200), api_backup),
    "GET /api/backups/{backup_id}/download": Row(B, api_superuser_only(200), api_backup),
    "GET /api/channels/channel_groups": Row(G, API_READ),
    "POST /api/channels/channel_groups": Row(G, api_superuser_only(201), data={"name": "Walked"}),
    "GET /api/channels/channel_groups/{group_id}": Row(G, API_READ, api_group),
    "PATCH /api/channels/channel_groups/{group_id}": Row(G, api_change(200), api_group, data={"description": "Renamed"}),
    "DELETE /api/channels/channel_groups/{group_id}": Row(G, api_superuser_only(204), api_group),
    "POST /api/channels/channel_groups/{group_id}/sync": Row(G, api_change(200), api_group_with_a_channel),
    "GET /api/channels": Row(C, API_READ),
    "POST /api/channels": Row(C, api_superuser_only(201), data={"reference": "UCq1w2e3r4t5y6u7i8o9p0aZ"}),
    "GET /api/channels/{channel_id}": Row(C, API_READ, api_channel),
    "PATCH /api/channels/{channel_id}": Row(C, api_change(200), api_channel, data={"title": "Renamed"}),
    "DELETE /api/channels/{channel_id}": Row(C, api_superuser_only(204), api_channel),
    "POST /api/channels/{channel_id}/sync": Row(G, api_change(200), api_channel),
    "GET /api/channels/{channel_id}/videos": Row(C, api_superuser_only(200), api_channel),  # needs view_video
    "GET /api/jobs": Row(J, API_READ),
    "GET /api/jobs/{job_id}": Row(J, API_READ, api_failed_job),
    "POST /api/jobs/{job_id}/retry": Row(J, api_change(200), api_failed_job),
    "POST /api/jobs/{job_id}/cancel": Row(J, api_change(200), api_queued_job),
    "GET /api/health": Row(S, (503, 503, 503, 503, 503)),  # no login needed, as /healthz
}


# --- walking ----------------------------------------------------------------------------------------------

def url_patterns(patterns=None, prefix: str = "", namespace: str = ""):
    """(key, route) of every pattern of the URLconf: its name (namespaced) or, without one, its route.
    The admin is one entry, by its prefix."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            route = prefix + str(pattern.pattern)
            if pattern.app_name == "admin":
                yield route, route
                continue
            inner = pattern.namespace or namespace
            yield from url_patterns(pattern.url_patterns, route, inner)
        elif isinstance(pattern, URLPattern):
            route = prefix + str(pattern.pattern)
            name = f"{namespace}:{pattern.name}" if namespace and pattern.name else pattern.name
            yield name or f"/{route}", route


def api_operations() -> set[str]:
    document = api.get_openapi_schema()
    return {f"{method.upper()} {path}" for path, methods in document["paths"].items() for method in methods}


def api_route_paths() -> set[str]:
    """The API's operation paths as the URLconf spells them (`api/schedules/<schedule_id>`)."""
    return {"api" + path.split(" ", 1)[1].removeprefix("/api").replace("{", "<").replace("}", ">")
            for path in api_operations()}


class Users:
    """The five roles; the view-only and change-only users are made per model, once."""

    def __init__(self):
        self.none, self.superuser = UserFactory(), StaffFactory()
        self.by_model: dict[tuple[str, str], object] = {}

    def role(self, role: str, model: str):
        if role == "anonymous":
            return None
        if role == "no permission":
            return self.none
        if role == "superuser":
            return self.superuser
        action = "view" if role == "view only" else "change"
        if (model, action) not in self.by_model:
            app_label, model_name = model.split(".")
            user = UserFactory()
            user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label,
                                                             codename=f"{action}_{model_name}"))
            self.by_model[model, action] = user
        return self.by_model[model, action]


def outcome(response) -> object:
    if response.status_code == 302:
        location = response["Location"]
        if location.startswith("/login/?next="):
            return LOGIN
        if location.startswith("/admin/login/?next="):
            return ADMIN_LOGIN
    return response.status_code


def page_url(key: str, row: Row, kwargs: dict) -> str:
    if row.path:
        return row.path
    return key if key.startswith("/") else reverse(key, kwargs=kwargs or None)


@pytest.fixture
def walk_setup(settings, tmp_path):
    settings.BACKUP_DIR = tmp_path / "backups"
    settings.BACKUP_DIR.mkdir()
    return Users()


def test_every_url_pattern_has_a_row_in_the_permission_table():
    api_paths = api_route_paths()
    missing = [f"{key} ({route})" for key, route in url_patterns()
               if route not in api_paths and not any(row_key == key for row_key, _ in {**PAGES, **ADMIN})]
    assert missing == [], f"add {', '.join(missing)} to the permission table in tests/core/test_every_url.py"


def test_every_api_operation_has_a_row_in_the_permission_table():
    missing = sorted(api_operations() - set(OPERATIONS))
    assert missing == [], f"add {', '.join(missing)} to OPERATIONS in tests/core/test_every_url.py"


def test_the_table_names_no_url_that_is_gone():
    keys = {key for key, _ in url_patterns()}
    stale = sorted({key for key, _ in PAGES if key not in keys} | (set(OPERATIONS) - api_operations()))
    assert stale == []


def test_each_role_gets_what_the_table_says_from_every_page(walk_setup):
    users = walk_setup
    wrong = []
    for ((key, method), row), (index, role) in itertools.product({**PAGES, **ADMIN}.items(), enumerate(ROLES)):
        user = users.role(role, row.model)
        client = Client()
        if user is not None:
            client.force_login(user)
        url = page_url(key, row, row.make(user))
        if method == "GET":
            response = client.get(url)
        else:  # a form post, as a browser sends it
            response = client.generic(method, url, urlencode(row.data or {}),
                                      content_type="application/x-www-form-urlencoded")
        got = outcome(response)
        if got != row.expect[index]:
            wrong.append(f"{method} {url} as {role}: {got}, the table says {row.expect[index]}")
    assert wrong == [], "\n".join(wrong)


def test_each_role_gets_what_the_table_says_from_every_api_operation(walk_setup):
    users = walk_setup
    tokens: dict[int, str] = {}
    wrong = []
    for (operation, row), (index, role) in itertools.product(OPERATIONS.items(), enumerate(ROLES)):
        user = users.role(role, row.model)
        if user is not None and user.pk not in tokens:
            tokens[user.pk] = token_for(user)
        client = ApiClient(tokens[user.pk] if user is not None else None)
        method, path = operation.split(" ", 1)
        url = path.format(**row.make(user))
        response = getattr(client, method.lower())(url, row.data) if row.data is not None else \
            getattr(client, method.lower())(url)
        got = outcome(response)
        if got != row.expect[index]:
            wrong.append(f"{operation} as {role}: {got}, the table says {row.expect[index]}")
    assert wrong == [], "\n".join(wrong)



def test_the_admin_lets_staff_in_then_follows_its_model_permissions(client):
    """The admin's own rule, below its prefix: staff get in, and see only the models they hold permissions on."""
    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_job"))
    client.force_login(staff)

    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/jobs/job/").status_code == 200
    assert client.get("/admin/scheduling/scheduledtask/").status_code == 403
    assert client.get("/admin/auth/user/").status_code == 403
