"""The schedules API: /api/schedules, /api/schedules/<id>, toggle, run_now, preview."""


import pytest
from django import forms

from common.actors import Via
from jobs.models import Job, JobStatus
from scheduling import api as scheduling_api
from scheduling import registry, services
from scheduling.models import ScheduleAuditEntry, ScheduledTask, ScheduleRun
from tests.api_clients import ALL_ACTIONS, queries_for, token_client, user_with, walk_pages
from tests.factories import ChannelFactory, ChannelGroupFactory, grant
from tests.scheduling.conftest import at

pytestmark = pytest.mark.django_db

NOW = at("2026-03-26 12:00")
FIELDS = {"id", "name", "key", "task_type", "enabled", "schedule_kind", "schedule_time", "schedule_days", "interval_minutes",
          "cron_expr", "timezone", "params", "grace_minutes", "overlap_policy", "anchor_at", "notify_channels",
          "last_run_at", "last_outcome", "next_run_at", "created_at", "updated_at", "paused_until", "pause_reason"}
EXTRAS = {"description", "task_type_label", "params_summary"}
BACKUP = {"name": "Nightly backup", "task_type": "DATABASE_BACKUP", "schedule_kind": "daily", "schedule_time": "02:00"}


@pytest.fixture(autouse=True)
def frozen(time_machine):
    time_machine.move_to(NOW, tick=False)


@pytest.fixture
def editor(db):
    # May delete backups too: a new backup schedule cleans up old backups by default, which needs it.
    return grant(user_with(*ALL_ACTIONS, username="editor"), "delete_backup")


@pytest.fixture
def api(editor):
    return token_client(editor)


@pytest.fixture
def news(db):
    group = ChannelGroupFactory(name="News")
    ChannelFactory.create_batch(2, group=group)
    return group


def create(api, **fields):
    response = api.post("/api/schedules", {**BACKUP, **fields})
    assert response.status_code == 201, response.json()
    return response.json()


def errors_of(response, status=400) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    return response.json()["errors"]


def api_audit() -> list[ScheduleAuditEntry]:
    return list(ScheduleAuditEntry.objects.filter(via=Via.API).order_by("id"))


# --- success paths --------------------------------------------------------------------------------

def test_it_creates_a_schedule_and_answers_with_every_field(api, editor):
    body = create(api, timezone="Europe/Berlin", params={"retention_days": 14, "cleanup_old": True})

    assert set(body) == FIELDS | EXTRAS
    assert body["schedule_time"] == "02:00" and body["schedule_days"] == [] and body["interval_minutes"] is None
    assert body["params"] == {"backup_type": "full", "retention_days": 14, "cleanup_old": True, "force_backup": False,
                              "copy_offsite": True}
    assert body["description"] == "Every day at 02:00 (Europe/Berlin)"
    assert body["task_type_label"] == "Database backup" and body["params_summary"] == "keeps 14 days"
    assert body["next_run_at"] == "2026-03-27T01:00:00Z"  # 02:00 CET
    assert body["created_at"] == "2026-03-26T12:00:00Z"
    schedule = ScheduledTask.objects.get()
    assert schedule.pk == body["id"] and schedule.timezone == "Europe/Berlin"
    [entry] = api_audit()
    assert (entry.action, entry.actor, entry.schedule_id) == ("create", editor, schedule.pk)
    assert entry.changes["schedule_time"] == [None, "02:00"]


def test_it_creates_a_weekly_schedule_with_days_in_canonical_order(api):
    body = create(api, schedule_kind="weekly", schedule_days=["fri", "MON", "wed", "mon"], schedule_time="04:00")

    assert body["schedule_days"] == ["mon", "wed", "fri"]
    assert body["description"] == "Every Mon, Wed, Fri at 04:00 (UTC)"


def test_it_anchors_an_interval_schedule_on_the_whole_minute(api, time_machine):
    time_machine.move_to(at("2026-03-26 08:18:49"), tick=False)

    body = create(api, schedule_kind="interval", interval_minutes=15, schedule_time=None)

    assert body["anchor_at"] == "2026-03-26T08:18:00Z"
    assert body["next_run_at"] == "2026-03-26T08:33:00Z"


def test_it_creates_a_quick_sync_of_a_group_and_names_the_group(api, news):
    body = create(api, name="News sync", task_type="QUICK_SYNC_GROUP", params={"group_id": news.pk},
                  schedule_kind="cron", cron_expr="30 5 * * mon-fri", schedule_time=None)

    assert body["params"] == {"group_id": news.pk}
    assert body["params_summary"] == "News"
    assert body["cron_expr"] == "30 5 * * mon-fri" and body["schedule_time"] is None


