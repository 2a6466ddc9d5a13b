"""Schedules as code: the key, `export_schedules`, `import_schedules` (scheduling.portable)."""

import io
import json

import pytest
import yaml
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from channels.models import ChannelGroup
from common.actors import Actor, Via
from notifications.models import NotificationChannel
from scheduling import portable, services
from scheduling.models import ScheduleAuditEntry, ScheduledTask
from tests.factories import ChannelGroupFactory, NotificationChannelFactory, UserFactory
from tests.scheduling.conftest import at

pytestmark = pytest.mark.django_db

NOW = at("2026-03-26 12:00")
BACKUP = {"name": "Nightly backup", "task_type": "DATABASE_BACKUP", "schedule_kind": "daily", "schedule_time": "02:00",
          "params": {"cleanup_old": False}}


@pytest.fixture(autouse=True)
def frozen(time_machine):
    time_machine.move_to(NOW, tick=False)


def save(**fields) -> ScheduledTask:
    return services.schedule_save(schedule=ScheduledTask(**{**BACKUP, **fields}), now=NOW)


def export(fmt="json") -> str:
    out = io.StringIO()
    call_command("export_schedules", "--format", fmt, stdout=out)
    return out.getvalue()


def run_import(tmp_path, text: str, *args: str, name="schedules.yaml") -> str:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    out = io.StringIO()
    call_command("import_schedules", str(path), *args, stdout=out)
    return out.getvalue()


def refused(tmp_path, text, *args: str, name="schedules.yaml") -> list[str]:
    """The error lines of an import that must write nothing."""
    before, audited = export(), ScheduleAuditEntry.objects.count()
    with pytest.raises(CommandError) as caught:
        run_import(tmp_path, text, *args, name=name)
    assert export() == before and ScheduleAuditEntry.objects.count() == audited
    first, *lines = str(caught.value).splitlines()
    assert "nothing imported" in first
    return lines


def document(**entries) -> str:
    return json.dumps({"version": 1, "schedules": entries})


# --- the key --------------------------------------------------------------------------------------------------

def test_it_makes_a_key_from_the_name_and_numbers_the_next_ones():
    keys = [save(name=name).key for name in ("News daily", "News daily", "news  DAILY!", "Über-Backup", "日本")]

    assert keys == ["news-daily", "news-daily-2", "news-daily-3", "uber-backup", "schedule"]


def test_it_keeps_the_key_when_the_name_changes():
    schedule = save(name="News daily")
    schedule.name = "Morning news"

    assert services.schedule_save(schedule=schedule, now=NOW).key == "news-daily"
    assert ScheduledTask.objects.get().key == "news-daily"


def test_it_gives_a_key_to_a_schedule_saved_without_validation():
    assert ScheduledTask.objects.create(**BACKUP).key == "nightly-backup"


@pytest.mark.parametrize("key", ["News-Daily", "news daily", "-news", "news.daily", "x" * 101])
def test_it_refuses_a_key_that_is_not_a_lower_case_slug(key):
    with pytest.raises(ValidationError) as caught:
        save(key=key)

    assert list(caught.value.message_dict) == ["key"]
    assert not ScheduledTask.objects.exists()


def test_it_refuses_a_key_another_schedule_has_and_names_that_schedule():
    save(name="News daily")

    with pytest.raises(ValidationError) as caught:
        save(name="Other", key="news-daily")

    assert caught.value.message_dict == {"key": ["The key “news-daily” is taken by the schedule “News daily”: "
                                                 "keys are unique."]}


# --- export ---------------------------------------------------------------------------------------------------

