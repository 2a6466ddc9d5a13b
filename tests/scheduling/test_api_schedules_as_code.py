"""Schedules as code through the API: GET /api/schedules/export, POST /api/schedules/import."""

import io
import json

import pytest
import yaml
from django.core.management import call_command

from common.actors import Via
from scheduling import services
from scheduling.models import ScheduleAuditEntry, ScheduledTask
from tests.api_clients import ALL_ACTIONS, ApiClient, token_client, user_with
from tests.factories import ChannelGroupFactory, grant
from tests.scheduling.conftest import at

pytestmark = pytest.mark.django_db

NOW = at("2026-03-26 12:00")
BACKUP = {"name": "Nightly backup", "task_type": "DATABASE_BACKUP", "schedule_kind": "daily", "schedule_time": "02:00",
          "params": {"cleanup_old": False}}
IMPORT = "/api/schedules/import"


@pytest.fixture(autouse=True)
def frozen(time_machine):
    time_machine.move_to(NOW, tick=False)


@pytest.fixture
def editor(db):
    return grant(user_with(*ALL_ACTIONS, username="editor"), "delete_backup")


@pytest.fixture
def api(editor):
    return token_client(editor)


@pytest.fixture
def schedules(db):
    news = ChannelGroupFactory(name="News")
    services.schedule_save(schedule=ScheduledTask(**BACKUP), now=NOW)
    services.schedule_save(schedule=ScheduledTask(name="News sync", task_type="QUICK_SYNC_GROUP",
                                                  params={"group_id": news.pk}, schedule_kind="cron",
                                                  cron_expr="30 5 * * mon-fri"), now=NOW)


def command_export(fmt: str) -> str:
    out = io.StringIO()
    call_command("export_schedules", "--format", fmt, stdout=out)
    return out.getvalue()


def errors_of(response, status=400) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    return response.json()["errors"]


def exported(api) -> dict:
    return json.loads(api.get("/api/schedules/export").content)


# --- export ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("query, fmt, content_type", [("", "json", "application/json"),
                                                     ("?format=json", "json", "application/json"),
                                                     ("?format=yaml", "yaml", "application/yaml")])
def test_it_exports_what_the_command_writes_byte_for_byte(api, schedules, query, fmt, content_type):
    response = api.get(f"/api/schedules/export{query}")

    assert response.status_code == 200
    assert response["Content-Type"] == f"{content_type}; charset=utf-8"
    assert response.content.decode() == command_export(fmt)
    assert list(json.loads(response.content)["schedules"] if fmt == "json" else
                yaml.safe_load(response.content)["schedules"]) == ["news-sync", "nightly-backup"]


def test_it_names_a_bad_export_format(api):
    assert list(errors_of(api.get("/api/schedules/export?format=xml"))) == ["format"]


# --- import ----------------------------------------------------------------------------------------------------

def test_it_imports_a_document_and_answers_what_changed_audited_as_an_import(api, editor, schedules):
    document = exported(api)
    document["schedules"]["nightly-backup"]["schedule_time"] = "03:00"
    document["schedules"]["weekly"] = {"name": "Weekly", "task_type": "DATABASE_BACKUP", "schedule_kind": "weekly",
                                       "schedule_days": ["sun"], "schedule_time": "04:00",
                                       "params": {"cleanup_old": False}}

    response = api.post(IMPORT, document)

    assert response.status_code == 200, response.content
    weekly = ScheduledTask.objects.get(key="weekly")
    backup = ScheduledTask.objects.get(key="nightly-backup")
    assert response.json() == {
        "applied": True, "message": "1 created, 1 changed, 0 deleted, 1 unchanged.",
        "changes": [
            {"key": "news-sync", "action": "unchanged", "name": "News sync", "id": backup.pk + 1, "fields": []},
            {"key": "nightly-backup", "action": "changed", "name": "Nightly backup", "id": backup.pk,
             "fields": ["schedule_time"]},
            {"key": "weekly", "action": "created", "name": "Weekly", "id": weekly.pk, "fields": []},
        ]}
    entries = ScheduleAuditEntry.objects.filter(via=Via.IMPORT).order_by("id")
    assert [(e.schedule_name, e.action, e.actor, e.actor_name) for e in entries] == [
        ("Nightly backup", "update", editor, "editor"), ("Weekly", "create", editor, "editor")]