def test_it_makes_a_key_from_the_name_and_keeps_it_when_the_name_changes(api):
    first, second = create(api, name="News daily"), create(api, name="News daily")
    renamed = api.patch(f"/api/schedules/{first['id']}", {"name": "Morning news"}).json()

    assert (first["key"], second["key"], renamed["key"]) == ("news-daily", "news-daily-2", "news-daily")


def test_it_sets_and_changes_a_key(api):
    created = create(api, key="backup-main")
    changed = api.patch(f"/api/schedules/{created['id']}", {"key": "backup-nightly"})

    assert created["key"] == "backup-main" and changed.json()["key"] == "backup-nightly"
    assert ScheduleAuditEntry.objects.filter(via=Via.API).order_by("id").last().changes == {"key": ["backup-main", "backup-nightly"]}


def test_it_makes_the_key_again_from_the_name_when_sent_empty(api):
    created = create(api, name="Nightly backup", key="main")

    changed = api.patch(f"/api/schedules/{created['id']}", {"name": "Backup", "key": ""}).json()

    assert changed["key"] == "backup"
    assert ScheduleAuditEntry.objects.filter(via=Via.API).order_by("id").last().changes == {
        "name": ["Nightly backup", "Backup"], "key": ["main", "backup"]}


def test_it_refuses_a_key_another_schedule_has(api):
    create(api, name="News daily")

    assert errors_of(api.post("/api/schedules", {**BACKUP, "key": "news-daily"})) == {
        "key": ["The key “news-daily” is taken by the schedule “News daily”: keys are unique."]}


def test_it_gets_one_schedule(api):
    created = create(api)

    response = api.get(f"/api/schedules/{created['id']}")

    assert response.status_code == 200
    assert response.json() == created


def test_it_lists_schedules_with_filters(api, news):
    backup = create(api)
    sync = create(api, name="News sync", task_type="QUICK_SYNC_GROUP", params={"group_id": news.pk})
    off = create(api, name="Off", enabled=False)

    def ids(query=""):
        response = api.get(f"/api/schedules{query}")
        assert response.status_code == 200
        return [item["id"] for item in response.json()["items"]]

    assert ids() == [backup["id"], sync["id"], off["id"]]
    assert ids("?task_type=QUICK_SYNC_GROUP") == [sync["id"]]
    assert ids("?enabled=false") == [off["id"]]
    assert ids("?enabled=true&task_type=DATABASE_BACKUP") == [backup["id"]]
    assert ids("?task_type=NOPE") == []


def test_it_names_a_deleted_group_and_an_uninstalled_task_type_in_the_list(api, news):
    create(api, name="Orphan sync", task_type="QUICK_SYNC_GROUP", params={"group_id": news.pk})
    leftover = create(api, name="Leftover")
    news.delete()
    ScheduledTask.objects.filter(pk=leftover["id"]).update(task_type="NO_LONGER_INSTALLED")

    items = api.get("/api/schedules").json()["items"]

    assert [(item["task_type_label"], item["params_summary"]) for item in items] == [
        ("Quick sync of a channel group", "a deleted group"), ("NO_LONGER_INSTALLED", "")]


def test_it_pages_by_keyset_without_counting(api, editor):
    for number in range(5):
        create(api, name=f"Backup {number}")
    api.post(f"/api/schedules/{ScheduledTask.objects.order_by('id')[1].pk}/toggle")

    items, pages, last = walk_pages(api, "/api/schedules?limit=2&enabled=true")
    seen = [item["name"] for item in items]

    assert seen == ["Backup 0", "Backup 2", "Backup 3", "Backup 4"]
    assert pages == 2
    back = api.get(last["previous"]).json()  # the filter stays in the links
    assert [item["name"] for item in back["items"]] == ["Backup 0", "Backup 2"]


def test_it_keeps_its_place_while_schedules_are_added(api, editor):
    for number in range(3):
        create(api, name=f"Backup {number}")
    first = api.get("/api/schedules?limit=2").json()
    create(api, name="Added meanwhile")

    second = api.get(first["next"]).json()

    assert [item["name"] for item in second["items"]] == ["Backup 2", "Added meanwhile"]


@pytest.mark.parametrize("cursor", ["not-base64!", "cD1hYmM=", "cD0tMQ==", "cD05OTk5OTk5OTk5OTk5OTk5OTk5OTk5OQ==",
                                    "bz05OTk5OTk5OTk5", "w6k="])
def test_it_answers_400_for_a_cursor_it_did_not_make(api, cursor):
    """p=abc, p=-1, p=10^22, o=10^10, non-ASCII: a cursor edited by hand names `cursor`, not a 500."""
    create(api)

    response = api.get(f"/api/schedules?cursor={cursor}")

    assert response.status_code == 400
    assert list(errors_of(response)) == ["cursor"]