@pytest.fixture
def library(db):
    """Schedules of every kind, with a channel group and notification channels to name."""
    news = ChannelGroupFactory(name="News")
    ops = NotificationChannelFactory(name="ops")
    twins = [NotificationChannelFactory(name="pager"), NotificationChannelFactory(name="pager")]
    save()
    save(name="Weekly report", schedule_kind="weekly", schedule_days=["fri", "mon"], schedule_time="04:00",
         timezone="Europe/Berlin", notify_channels=[twins[1].pk, ops.pk])
    save(name="Every quarter hour", schedule_kind="interval", interval_minutes=15, enabled=False,
         anchor_at=at("2026-01-01 00:07"))
    save(name="News sync", key="news-weekdays", task_type="QUICK_SYNC_GROUP", params={"group_id": news.pk},
         schedule_kind="cron", cron_expr="30 5 * * mon-fri", grace_minutes=30, overlap_policy="allow")
    return {"news": news, "ops": ops, "twins": twins}


def test_it_exports_the_editable_fields_keyed_and_sorted_with_names_for_references(library):
    exported = json.loads(export())

    assert exported["version"] == 1
    schedules = exported["schedules"]
    assert list(schedules) == ["every-quarter-hour", "news-weekdays", "nightly-backup", "weekly-report"]
    assert schedules["news-weekdays"] == {
        "name": "News sync", "task_type": "QUICK_SYNC_GROUP", "enabled": True, "schedule_kind": "cron",
        "cron_expr": "30 5 * * mon-fri", "timezone": "UTC", "params": {"group_id": "News"}, "grace_minutes": 30,
        "overlap_policy": "allow", "notify_channels": []}
    assert schedules["every-quarter-hour"]["anchor_at"] == "2026-01-01T00:07:00Z"
    assert "schedule_time" not in schedules["every-quarter-hour"]
    assert schedules["weekly-report"]["schedule_days"] == ["mon", "fri"]
    # By name; by id where two channels share the name.
    assert schedules["weekly-report"]["notify_channels"] == ["ops", library["twins"][1].pk]
    assert list(schedules["nightly-backup"]["params"]) == sorted(schedules["nightly-backup"]["params"])
    assert not {"id", "next_run_at", "last_run_at", "created_at", "key"} & set(schedules["nightly-backup"])


def test_it_writes_the_same_file_twice_and_to_a_file_on_request(library, tmp_path):
    out = io.StringIO()
    call_command("export_schedules", "--format", "yaml", "--output", str(tmp_path / "s.yaml"), stdout=out)

    assert (tmp_path / "s.yaml").read_text() == export("yaml") == export("yaml")
    assert out.getvalue() == f"Wrote 4 schedules to {tmp_path / 's.yaml'}.\n"
    assert export("yaml").startswith("# Schedules of the channel archive")


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_an_export_imported_into_an_empty_database_exports_the_same_file(library, tmp_path, fmt):
    exported = export(fmt)
    ScheduledTask.objects.all().delete()
    ChannelGroup.objects.all().delete()
    NotificationChannel.objects.all().delete()
    # The same names under other ids, as on another installation.
    twins = [NotificationChannelFactory(name="pager"), NotificationChannelFactory(name="pager")]
    ChannelGroupFactory(name="Lawyers")
    news = ChannelGroupFactory(name="News")
    ops = NotificationChannelFactory(name="ops")
    text = exported.replace(str(library["twins"][1].pk), str(twins[1].pk)) if fmt == "json" else exported.replace(
        f"- {library['twins'][1].pk}\n", f"- {twins[1].pk}\n")

    output = run_import(tmp_path, text, name=f"s.{fmt}")

    assert output.splitlines()[-1] == "4 created, 0 changed, 0 deleted, 0 unchanged."
    assert ScheduledTask.objects.get(key="news-weekdays").params == {"group_id": news.pk}
    assert ScheduledTask.objects.get(key="weekly-report").notify_channels == sorted([ops.pk, twins[1].pk])
    assert export(fmt) == text


def test_it_exports_params_completed_so_an_older_row_imports_unchanged(library, tmp_path):
    """The migrations' default schedules carry the params of their day; those added since have defaults."""
    ScheduledTask.objects.filter(key="nightly-backup").update(params={"backup_type": "full", "cleanup_old": False})

    params = json.loads(export())["schedules"]["nightly-backup"]["params"]

    assert params["retention_days"] == 30 and params["copy_offsite"] is True
    assert run_import(tmp_path, export()).splitlines()[-1] == "0 created, 0 changed, 0 deleted, 4 unchanged."