def test_it_imports_yaml_sent_as_yaml(api, schedules):
    text = api.get("/api/schedules/export?format=yaml").content.decode().replace("02:00", "02:30")

    response = api.post(IMPORT, text, content_type="application/yaml")

    assert response.json()["message"] == "0 created, 1 changed, 0 deleted, 1 unchanged."
    assert ScheduledTask.objects.get(key="nightly-backup").schedule_time == "02:30"


def test_a_dry_run_answers_the_plan_and_writes_nothing(api, schedules):
    before = api.get("/api/schedules/export").content
    document = exported(api)
    document["schedules"]["fresh"] = {**document["schedules"]["nightly-backup"], "name": "Fresh"}
    del document["schedules"]["news-sync"]

    response = api.post(f"{IMPORT}?dry_run=true&prune=true", document)

    body = response.json()
    assert body["applied"] is False
    assert body["message"] == "Dry run, nothing written: 1 to create, 0 to change, 1 to delete, 1 unchanged."
    assert [(c["key"], c["action"], c["id"]) for c in body["changes"]][0] == ("fresh", "created", None)
    assert api.get("/api/schedules/export").content == before
    assert not ScheduleAuditEntry.objects.filter(via=Via.IMPORT).exists()


def test_prune_deletes_what_the_document_leaves_out_and_a_second_import_changes_nothing(api, schedules):
    document = exported(api)
    del document["schedules"]["news-sync"]

    first = api.post(f"{IMPORT}?prune=true", document).json()
    second = api.post(f"{IMPORT}?prune=true", document).json()

    assert first["message"] == "0 created, 0 changed, 1 deleted, 1 unchanged."
    assert list(ScheduledTask.objects.values_list("key", flat=True)) == ["nightly-backup"]
    assert second["message"] == "0 created, 0 changed, 0 deleted, 1 unchanged."
    assert ScheduleAuditEntry.objects.filter(via=Via.IMPORT).count() == 1


def test_an_invalid_entry_answers_400_by_key_and_field_and_writes_nothing(api, schedules):
    before = api.get("/api/schedules/export").content
    document = exported(api)
    document["schedules"]["nightly-backup"]["schedule_time"] = "25:00"
    document["schedules"]["news-sync"]["params"]["group_id"] = "Sports"
    document["schedules"]["fresh"] = {"name": "Fresh", "task_type": "DATABASE_BACKUP", "schedule_time": "01:00",
                                      "params": {"cleanup_old": False}}

    errors = errors_of(api.post(f"{IMPORT}?prune=true", document))

    assert errors == {
        "news-sync.params.group_id": ["Channel group: there is no channel group named “Sports”."],
        "nightly-backup.schedule_time": ["Enter the time as HH:MM in 24-hour format, 00:00 to 23:59 (got '25:00')."],
    }
    assert api.get("/api/schedules/export").content == before
    assert not ScheduleAuditEntry.objects.filter(via=Via.IMPORT).exists()


def test_it_refuses_for_a_user_what_the_task_type_refuses_them(schedules):
    """A user without backups.delete_backup may not switch a backup's clean-up on, by import as by PATCH."""
    api = token_client(user_with("add", "change"))
    document = exported(token_client(user_with("view")))
    document["schedules"]["nightly-backup"]["params"]["cleanup_old"] = True

    errors = errors_of(api.post(IMPORT, document))

    [(field, [message])] = errors.items()
    assert field.startswith("nightly-backup.params") and "backups.delete_backup" in message
    assert ScheduledTask.objects.get(key="nightly-backup").params["cleanup_old"] is False


