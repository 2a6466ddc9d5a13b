"""Hostile input at the JSON API: every write operation's body, field by field, and every query parameter.

The operations come from /api/openapi.json, so a new one is walked as soon as it exists; a write operation
with no valid body in BASE_BODIES fails `test_it_knows_a_valid_body_for_every_write_operation` until it is
given one. Each hostile value replaces one field of that valid body: the answer must be a 4xx naming the
field (never a 500), and the stored data must be equal before and after.
"""

from __future__ import annotations

import json

import pytest
from django.utils import timezone

from scheduling import services
from scheduling.models import ScheduledTask
from tests.factories import BackupFactory, JobFactory
from tests.hostile.conftest import HUGE_ID, ONE_MB, assert_refused, stored_data

pytestmark = pytest.mark.django_db

SCHEDULE = {"name": "Nightly backup", "task_type": "DATABASE_BACKUP", "schedule_kind": "daily",
            "schedule_time": "02:00"}
INTERVAL = {**SCHEDULE, "schedule_kind": "interval", "interval_minutes": 60}

# A valid body for each write operation: each row of the tables changes one field of it.
BASE_BODIES = {
    ("post", "/api/schedules/preview"): INTERVAL,
    ("post", "/api/schedules/import"): {"version": 1, "schedules": {"nightly": SCHEDULE}},
    ("post", "/api/schedules"): INTERVAL,
    ("patch", "/api/schedules/{schedule_id}"): INTERVAL,
    ("post", "/api/schedules/{schedule_id}/toggle"): {"enabled": False},
    ("post", "/api/schedules/{schedule_id}/run_now"): {"force": False},
    ("post", "/api/schedules/{schedule_id}/pause"): {"until": "2999-01-01T00:00:00Z", "reason": "holiday"},
    ("post", "/api/schedules/{schedule_id}/resume"): {},
    ("post", "/api/backup_config"): {"enabled": True, "schedule_time": "03:00", "retention_days": 7,
                                     "check_interval": 60},
    ("post", "/api/backups"): {"force": False},
    ("post", "/api/backups/{backup_id}/verify"): {},
    ("post", "/api/channels/channel_groups"): {"name": "Lawyers", "description": ""},
    ("patch", "/api/channels/channel_groups/{group_id}"): {"name": "Lawyers", "description": ""},
    ("post", "/api/channels/channel_groups/{group_id}/sync"): {"force": False},
    ("post", "/api/channels"): {"reference": "UCsXVk37bltHxD1rDPwtNM8Q", "title": "", "groups": []},
    ("patch", "/api/channels/{channel_id}"): {"title": "Renamed", "enabled": True, "groups": []},
    ("post", "/api/channels/{channel_id}/sync"): {"force": False},
    ("post", "/api/jobs/{job_id}/retry"): {},
    ("post", "/api/jobs/{job_id}/cancel"): {},
}

# A value of the wrong JSON type for each declared type, and values of the right type no field takes.
NESTED = {"a": [{"b": {"c": [1, 2, {"d": None}]}}]}
WRONG_TYPE = {
    "string": [["a"], {"a": "b"}, True, 5, 1.5, None],
    "integer": ["5 minutes", [5], {"n": 5}, 1.5, None],
    "boolean": ["maybe", [True], {"b": True}, 2, None],
    "array": ["mon", {"0": "mon"}, 5, True],
    "object": [["a"], "a=b", 5, True],
}
BAD_VALUES = {
    "string": [ONE_MB, "a\x00b", "\ud800"],
    "integer": [-1, 0, HUGE_ID, 10**12, -(2**63) - 1],
    "array": [[None], [ONE_MB], ["a\x00b"]],
    "object": [{"a\x00": 1}, NESTED],
}
# Fields whose value any string is, so only the rows no string can pass are asked of them.
ANY_STRING = {"reason", "description", "title"}
# `check_interval` of /api/backup_config is deprecated and has no effect: any positive number is echoed back.
ANY_POSITIVE = {"check_interval"}
# A schedule's fields are judged only for the kind that uses them: each is sent in a body of that kind.
KIND_OF = {"schedule_time": {"schedule_kind": "daily"},
           "schedule_days": {"schedule_kind": "weekly", "schedule_time": "04:00", "schedule_days": ["mon"]},
           "cron_expr": {"schedule_kind": "cron", "cron_expr": "0 4 * * *"}}