# --- import ---------------------------------------------------------------------------------------------------

def test_it_creates_changes_and_keeps_and_says_which_fields_changed(library, tmp_path):
    exported = json.loads(export())
    schedules = exported["schedules"]
    schedules["nightly-backup"]["schedule_time"] = "03:15"
    schedules["nightly-backup"]["params"]["retention_days"] = 7
    del schedules["weekly-report"]
    schedules["news-evening"] = {"name": "News evening", "task_type": "QUICK_SYNC_GROUP",
                                 "params": {"group_id": "News"}, "schedule_time": "19:00"}

    output = run_import(tmp_path, json.dumps(exported))

    assert output.splitlines() == [
        "news-evening: created",
        "nightly-backup: changed (params, schedule_time)",
        "unchanged: every-quarter-hour, news-weekdays",
        "kept: weekly-report",
        "1 created, 1 changed, 0 deleted, 2 unchanged. 1 not in the document kept (--prune / prune=true deletes "
        "them).",
    ]
    backup = ScheduledTask.objects.get(key="nightly-backup")
    assert (backup.schedule_time, backup.params["retention_days"]) == ("03:15", 7)
    assert str(backup.next_run_at) == "2026-03-27 03:15:00+00:00"
    created = ScheduledTask.objects.get(key="news-evening")
    assert (created.params, created.enabled, created.timezone) == ({"group_id": library["news"].pk}, True, "UTC")
    assert ScheduledTask.objects.filter(key="weekly-report").exists()


def test_it_audits_each_write_as_an_import(library, tmp_path):
    exported = json.loads(export())
    exported["schedules"]["nightly-backup"]["enabled"] = False
    exported["schedules"]["copy"] = {**exported["schedules"]["nightly-backup"], "name": "Copy"}
    del exported["schedules"]["weekly-report"]

    run_import(tmp_path, json.dumps(exported), "--prune")

    entries = ScheduleAuditEntry.objects.filter(via=Via.IMPORT).order_by("schedule_name")
    assert [(e.schedule_name, e.action, e.actor_name) for e in entries] == [
        ("Copy", "create", ""), ("Nightly backup", "disable", ""), ("Weekly report", "delete", "")]
    assert entries[1].changes == {"enabled": [True, False]}


def test_a_second_import_of_the_same_file_changes_nothing(library, tmp_path):
    exported = json.loads(export())
    exported["schedules"]["nightly-backup"]["grace_minutes"] = 90
    text = yaml.safe_dump(exported)
    run_import(tmp_path, text)
    audited, updated = ScheduleAuditEntry.objects.count(), list(ScheduledTask.objects.values_list("updated_at"))

    output = run_import(tmp_path, text)

    assert output.splitlines()[-1] == "0 created, 0 changed, 0 deleted, 4 unchanged."
    assert ScheduleAuditEntry.objects.count() == audited
    assert list(ScheduledTask.objects.values_list("updated_at")) == updated


def test_prune_deletes_the_schedules_the_file_does_not_list(library, tmp_path):
    exported = json.loads(export())
    kept = {key: exported["schedules"][key] for key in ("nightly-backup",)}

    output = run_import(tmp_path, document(**kept), "--prune")

    assert list(ScheduledTask.objects.values_list("key", flat=True)) == ["nightly-backup"]
    assert output.splitlines()[-1] == "0 created, 0 changed, 3 deleted, 1 unchanged."
    assert "weekly-report: deleted" in output.splitlines()


def test_a_dry_run_says_what_would_change_and_writes_nothing(library, tmp_path):
    exported = json.loads(export())
    exported["schedules"]["nightly-backup"]["schedule_time"] = "04:00"
    exported["schedules"]["fresh"] = {"name": "Fresh", "task_type": "DATABASE_BACKUP", "schedule_time": "01:00"}
    del exported["schedules"]["weekly-report"]
    before, audited = export(), ScheduleAuditEntry.objects.count()

    output = run_import(tmp_path, json.dumps(exported), "--dry-run", "--prune")

    assert export() == before and ScheduleAuditEntry.objects.count() == audited
    assert "fresh: created" in output and "nightly-backup: changed (schedule_time)" in output
    assert output.splitlines()[-1] == ("Dry run, nothing written: 1 to create, 1 to change, 1 to delete, "
                                       "2 unchanged.")