def test_it_lists_in_a_constant_number_of_queries(api, news):
    def queries_for_list() -> int:
        return queries_for(api, "/api/schedules?limit=200")

    create(api)
    create(api, name="Sync", task_type="QUICK_SYNC_GROUP", params={"group_id": news.pk})
    few = queries_for_list()
    for number in range(20):
        create(api, name=f"Backup {number}")
        create(api, name=f"Sync {number}", task_type="QUICK_SYNC_GROUP", params={"group_id": news.pk})

    assert queries_for_list() == few


def test_it_changes_only_the_fields_a_patch_sends(api):
    created = create(api, params={"retention_days": 14, "cleanup_old": True})

    response = api.patch(f"/api/schedules/{created['id']}", {"name": "Renamed"})

    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "Renamed"
    assert {key: value for key, value in body.items() if key not in ("name", "updated_at")} == \
        {key: value for key, value in created.items() if key not in ("name", "updated_at")}
    [_, entry] = api_audit()
    assert (entry.action, entry.changes) == ("update", {"name": ["Nightly backup", "Renamed"]})


# --- PATCH merges params (JSON Merge Patch, RFC 7396) ------------------------------------------------

def test_it_keeps_the_params_a_patch_does_not_send(api):
    """Changing only the retention used to turn clean-up back on, silently: params were replaced whole."""
    created = create(api, params={"retention_days": 14, "cleanup_old": False})

    response = api.patch(f"/api/schedules/{created['id']}", {"params": {"retention_days": 7}})

    assert response.status_code == 200, response.content
    assert response.json()["params"] == {"backup_type": "full", "retention_days": 7, "cleanup_old": False,
                                         "force_backup": False, "copy_offsite": True}
    assert ScheduledTask.objects.get().params["cleanup_old"] is False
    assert api_audit()[-1].changes == {"params": [created["params"], response.json()["params"]]}


def test_it_puts_a_param_sent_as_null_back_to_its_default(api):
    created = create(api, params={"retention_days": 14, "cleanup_old": False, "copy_offsite": False})

    body = api.patch(f"/api/schedules/{created['id']}", {"params": {"cleanup_old": None, "retention_days": None}}).json()

    # Defaults: clean-up on, 30 days; copy_offsite was not sent and stays off.
    assert body["params"] == {"backup_type": "full", "retention_days": 30, "cleanup_old": True, "force_backup": False,
                              "copy_offsite": False}


def test_it_merges_nested_params_key_by_key(api, monkeypatch):
    """An object inside params merges too, all the way down (no task type here has one yet)."""
    monkeypatch.setitem(registry._task_types, "NESTED", registry.TaskType("NESTED", "Nested", NestedParams,
                                                                           lambda run, now: []))
    schedule = services.schedule_save(schedule=ScheduledTask(**{**BACKUP, "task_type": "NESTED", "params": {
        "options": {"a": 1, "b": {"c": 1, "e": [1, 2]}}}}), now=NOW)

    body = api.patch(f"/api/schedules/{schedule.pk}", {"params": {"options": {"b": {"c": None, "d": 2, "e": [3]}}}}).json()

    assert body["params"] == {"label": "default", "options": {"a": 1, "b": {"d": 2, "e": [3]}}}


class NestedParams(registry.ParamsForm):
    label = forms.CharField(initial="default")
    options = forms.JSONField(required=False, initial=dict)


def test_it_merges_a_calendar_retention_key_by_key(api):
    created = create(api, params={"retention_mode": "calendar", "keep_last": 5, "keep_daily": 10, "cleanup_old": False})

    body = api.patch(f"/api/schedules/{created['id']}", {"params": {"keep_daily": 3, "keep_last": None}}).json()

    assert body["params"] == {"backup_type": "full", "retention_mode": "calendar", "keep_last": 3, "keep_daily": 3,
                              "keep_weekly": 4, "keep_monthly": 6, "cleanup_old": False, "force_backup": False,
                              "copy_offsite": True}


def test_it_refuses_a_param_the_merged_params_would_not_keep(api):
    """A calendar retention has no retention_days: merged, the value sent would vanish without a word."""
    created = create(api, params={"retention_mode": "calendar", "keep_last": 5})

    errors = errors_of(api.patch(f"/api/schedules/{created['id']}", {"params": {"retention_days": 7}}))

    assert errors == {"params.retention_days": ["retention_days: not used with the other params as they are, so it "
                                                "would not be kept. Change the param it depends on in the same "
                                                "request."]}
    assert ScheduledTask.objects.get().params == created["params"]
    body = api.patch(f"/api/schedules/{created['id']}", {"params": {"retention_mode": "days", "retention_days": 7}}).json()
    assert body["params"] == {"backup_type": "full", "retention_days": 7, "cleanup_old": True, "force_backup": False,
                              "copy_offsite": True}