@pytest.fixture
def ids(world):
    schedule = services.schedule_save(schedule=ScheduledTask(**INTERVAL), now=timezone.now())
    return {"schedule_id": schedule.pk, "backup_id": BackupFactory().pk, "group_id": world["group"].pk,
            "channel_id": world["channel"].pk, "job_id": JobFactory().pk}


def document(api) -> dict:
    return api.get("/api/openapi.json").json()


def resolve(document: dict, schema: dict) -> dict:
    if "$ref" in schema:
        return document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    for option in schema.get("anyOf", []):
        if "$ref" in option or option.get("type") == "object":
            return resolve(document, option)
    return schema


def declared_types(schema: dict) -> list[str]:
    if "type" in schema:
        return [schema["type"]]
    return [option["type"] for option in schema.get("anyOf", []) if option.get("type") not in (None, "null")]


def write_operations(document: dict) -> list[tuple[str, str, dict]]:
    return sorted((method, path, resolve(document, operation["requestBody"]["content"]["application/json"]["schema"]))
                  for path, operations in document["paths"].items() for method, operation in operations.items()
                  if method in ("post", "put", "patch") and "requestBody" in operation)


def url_of(path: str, ids: dict) -> str:
    for name, pk in ids.items():
        path = path.replace("{" + name + "}", str(pk))
    return path


def body_rows(document: dict) -> list[tuple[str, str, str, object]]:
    """(method, path, field, hostile value) for every field of every write operation's body."""
    rows = []
    for method, path, schema in write_operations(document):
        for field, field_schema in schema.get("properties", {}).items():
            types = declared_types(field_schema)
            nullable = any(option.get("type") == "null" for option in field_schema.get("anyOf", []))
            for kind in types:
                for value in WRONG_TYPE.get(kind, []):
                    if value is None and nullable:
                        continue
                    if any(_json_type(value) == other for other in types):
                        continue  # of a type the field also takes
                    rows.append((method, path, field, value))
                if kind == "string" and field in ANY_STRING:
                    rows += [(method, path, field, value) for value in BAD_VALUES["string"] if value != ONE_MB or
                             field != "description"]
                elif kind == "integer" and field in ANY_POSITIVE:
                    rows += [(method, path, field, value) for value in BAD_VALUES[kind] if value < 1]
                elif kind != "object" or field == "params":
                    rows += [(method, path, field, value) for value in BAD_VALUES.get(kind, [])]
    return rows


def _json_type(value) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "object",
            type(None): "null"}[type(value)]


def test_it_knows_a_valid_body_for_every_write_operation(api, ids):
    """A new write operation fails here until it has a base body, so its fields join the tables."""
    operations = {(method, path) for method, path, _ in write_operations(document(api))}

    assert operations == set(BASE_BODIES)


def test_it_refuses_every_hostile_field_of_every_write_body(api, ids):
    """One test walks all rows (hundreds) so the OpenAPI document is read once; a failure names its row."""
    rows = body_rows(document(api))
    assert len(rows) > 200
    failures = []
    # The stored data is compared around each operation's rows, not each row (minutes otherwise): a row
    # that changed anything leaves it changed, and the failure names the operation.
    operation, before = None, None
    for method, path, field, value in [*rows, (None, None, None, None)]:
        if (method, path) != operation:
            if operation is not None and stored_data() != before:
                failures.append(f"{operation}: stored data changed")
            operation, before = (method, path), stored_data()
        if method is None:
            break
        base = BASE_BODIES[(method, path)]
        if "schedule_kind" in base:
            base = {**base, **KIND_OF.get(field, {})}
        body = json.dumps({**base, field: value})
        response = api.generic(method.upper(), url_of(path, ids), body, content_type="application/json")
        row = f"{method.upper()} {path} {field}={str(value)[:40]!r}"
        try:
            assert response.status_code < 500
            assert_refused(response, field)
        except AssertionError as exc:
            failures.append(f"{row}: {exc}")
    assert not failures, "\n".join(failures)