def test_an_entry_gets_the_defaults_of_the_fields_it_leaves_out_but_an_interval_keeps_its_anchor(library, tmp_path):
    exported = json.loads(export())
    quarter = exported["schedules"]["every-quarter-hour"]
    del quarter["enabled"], quarter["anchor_at"]
    weekly = exported["schedules"]["weekly-report"]
    del weekly["timezone"], weekly["notify_channels"]

    output = run_import(tmp_path, json.dumps(exported))

    assert "every-quarter-hour: changed (enabled)" in output
    assert "weekly-report: changed (timezone, notify_channels)" in output
    schedule = ScheduledTask.objects.get(key="every-quarter-hour")
    assert (schedule.enabled, schedule.anchor_at) == (True, at("2026-01-01 00:07"))


# --- an invalid entry: nothing is written, every error names the key and the field -------------------------

def test_one_invalid_entry_applies_nothing_and_each_error_names_its_key_and_field(library, tmp_path):
    exported = json.loads(export())
    exported["schedules"]["nightly-backup"]["schedule_time"] = "25:00"
    exported["schedules"]["weekly-report"]["schedule_time"] = "05:00"  # valid: not written either
    exported["schedules"]["news-weekdays"]["params"] = {"group_id": "Sports"}
    exported["schedules"]["fresh"] = {"name": "Fresh", "task_type": "DATABASE_BACKUP", "schedule_kind": "interval",
                                      "interval_minutes": 3, "grace_minutes": "60"}

    lines = refused(tmp_path, json.dumps(exported), "--prune")

    assert lines == [
        "fresh: grace_minutes: Input should be a valid integer",
        "news-weekdays: params.group_id: Channel group: there is no channel group named “Sports”.",
        "nightly-backup: schedule_time: Enter the time as HH:MM in 24-hour format, 00:00 to 23:59 (got '25:00').",
    ]
    exported["schedules"]["fresh"]["grace_minutes"] = 60
    assert "fresh: interval_minutes: " in "\n".join(refused(tmp_path, json.dumps(exported)))


@pytest.mark.parametrize("entry, line", [
    ({"name": "X", "task_type": "DATABASE_BACKUP", "id": 4}, "bad: id: Read-only: leave it out."),
    ({"name": "X", "task_type": "DATABASE_BACKUP", "key": "other"},
     "bad: key: Leave it out: an entry's key is the name it is listed under."),
    ({"name": "X", "task_type": "DATABASE_BACKUP", "colour": "red"}, "bad: colour: Unknown field (the fields are: "
     "name, task_type, enabled, schedule_kind, schedule_time, schedule_days, interval_minutes, anchor_at, "
     "cron_expr, timezone, params, grace_minutes, overlap_policy, notify_channels)."),
    ({"task_type": "DATABASE_BACKUP"}, "bad: name: Field required"),
    ({"name": "X", "task_type": "NOPE"}, "bad: task_type: Unknown task type 'NOPE'. Known: BACKUP_RESTORE_DRILL, "
     "DATABASE_BACKUP, QUICK_SYNC_GROUP."),
    ({"name": "X", "task_type": "DATABASE_BACKUP", "schedule_time": 330},
     "bad: schedule_time: Use HH:MM in quotes, e.g. \"05:30\": unquoted, YAML may read a time as a number."),
    ({"name": "X", "task_type": "DATABASE_BACKUP", "anchor_at": "2026-01-01T00:00:00"},
     "bad: anchor_at: Input should have timezone info"),
    ({"name": "X", "task_type": "DATABASE_BACKUP", "notify_channels": ["nobody"]},
     "bad: notify_channels: There is no notification channel named “nobody”: see /notifications for the channels."),
    ({"name": "X", "task_type": "DATABASE_BACKUP", "notify_channels": ["pager"]},
     "bad: notify_channels: 2 notification channels are named “pager”: give the id of the one meant (IDS)."),
    ({"name": "X", "task_type": "DATABASE_BACKUP", "params": {"retention_days": 0, "colour": 1}},
     "bad: params.colour: colour: unknown parameter (allowed: backup_type, "),
    ({"name": "a\u0000b", "task_type": "DATABASE_BACKUP"}, "bad: name: Text must not contain NUL characters."),
    ("not a mapping", "bad: Give the schedule's fields as a mapping (name, task_type, …)."),
])
def test_it_names_the_key_and_field_of_each_mistake(library, tmp_path, entry, line):
    line = line.replace("IDS", ", ".join(str(c.pk) for c in library["twins"]))
    if isinstance(entry, dict):
        entry.setdefault("schedule_time", "02:00")

    assert any(found.startswith(line) for found in refused(tmp_path, document(bad=entry)))