def test_it_answers_400_naming_the_param_a_merge_makes_invalid_and_keeps_the_schedule(api):
    created = create(api, params={"retention_days": 14, "cleanup_old": False})

    errors = errors_of(api.patch(f"/api/schedules/{created['id']}",
                                 {"name": "Renamed", "params": {"retention_days": 0, "colour": "red"}}))

    assert set(errors) == {"params.retention_days", "params.colour"}
    schedule = ScheduledTask.objects.get()
    assert (schedule.name, schedule.params) == ("Nightly backup", created["params"])
    assert len(api_audit()) == 1


def test_it_starts_from_the_new_task_types_defaults_when_a_patch_changes_it(api, news):
    """A backup's params mean nothing to a quick sync: they are not merged into the new type's."""
    created = create(api, params={"retention_days": 14, "cleanup_old": False})

    body = api.patch(f"/api/schedules/{created['id']}",
                     {"task_type": "QUICK_SYNC_GROUP", "params": {"group_id": news.pk}}).json()
    assert body["params"] == {"group_id": news.pk}

    back = api.patch(f"/api/schedules/{created['id']}", {"task_type": "DATABASE_BACKUP"}).json()
    assert back["params"] == {"backup_type": "full", "retention_days": 30, "cleanup_old": True, "force_backup": False,
                              "copy_offsite": True}


def test_it_switches_kind_on_patch_and_clears_the_old_kinds_fields(api):
    created = create(api)

    body = api.patch(f"/api/schedules/{created['id']}",
                     {"schedule_kind": "weekly", "schedule_days": ["mon", "wed", "fri"], "schedule_time": "04:00"}).json()
    assert body["description"] == "Every Mon, Wed, Fri at 04:00 (UTC)"
    assert body["next_run_at"] == "2026-03-27T04:00:00Z"

    body = api.patch(f"/api/schedules/{created['id']}", {"schedule_kind": "interval", "interval_minutes": 30}).json()
    assert (body["schedule_time"], body["schedule_days"], body["interval_minutes"]) == (None, [], 30)


def test_it_clears_a_field_sent_as_null_on_patch(api, time_machine):
    created = create(api, schedule_kind="interval", interval_minutes=15, anchor_at="2026-03-01T00:07:00Z")
    time_machine.move_to(at("2026-03-26 12:34:56"), tick=False)

    body = api.patch(f"/api/schedules/{created['id']}", {"anchor_at": None}).json()

    # No anchor given: counted from now, on the whole minute, as when created without one.
    assert body["anchor_at"] == "2026-03-26T12:34:00Z"


def test_it_records_nothing_for_a_patch_that_changes_nothing(api):
    created = create(api)

    assert api.patch(f"/api/schedules/{created['id']}", {"name": "Nightly backup"}).status_code == 200

    assert [entry.action for entry in api_audit()] == ["create"]


def test_it_disables_by_patch_a_schedule_that_is_no_longer_valid(api, news):
    created = create(api, task_type="QUICK_SYNC_GROUP", params={"group_id": news.pk})
    news.delete()

    response = api.patch(f"/api/schedules/{created['id']}", {"enabled": False})

    assert response.status_code == 200 and response.json()["enabled"] is False
    assert response.json()["next_run_at"] is None


def test_it_deletes_a_schedule_and_keeps_its_audit_trail(api):
    created = create(api)

    response = api.delete(f"/api/schedules/{created['id']}")

    assert response.status_code == 204 and response.content == b""
    assert not ScheduledTask.objects.exists()
    assert [(entry.action, entry.schedule_name) for entry in api_audit()] == [
        ("create", "Nightly backup"), ("delete", "Nightly backup")]


def test_it_toggles_a_schedule(api):
    created = create(api)
    url = f"/api/schedules/{created['id']}/toggle"

    off = api.post(url).json()
    assert (off["enabled"], off["next_run_at"]) == (False, None)
    on = api.post(url).json()
    assert (on["enabled"], on["next_run_at"]) == (True, "2026-03-27T02:00:00Z")
    again = api.post(url, {"enabled": True}).json()
    assert again["enabled"] is True
    assert [(entry.action, entry.changes) for entry in api_audit()][1:] == [
        ("disable", {"enabled": [True, False]}), ("enable", {"enabled": [False, True]})]


@pytest.mark.parametrize("method, suffix, body", [
    ("patch", "", {"enabled": False}), ("post", "/toggle", None), ("post", "/toggle", {"enabled": False})])