# Bodies no JSON reader should take: one row per kind, sent to every write operation.
RAW_BODIES = [
    pytest.param(b'{"name": "\xff\xfe"}', id="non-utf-8"),
    pytest.param(b"[" * 100_000 + b"]" * 100_000, id="deeply-nested"),
    pytest.param(b'{"a": ' * 100_000 + b"1" + b"}" * 100_000, id="deeply-nested-objects"),
    pytest.param(b'{"name": "Nightly", "name": "Hourly"}', id="duplicate-keys"),
    pytest.param(b'{"name": 1e999}', id="1e999"),
    pytest.param(b'{"name": NaN}', id="NaN"),
    pytest.param(b'{"name": "a"', id="truncated"),
    pytest.param(b"\x00", id="NUL"),
]


@pytest.mark.parametrize("raw", RAW_BODIES)
def test_it_refuses_a_body_that_is_not_json_naming_the_body(api, ids, raw):
    failures = []
    for method, path, _ in write_operations(document(api)):
        before = stored_data()
        response = api.generic(method.upper(), url_of(path, ids), raw, content_type="application/json")
        try:
            assert_refused(response, "body")
            assert stored_data() == before, "stored data changed"
        except AssertionError as exc:
            failures.append(f"{method.upper()} {path}: {exc}")
    assert not failures, "\n".join(failures)


# --- query strings ---------------------------------------------------------------------------------------

def query_operations(document: dict) -> list[tuple[str, str, dict[str, dict]]]:
    return sorted((method, path, {parameter["name"]: parameter["schema"] for parameter in operation["parameters"]
                                  if parameter["in"] == "query"})
                  for path, operations in document["paths"].items() for method, operation in operations.items()
                  if any(parameter["in"] == "query" for parameter in operation.get("parameters", [])))


# Raw (already %-encoded) values: no query parameter of any type takes them.
ALWAYS_BAD = ["%00", "a%00b", "%FF", "%C0%AF"]
# Values only a free-text parameter takes.
BAD_UNLESS_TEXT = ["-1", str(HUGE_ID), "NaN", "1e999", "", "mnday", "%5B%5D", "x" * 10_000]


def query_rows(document: dict) -> list[tuple[str, str, str, str]]:
    rows = []
    for method, path, parameters in query_operations(document):
        for name, schema in parameters.items():
            types = declared_types(schema)
            free_text = types == ["string"] and "enum" not in schema and "format" not in schema and name != "cursor"
            if not free_text:
                types = [option for option in schema.get("anyOf", [schema]) if option.get("type") != "null"]
                free_text = any(option.get("type") == "string" and "enum" not in option and "format" not in option
                                for option in types) and name != "cursor"
            for value in ALWAYS_BAD + ([] if free_text else BAD_UNLESS_TEXT):
                if name == "cursor" and value == "":
                    continue  # an empty cursor is none: the first page
                rows.append((method, path, name, value))
    return rows


def test_it_refuses_every_hostile_query_parameter(api, ids):
    """A text filter takes any text but NUL (PostgreSQL refuses it in a query) and bytes that are not UTF-8;
    a number, a choice, a flag, a date or a cursor takes nothing but its own. Run on PostgreSQL too."""
    rows = query_rows(document(api))
    assert len(rows) > 100
    failures = []
    operation, before = None, None  # compared around each operation's rows, as above
    for method, path, name, value in [*rows, (None, None, None, None)]:
        if (method, path) != operation:
            if operation is not None and stored_data() != before:
                failures.append(f"{operation}: stored data changed")
            operation, before = (method, path), stored_data()
        if method is None:
            break
        body = json.dumps(BASE_BODIES.get((method, path), {})) if method != "get" else None
        url = f"{url_of(path, ids)}?{name}={value}"
        response = (api.get(url) if method == "get" else
                    api.generic(method.upper(), url, body, content_type="application/json"))
        try:
            assert_refused(response, name)
        except AssertionError as exc:
            failures.append(f"{method.upper()} {url[:80]}: {exc}")
    assert not failures, "\n".join(failures)


# --- a schedule's own rules, at every operation that takes a schedule ------------------------------------