def test_it_refuses_a_key_that_is_not_a_slug_by_the_models_rule(library, tmp_path):
    assert refused(tmp_path, document(**{"Nightly Backup": {"name": "X", "task_type": "DATABASE_BACKUP",
                                                                 "schedule_time": "02:00"}})) == [
        "Nightly Backup: key: Use lower-case letters, digits, hyphens and underscores, starting with a letter or "
        "digit, e.g. news-daily."]


def test_it_refuses_a_change_the_task_type_refuses_for_the_user(library):
    """The API's user must be allowed what the editor would allow them (here: a retention deleting backups)."""
    exported = json.loads(export())
    exported["schedules"]["nightly-backup"]["params"]["cleanup_old"] = True
    user = UserFactory()

    for dry_run in (True, False):  # a dry run says so too
        with pytest.raises(portable.ImportRefused) as caught:
            portable.apply(portable.load(json.dumps(exported)), now=NOW, actor=Actor(Via.IMPORT, user),
                           dry_run=dry_run)

        [(where, messages)] = caught.value.errors.items()
        assert where[0] == "nightly-backup" and where[1].startswith("params") and "backups.delete_backup" in messages[0]


# --- a bad file: a clear error saying where --------------------------------------------------------------------

@pytest.mark.parametrize("text, message", [
    ("", "The document is empty"),
    ("- a\n- b\n", "The document must be a mapping with “version” and “schedules”."),
    ("version: 1\nschedules: []\n", "schedules: Give the schedules as a mapping from key to fields ({} for none)."),
    ("version: 2\nschedules: {}\n", "version: This app reads version 1 of the format; the document says 2."),
    ("schedules: {}\nextra: 1\n", "Unknown: extra. The document holds “version” and “schedules” only."),
    ("schedules:\n  a: {name: A}\n  a: {name: B}\n",
     "Not valid YAML: the key “a” appears twice in one mapping (line 3, column 3)."),
    ('{"schedules": {"a": {}, "a": {}}}', "The key “a” appears twice in one object: give each key once."),
    ('{"schedules": {"a": {"name": NaN}}}', "Not valid JSON: NaN is not a JSON number."),
    ('{"schedules": ', "Not valid JSON: Expecting value (line 1, column 15)."),
    ("schedules: {a: [}\n", "Not valid YAML: "),
    ("schedules:\n  2024: {name: A}\n", '2024: A key is text: write it in quotes ("2024").'),
    ('schedules:\n  "": {name: A, task_type: DATABASE_BACKUP, schedule_time: "02:00"}\n',
     "schedules: A key cannot be empty."),
    ("schedules: !!python/object/apply:os.system [echo hi]\n", "Not valid YAML: could not determine a constructor"),
    ("a: &a [1, 2]\nschedules: {x: {name: *a}}\n", "Not valid YAML: aliases (*name) are not allowed"),
    (b"schedules: {}\n\xff\xfe", "The document is not UTF-8 text: byte 0xff at offset 14 is not valid UTF-8."),
    ("[" * 100_000, "The document nests too deeply"),
])
def test_it_refuses_a_bad_file_saying_where(library, tmp_path, text, message):
    lines = refused(tmp_path, text)

    assert any(line.startswith(message) for line in lines), lines