def test_it_answers_a_disable_with_the_time_it_was_saved(api, time_machine, method, suffix, body):
    created = create(api)
    time_machine.move_to(at("2026-03-26 13:00"), tick=False)

    answer = getattr(api, method)(f"/api/schedules/{created['id']}{suffix}", body).json()

    assert (answer["enabled"], answer["next_run_at"], answer["updated_at"]) == (False, None, "2026-03-26T13:00:00Z")
    assert api.get(f"/api/schedules/{created['id']}").json() == answer


@pytest.mark.parametrize("method, suffix, body, enabled", [
    ("patch", "", {"name": "Renamed"}, True), ("post", "/toggle", {"enabled": True}, False)])
def test_it_answers_a_write_with_a_run_recorded_while_it_was_saved(api, monkeypatch, method, suffix, body, enabled):
    created = create(api, enabled=enabled)
    read = scheduling_api.get_schedule

    def read_then_a_run_finishes(schedule_id):
        schedule = read(schedule_id)
        ScheduledTask.objects.filter(pk=schedule_id).update(last_run_at=at("2026-03-26 11:59"),
                                                            last_outcome="succeeded")
        return schedule

    monkeypatch.setattr(scheduling_api, "get_schedule", read_then_a_run_finishes)

    answer = getattr(api, method)(f"/api/schedules/{created['id']}{suffix}", body).json()

    assert (answer["last_run_at"], answer["last_outcome"]) == ("2026-03-26T11:59:00Z", "succeeded")
    assert api.get(f"/api/schedules/{created['id']}").json() == answer


def test_it_refuses_to_enable_an_invalid_schedule_by_toggle(api, news):
    created = create(api, task_type="QUICK_SYNC_GROUP", params={"group_id": news.pk}, enabled=False)
    news.delete()

    errors = errors_of(api.post(f"/api/schedules/{created['id']}/toggle"))

    assert list(errors) == ["params.group_id"]
    assert ScheduledTask.objects.get().enabled is False


def test_it_runs_a_schedule_now(api, editor, news):
    created = create(api, name="News sync", task_type="QUICK_SYNC_GROUP", params={"group_id": news.pk})

    response = api.post(f"/api/schedules/{created['id']}/run_now")

    assert response.status_code == 200
    body = response.json()
    run = ScheduleRun.objects.get()
    assert body["run"] == {"id": run.pk, "trigger": "manual", "due_at": "2026-03-26T12:00:00Z",
                           "outcome": "dispatched", "message": "2 jobs created.",
                           "job_ids": sorted(Job.objects.values_list("pk", flat=True))}
    assert body["message"].startswith("“News sync” started: 2 jobs created.")
    assert Job.objects.filter(origin_label__endswith="(Run now by editor)").count() == 2
    assert api_audit()[-1].action == "run_now"


def test_it_refuses_run_now_while_a_run_is_active_unless_forced(api):
    created = create(api)
    url = f"/api/schedules/{created['id']}/run_now"
    assert api.post(url).status_code == 200

    errors = errors_of(api.post(url), status=409)

    assert errors["__all__"] == ["“Nightly backup” is still busy with an earlier run: 1 job queued (waiting for a "
                                 'worker). Send {"force": true} to run anyway.']
    assert ScheduleRun.objects.count() == 1
    forced = api.post(url, {"force": True})
    assert forced.status_code == 200
    assert ScheduleRun.objects.count() == 2
    assert api_audit()[-1].changes == {"forced": True}


def test_it_runs_again_once_the_previous_run_finished(api):
    created = create(api)
    url = f"/api/schedules/{created['id']}/run_now"
    api.post(url)
    Job.objects.update(status=JobStatus.COMPLETED)

    assert api.post(url, {"force": False}).status_code == 200


# --- preview ----------------------------------------------------------------------------------------

def test_it_previews_next_runs_with_a_dst_note_and_writes_nothing(api):
    response = api.post("/api/schedules/preview?count=3",
                        {"schedule_kind": "daily", "schedule_time": "02:30", "timezone": "Europe/Berlin"})

    assert response.status_code == 200
    body = response.json()
    assert body["description"] == "Every day at 02:30 (Europe/Berlin)"
    assert body["timezone"] == "Europe/Berlin"
    assert body["runs"] == [
        {"at": "2026-03-27T01:30:00Z", "local": "2026-03-27T02:30:00+01:00", "clock_change": None,
         "shifted_from": None, "note": ""},
        {"at": "2026-03-28T01:30:00Z", "local": "2026-03-28T02:30:00+01:00", "clock_change": None,
         "shifted_from": None, "note": ""},
        # 2026-03-29: clocks jump from 02:00 to 03:00, so 02:30 does not exist that night.
        {"at": "2026-03-29T01:30:00Z", "local": "2026-03-29T03:30:00+02:00", "clock_change": "forward",
         "shifted_from": "02:30", "note": "Clocks go forward: runs at 03:30 instead of 02:30."},
    ]
    assert not ScheduledTask.objects.exists() and not ScheduleAuditEntry.objects.exists()