@pytest.mark.parametrize("body, content_type, status, field", [
    ("", "application/json", 400, "body"),
    ("{not json", "application/json", 400, "body"),
    ('{"schedules": {"a": {}, "a": {}}}', "application/json", 400, "body"),
    ("a: &a [x]\nschedules: {b: {name: *a}}\n", "application/yaml", 400, "body"),
    ("schedules: !!python/object/apply:os.system [echo]\n", "application/yaml", 400, "body"),
    (b"\xff\xfe", "application/json", 400, "body"),
    ("[" * 50_000, "application/json", 400, "body"),
    ('{"version": 1, "schedules": {"a": 1}}', "application/json", 400, "a"),
    ('{"version": 1, "schedules": {}}', "text/plain", 415, "body"),
    ("version=1", "application/x-www-form-urlencoded", 415, "body"),
])
def test_it_answers_a_bad_document_with_the_place_it_is_wrong(api, schedules, body, content_type, status, field):
    response = api.post(IMPORT, body, content_type=content_type)

    assert list(errors_of(response, status)) == [field]
    assert ScheduledTask.objects.count() == 2


def test_it_answers_413_for_a_document_over_the_size_limit(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000

    errors = errors_of(api.post(IMPORT, {"version": 1, "schedules": {"a": {"name": "x" * 2000}}}), status=413)

    assert errors == {"body": ["The body is too large."]}


@pytest.mark.parametrize("query", ["dry_run=maybe", "prune=perhaps"])
def test_it_names_a_bad_query_parameter(api, query):
    assert list(errors_of(api.post(f"{IMPORT}?{query}", {"version": 1, "schedules": {}}))) == [query.split("=")[0]]


# --- who may do what ------------------------------------------------------------------------------------------

OPERATIONS = [
    ("get", "/api/schedules/export", {"view"}),
    ("get", "/api/schedules/export?format=yaml", {"view"}),
    ("post", IMPORT, {"add", "change"}),
    ("post", f"{IMPORT}?dry_run=true", {"add", "change"}),
    ("post", f"{IMPORT}?prune=true", {"add", "change", "delete"}),
]


def call(client, method, path):
    if method == "get":
        return client.get(path)
    return client.post(path, {"version": 1, "schedules": {}})


@pytest.mark.parametrize("method, path, needed", OPERATIONS)
def test_it_needs_every_permission_of_the_operation(schedules, method, path, needed):
    for missing in sorted(needed):
        others = [action for action in ALL_ACTIONS if action != missing]
        errors = errors_of(call(token_client(user_with(*others)), method, path), status=403)
        assert f"scheduling.{missing}_scheduledtask" in errors["__all__"][0]

    allowed = call(token_client(user_with(*needed)), method, path)

    assert allowed.status_code == 200, allowed.content
    assert ScheduledTask.objects.count() == (0 if "delete" in needed else 2)


@pytest.mark.parametrize("method, path, needed", OPERATIONS)
def test_it_answers_401_json_to_anonymous_requests(schedules, method, path, needed):
    response = call(ApiClient(), method, path)

    assert "Authorization: Bearer" in errors_of(response, status=401)["__all__"][0]
    assert ScheduledTask.objects.count() == 2


def test_the_operations_are_in_the_openapi_document(api):
    paths = api.get("/api/openapi.json").json()["paths"]

    assert paths["/api/schedules/export"]["get"]["responses"]["200"]["content"].keys() == {
        "application/json", "application/yaml"}
    body = paths["/api/schedules/import"]["post"]["requestBody"]
    entry = body["content"]["application/json"]["schema"]["properties"]["schedules"]["additionalProperties"]
    assert entry["required"] == ["name", "task_type"] and entry["additionalProperties"] is False
    assert [p["name"] for p in paths["/api/schedules/import"]["post"]["parameters"]] == ["dry_run", "prune"]
    assert [p["name"] for p in paths["/api/schedules/export"]["get"]["parameters"]] == ["format"]