# (field, value, the other fields it needs): values of the right JSON type that break a schedule's rules.
SCHEDULE_ROWS = [
    ("anchor_at", "0001-01-01T00:00:00+14:00", {}),  # before year 1 in UTC: was an OverflowError, a 500
    ("anchor_at", "9999-12-31T23:59:59-14:00", {}),  # after year 9999 in UTC
    ("anchor_at", "2026-01-01T00:00:00", {}),  # no offset
    ("anchor_at", "yesterday", {}),
    ("interval_minutes", 0, {}),
    ("interval_minutes", -1, {}),
    ("interval_minutes", 10**12, {}),
    ("interval_minutes", HUGE_ID, {}),
    ("interval_minutes", "NaN", {}),
    ("timezone", "Mars/Base", {}),
    ("timezone", "", {}),
    ("timezone", "../../etc/passwd", {}),
    ("schedule_days", ["mnday"], KIND_OF["schedule_days"]),
    ("schedule_days", [], KIND_OF["schedule_days"]),
    ("schedule_time", "25:00", KIND_OF["schedule_time"]),
    ("schedule_time", "5:30 in the morning", KIND_OF["schedule_time"]),
    ("cron_expr", "0 4 * * * *", KIND_OF["cron_expr"]),  # six fields
    ("cron_expr", "0 4 31 2 *", KIND_OF["cron_expr"]),  # never runs
    ("cron_expr", "@daily", KIND_OF["cron_expr"]),
    ("cron_expr", "*/0 * * * *", KIND_OF["cron_expr"]),
    ("cron_expr", "99 * * * *", KIND_OF["cron_expr"]),
    ("schedule_kind", "hourly", {}),
    ("task_type", "DROP TABLE", {}),
    ("params", {"group_id": -1}, {"task_type": "QUICK_SYNC_GROUP"}),
    ("params", {"group_id": HUGE_ID}, {"task_type": "QUICK_SYNC_GROUP"}),
    ("params", {"retention_days": 1e308}, {}),
    ("notify_channels", [-1], {}),
    ("notify_channels", [HUGE_ID], {}),
]
SCHEDULE_OPERATIONS = [("post", "/api/schedules"), ("post", "/api/schedules/preview"),
                       ("patch", "/api/schedules/{schedule_id}")]


@pytest.mark.parametrize("field, value, needs", SCHEDULE_ROWS)
def test_it_refuses_a_schedule_its_rules_refuse_at_every_entrance(api, ids, field, value, needs):
    failures = []
    for method, path in SCHEDULE_OPERATIONS:
        before = stored_data()
        body = json.dumps({**INTERVAL, **needs, field: value})
        response = api.generic(method.upper(), url_of(path, ids), body, content_type="application/json")
        try:
            assert_refused(response, field)
            assert stored_data() == before, "stored data changed"
        except AssertionError as exc:
            failures.append(f"{method.upper()} {path}: {exc}")
    assert not failures, "\n".join(failures)


def test_it_reads_a_zone_spelled_loosely_as_iana_spells_it(api):
    """Not a refusal: "utc " and "europe/berlin" are read as the zones they name (the model's clean())."""
    response = api.post("/api/schedules", {**INTERVAL, "timezone": " europe/berlin "})

    assert response.status_code == 201, response.content
    assert ScheduledTask.objects.get(pk=response.json()["id"]).timezone == "Europe/Berlin"


@pytest.mark.parametrize("pk", ["-1", "0", str(HUGE_ID), str(10**30), "abc", "1.5", "%00", "%FF"])
def test_it_answers_404_for_an_id_no_row_can_have_at_every_path(api, ids, pk):
    """Every operation with an id in its path, from the OpenAPI document: an id no row can have is the API's
    JSON 404 (or a 400 naming the id), never a 500, and nothing changes."""
    doc = document(api)
    before = stored_data()
    failures = []
    for path, operations in doc["paths"].items():
        if "{" not in path:
            continue
        for method in operations:
            url = "/".join(pk if part.startswith("{") else part for part in path.split("/"))
            body = json.dumps(BASE_BODIES.get((method, path), {}))
            response = api.generic(method.upper(), url, body if method != "get" else "",
                                   content_type="application/json")
            if response.status_code not in (400, 404) or "errors" not in response.json():
                failures.append(f"{method.upper()} {url}: {response.status_code} {response.content[:200]}")
    assert not failures, "\n".join(failures)
    assert stored_data() == before