def test_it_previews_five_runs_of_a_full_payload_by_default(api, news):
    payload = {**BACKUP, "task_type": "QUICK_SYNC_GROUP", "params": {"group_id": news.pk}}

    body = api.post("/api/schedules/preview", payload).json()

    assert len(body["runs"]) == 5


def test_it_previews_an_interval_on_whole_minutes(api, time_machine):
    time_machine.move_to(at("2026-03-26 08:18:49"), tick=False)

    body = api.post("/api/schedules/preview?count=2", {"schedule_kind": "interval", "interval_minutes": 15}).json()

    assert [run["at"] for run in body["runs"]] == ["2026-03-26T08:33:00Z", "2026-03-26T08:48:00Z"]


def test_it_checks_the_fields_a_preview_sends(api):
    errors = errors_of(api.post("/api/schedules/preview", {"schedule_time": "25:00", "name": ""}))
    assert set(errors) == {"schedule_time", "name"}

    errors = errors_of(api.post("/api/schedules/preview", {"task_type": "QUICK_SYNC_GROUP", "params": {},
                                                       "schedule_time": "03:00"}))
    assert list(errors) == ["params.group_id"]


def test_it_previews_a_task_type_without_its_params(api):
    response = api.post("/api/schedules/preview", {"task_type": "QUICK_SYNC_GROUP", "schedule_time": "05:30"})

    assert response.status_code == 200, response.content


@pytest.mark.parametrize("count", [0, 51, "x"])
def test_it_bounds_the_preview_count(api, count):
    assert list(errors_of(api.post(f"/api/schedules/preview?count={count}", {}))) == ["count"]


# --- validation: every rule of the original plan, with its field -------------------------------------

@pytest.mark.parametrize("fields, field", [
    ({"schedule_kind": "hourly"}, "schedule_kind"),
    ({"schedule_time": None}, "schedule_time"),
    ({"schedule_time": "25:00"}, "schedule_time"),
    ({"schedule_time": "7:30"}, "schedule_time"),
    ({"schedule_time": "07:30:00"}, "schedule_time"),
    ({"schedule_kind": "weekly", "schedule_days": []}, "schedule_days"),
    ({"schedule_kind": "weekly", "schedule_days": ["mon", "someday"]}, "schedule_days"),
    ({"schedule_kind": "interval", "interval_minutes": 4}, "interval_minutes"),
    ({"schedule_kind": "interval"}, "interval_minutes"),
    ({"schedule_kind": "cron", "cron_expr": "61 * * * *"}, "cron_expr"),
    ({"schedule_kind": "cron", "cron_expr": "* * *"}, "cron_expr"),
    ({"schedule_kind": "cron", "cron_expr": "0 0 30 2 *"}, "cron_expr"),  # valid, but never runs
    # 02:xx on the last Sunday of March, every time an hour Berlin's clocks skip: never runs there either.
    ({"schedule_kind": "cron", "cron_expr": "*/15 2 25-31 3 */7", "timezone": "Europe/Berlin"}, "cron_expr"),
    ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
    ({"timezone": ""}, "timezone"),
    ({"task_type": "NOT_A_TASK"}, "task_type"),
    ({"task_type": "QUICK_SYNC_GROUP"}, "params.group_id"),
    ({"task_type": "QUICK_SYNC_GROUP", "params": {"group_id": 987654}}, "params.group_id"),
    ({"params": {"retention_days": 0}}, "params.retention_days"),
    ({"params": {"cleanup_old": "yes"}}, "params.cleanup_old"),
    ({"params": {"colour": "red"}}, "params.colour"),
    ({"params": ["not", "an", "object"]}, "params"),
    ({"grace_minutes": 4}, "grace_minutes"),
    ({"overlap_policy": "sometimes"}, "overlap_policy"),
    ({"name": ""}, "name"),
    ({"name": "x" * 201}, "name"),
    ({"key": "News Daily"}, "key"),
    ({"key": "x" * 101}, "key"),
    ({"key": 5}, "key"),
    # JSON types are the schema's: no silent coercion of "15" into 15 or "yes" into true.
    ({"schedule_kind": "interval", "interval_minutes": "15"}, "interval_minutes"),
    ({"enabled": "yes"}, "enabled"),
    ({"anchor_at": "2026-03-26T08:00:00"}, "anchor_at"),  # no offset: which zone?
    ({"schedule_days": "mon"}, "schedule_days"),
    # Stored text must survive every database: no NUL (PostgreSQL), no lone surrogate.
    ({"name": "a\u0000b"}, "name"),
    ({"name": "\ud800"}, "name"),
    ({"params": {"retention_days": 7, "note\u0000": 1}}, "params"),
    # What the server keeps itself.
    ({"next_run_at": "2026-03-26T08:00:00Z"}, "next_run_at"),
    ({"id": 7}, "id"),
    ({"schedule_time_zone": "UTC"}, "schedule_time_zone"),
])
def test_it_rejects_invalid_fields_naming_them_and_writes_nothing(api, fields, field):
    errors = errors_of(api.post("/api/schedules", {**BACKUP, **fields}))

    assert field in errors and all(isinstance(message, str) and message for message in errors[field])
    assert not ScheduledTask.objects.exists() and not ScheduleAuditEntry.objects.exists()