def test_it_refuses_a_billion_laughs_without_expanding_it(library, tmp_path):
    laughs = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"] + [
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]" for i in range(8)]

    lines = refused(tmp_path, "\n".join(laughs) + "\nschedules: {}\n")

    assert lines[0].startswith("Not valid YAML: aliases (*name) are not allowed")


def test_it_refuses_a_file_too_large_before_parsing_it(library, tmp_path):
    text = "schedules: {}\n" + "#" * portable.MAX_DOCUMENT_BYTES

    assert refused(tmp_path, text) == [f"The document is larger than {portable.MAX_DOCUMENT_BYTES:,} bytes: too "
                                       "large for a file of schedules."]


def test_it_reads_the_document_from_standard_input(library, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(export().encode())))
    out = io.StringIO()

    call_command("import_schedules", "-", "--dry-run", stdout=out)

    assert out.getvalue().splitlines()[-1] == "Dry run, nothing written: 0 to create, 0 to change, 0 to delete, " \
                                              "4 unchanged."


def test_it_says_which_file_it_cannot_read(tmp_path):
    with pytest.raises(CommandError, match="file: cannot read .*missing.yaml: No such file or directory."):
        call_command("import_schedules", str(tmp_path / "missing.yaml"))


# --- the pages and the admin show the key ------------------------------------------------------------------------

def test_the_schedule_page_shows_its_key(client):
    schedule = save(name="News daily")
    client.force_login(UserFactory(permissions=["scheduling.view_scheduledtask"]))

    content = client.get(f"/schedules/{schedule.pk}").content.decode()

    assert "<dt>Key</dt><dd><code>news-daily</code>" in content


def test_the_admin_edits_the_key_and_makes_one_when_left_empty(staff_client):
    from tests.scheduling.test_admin import ADD, form_data

    assert staff_client.post(ADD, form_data(name="News daily", key="")).status_code == 302
    assert staff_client.post(ADD, form_data(name="Other", key="news-daily")).status_code == 200
    assert staff_client.post(ADD, form_data(name="Other", key="my-own")).status_code == 302

    assert sorted(ScheduledTask.objects.values_list("key", flat=True)) == ["my-own", "news-daily"]


# --- the migration that gives existing schedules their keys -------------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_the_migration_gives_each_existing_schedule_a_key_from_its_name_oldest_first():
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    def migrate(targets):
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(targets)
        return executor.loader.project_state(targets).apps

    try:
        old = migrate([("scheduling", "0009_dispatched_runs_index")])
        Schedule = old.get_model("scheduling", "ScheduledTask")
        Schedule.objects.all().delete()
        for name in ("News", "News", "Über backup!", "日本", "News 2"):
            Schedule.objects.create(name=name, task_type="DATABASE_BACKUP", schedule_time="02:00")

        new = migrate([("scheduling", "0010_schedule_key_and_import")])

        keys = new.get_model("scheduling", "ScheduledTask").objects.order_by("pk").values_list("key", flat=True)
        assert list(keys) == ["news", "news-2", "uber-backup", "schedule", "news-2-2"]
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


def test_a_failure_half_way_through_the_writes_undoes_the_writes_before_it(library, tmp_path, monkeypatch):
    """A schedule saved by someone else between the check and the write (say) fails the import as a whole."""
    exported = json.loads(export())
    for entry in exported["schedules"].values():
        entry["grace_minutes"] = 45
    before = export()
    real_save, saved = services.schedule_save, []

    def save_then_fail(*, schedule, now, actor):
        if saved:
            raise ValidationError({"schedule_time": ["Changed meanwhile."]})
        saved.append(schedule.key)
        return real_save(schedule=schedule, now=now, actor=actor)

    monkeypatch.setattr(services, "schedule_save", save_then_fail)

    assert refused(tmp_path, json.dumps(exported)) == ["news-weekdays: schedule_time: Changed meanwhile."]
    assert saved == ["every-quarter-hour"] and export() == before