def test_it_refuses_nul_anywhere_inside_params_saying_why(api):
    """The whole object is looked through, lists and objects within it too: PostgreSQL's jsonb refuses NUL
    wherever it is. The NUL is named, not the unknown key it sits under."""
    errors = errors_of(api.post("/api/schedules", {**BACKUP, "params": {"notes": [{"text": "a\u0000b"}]}}))

    assert errors == {"params": ["Text must not contain NUL characters."]}
    assert not ScheduledTask.objects.exists()


# Every field a schedule shows that no payload may set.
READ_ONLY = {"id", "last_run_at", "last_outcome", "next_run_at", "created_at", "updated_at", "paused_until",
             "pause_reason"} | EXTRAS


@pytest.mark.parametrize("field", sorted(READ_ONLY))
def test_it_tells_a_client_that_sends_a_read_only_field_to_leave_it_out(api, field):
    created = create(api)

    assert errors_of(api.post("/api/schedules", {**BACKUP, field: created[field]})) == {
        field: ["Read-only: leave it out."]}
    assert errors_of(api.patch(f"/api/schedules/{created['id']}", {field: created[field]})) == {
        field: ["Read-only: leave it out."]}


def test_it_tells_a_client_that_sends_an_unknown_field_that_there_is_none(api):
    assert errors_of(api.post("/api/schedules", {**BACKUP, "schedule_time_zone": "UTC"})) == {
        "schedule_time_zone": ["Unknown field."]}


def test_it_says_what_is_wrong_in_the_models_words(api):
    errors = errors_of(api.post("/api/schedules", {**BACKUP, "schedule_time": "25:00"}))

    assert errors == {"schedule_time": ["Enter the time as HH:MM in 24-hour format, 00:00 to 23:59 (got '25:00')."]}


def test_it_requires_a_name_and_a_task_type(api):
    errors = errors_of(api.post("/api/schedules", {"schedule_kind": "daily", "schedule_time": "02:00"}))

    assert set(errors) == {"name", "task_type"}


def test_it_validates_a_patch_like_a_create_and_keeps_the_schedule(api):
    created = create(api)

    errors = errors_of(api.patch(f"/api/schedules/{created['id']}", {"schedule_time": "25:00", "grace_minutes": 1}))

    assert set(errors) == {"schedule_time", "grace_minutes"}
    assert ScheduledTask.objects.get().schedule_time == "02:00"
    assert len(api_audit()) == 1


@pytest.mark.parametrize("field", ["name", "key", "task_type", "enabled", "schedule_kind", "timezone", "params",
                                   "grace_minutes", "overlap_policy"])
def test_it_refuses_null_for_a_field_that_cannot_be_empty(api, field):
    created = create(api)

    assert list(errors_of(api.patch(f"/api/schedules/{created['id']}", {field: None}))) == [field]


# --- malformed requests --------------------------------------------------------------------------------

@pytest.mark.parametrize("body", ["{not json", "[1, 2]", '"a string"', "null", "", '{"name": NaN}', "\xff\xfe"])
def test_it_answers_400_for_a_body_that_is_not_a_json_object(api, body):
    errors = errors_of(api.post("/api/schedules", body))

    assert list(errors) == ["body"]


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "text/plain", "multipart/form-data"])
def test_it_answers_415_for_a_body_that_is_not_json(api, content_type):
    errors = errors_of(api.post("/api/schedules", "name=x", content_type=content_type), status=415)

    assert "application/json" in errors["body"][0]


def test_it_answers_400_for_a_body_that_is_not_an_object_on_patch_and_toggle(api):
    created = create(api)

    assert list(errors_of(api.patch(f"/api/schedules/{created['id']}", "[]"))) == ["body"]
    assert list(errors_of(api.post(f"/api/schedules/{created['id']}/toggle", '"on"'))) == ["body"]
    assert list(errors_of(api.post(f"/api/schedules/{created['id']}/run_now", '{"force": "yes"}'))) == ["force"]


@pytest.mark.parametrize("query, field", [("enabled=maybe", "enabled"), ("limit=0", "limit"), ("limit=201", "limit"),
                                          ("cursor=%00", "cursor"), ("task_type=%00", "task_type")])
def test_it_names_a_bad_query_parameter(api, query, field):
    assert list(errors_of(api.get(f"/api/schedules?{query}"))) == [field]


# --- unknown ids ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("method, suffix", [("get", ""), ("patch", ""), ("delete", ""), ("post", "/toggle"),
                                            ("post", "/run_now"), ("post", "/pause"), ("post", "/resume")])
@pytest.mark.parametrize("schedule_id", ["999", "0", "abc", "99999999999999999999999"])
def test_it_answers_404_for_an_unknown_id(api, method, suffix, schedule_id):
    url = f"/api/schedules/{schedule_id}{suffix}"
    response = api.patch(url, {"name": "x"}) if method == "patch" else getattr(api, method)(url)

    assert list(errors_of(response, status=404)) == ["id"]


def test_it_answers_404_for_a_deleted_schedule(api):
    created = create(api)
    api.delete(f"/api/schedules/{created['id']}")

    assert errors_of(api.get(f"/api/schedules/{created['id']}"), status=404) == {
        "id": [f"No schedule with id {created['id']}."]}


# --- who may do what ------------------------------------------------------------------------------------

OPERATIONS = [
    ("get", "/api/schedules", None, "view"),
    ("get", "/api/schedules/{id}", None, "view"),
    ("post", "/api/schedules/preview", {"schedule_time": "03:00"}, "view"),
    ("post", "/api/schedules", {**BACKUP, "params": {"cleanup_old": False}}, "add"),  # clean-up needs delete_backup
    ("patch", "/api/schedules/{id}", {"name": "Renamed"}, "change"),
    ("post", "/api/schedules/{id}/toggle", None, "change"),
    ("post", "/api/schedules/{id}/run_now", None, "change"),
    ("post", "/api/schedules/{id}/pause", {"until": "2026-03-27T08:00:00+01:00"}, "change"),
    ("post", "/api/schedules/{id}/resume", None, "change"),
    ("delete", "/api/schedules/{id}", None, "delete"),
]


@pytest.fixture
def schedule(db):
    return services.schedule_save(schedule=ScheduledTask(**BACKUP), now=NOW)


def call(client, method, path, body, schedule):
    url = path.format(id=schedule.pk)
    return getattr(client, method)(url, body) if body is not None else getattr(client, method)(url)


@pytest.mark.parametrize("method, path, body, needed", OPERATIONS)
def test_it_needs_the_model_permission_of_each_operation(method, path, body, needed, schedule):
    others = [action for action in ALL_ACTIONS if action != needed]
    refused = call(token_client(user_with(*others)), method, path, body, schedule)

    errors = errors_of(refused, status=403)
    assert f"scheduling.{needed}_scheduledtask" in errors["__all__"][0]
    assert ScheduleAuditEntry.objects.filter(via=Via.API).count() == 0

    allowed = call(token_client(user_with(needed)), method, path, body, schedule)
    assert allowed.status_code in (200, 201, 204), allowed.content


@pytest.mark.parametrize("method, path, body, needed", OPERATIONS)
def test_it_answers_401_json_to_anonymous_requests(client, method, path, body, needed, schedule):
    response = call(client, method, path, body, schedule)

    errors = errors_of(response, status=401)
    assert "Authorization: Bearer" in errors["__all__"][0]
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert ScheduledTask.objects.get(pk=schedule.pk).name == "Nightly backup"


# --- audit: one entry with the diff per write ---------------------------------------------------------------

def test_it_records_one_audit_entry_with_the_diff_for_each_api_write(api, editor):
    created = create(api)
    url = f"/api/schedules/{created['id']}"
    api.patch(url, {"schedule_time": "03:15", "timezone": "Europe/Berlin"})
    api.post(f"{url}/toggle")
    api.post(f"{url}/toggle")
    api.post(f"{url}/run_now")
    api.delete(url)

    entries = api_audit()
    assert [entry.action for entry in entries] == ["create", "update", "disable", "enable", "run_now", "delete"]
    assert all((entry.actor, entry.actor_name, entry.via) == (editor, "editor", "api") for entry in entries)
    assert entries[1].changes == {"schedule_time": ["02:00", "03:15"], "timezone": ["UTC", "Europe/Berlin"]}
    assert entries[5].changes["name"] == ["Nightly backup", None]


def test_it_answers_413_for_a_body_over_the_size_limit(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000

    errors = errors_of(api.post("/api/schedules", {**BACKUP, "name": "x" * 2000}), status=413)

    assert errors == {"body": ["The body is too large."]}
