"""Hostile input at the management commands: arguments, files and the environment they read.

Rows are (command, arguments, the argument the error must name). Each must end in CommandError (exit code
not 0, one line, no traceback) naming that argument, with the stored data unchanged. A few rows run through
`manage.py` in a subprocess, to see the real exit code and standard error. The import command's own file
checks (a file too large, not UTF-8, a YAML bomb, a missing file) are in
tests/scheduling/test_schedules_as_code.py; the rows here add what that file does not ask (a binary file, a
folder, JSON nested too deeply, a key given twice, 1e999).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from scheduling import services
from scheduling.models import ScheduledTask
from tests.hostile.conftest import HUGE_ID, stored_data

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
INTERVAL = {"name": "Hourly backup", "task_type": "DATABASE_BACKUP", "schedule_kind": "interval",
            "interval_minutes": 60}


@pytest.fixture
def schedule(world):
    return services.schedule_save(schedule=ScheduledTask(**INTERVAL), now=timezone.now())


@pytest.fixture
def files(tmp_path):
    """Files no command should take for what it asks."""
    (tmp_path / "binary.bin").write_bytes(bytes(range(256)) * 64)
    (tmp_path / "not-a-backup.sqlite3.zst").write_bytes(b"not zstd at all")
    (tmp_path / "folder").mkdir()
    (tmp_path / "nested.json").write_text("[" * 100_000 + "]" * 100_000)
    (tmp_path / "duplicate.json").write_text('{"schedules": {}, "schedules": {"x": {}}}')
    (tmp_path / "infinite.json").write_text('{"version": 1e999, "schedules": {}}')
    return tmp_path


# (command, its arguments ({tmp} is a folder of odd files, {id} a real schedule's id), the argument named)
ROWS = [
    ("run_schedule", ["-1"], "schedule_id"),
    ("run_schedule", ["abc"], "schedule_id"),
    ("run_schedule", [str(HUGE_ID)], "schedule_id"),
    ("run_schedule", ["0"], "schedule_id"),
    ("schedule_tick", ["--now", "garbage"], "--now"),
    ("schedule_tick", ["--now", "0000-01-01T00:00:00Z"], "--now"),
    ("schedule_tick", ["--now", "99999-01-01T00:00:00Z"], "--now"),
    ("schedule_tick", ["--now", "9999-12-31T23:59:59-14:00"], "--now"),
    ("schedule_tick", ["--now", "0001-01-01T00:00:00+14:00"], "--now"),
    ("schedule_tick", ["--now", "2026-03-29T05:30:00"], "--now"),
    ("schedule_tick", ["--now", "2026-02-30T05:30:00Z"], "--now"),
    ("pause_schedule", ["{id}", "--until", "garbage"], "until"),
    ("pause_schedule", ["{id}", "--until", "0001-01-01T00:00:00+14:00"], "until"),
    ("pause_schedule", ["{id}", "--until", "9999-12-31T23:59:59-14:00"], "until"),
    ("pause_schedule", ["{id}", "--until", "2999-01-01T00:00"], "until"),
    ("pause_schedule", ["{id}", "--until", "tomorrow", "--reason", "x" * 1000], "until"),
    ("pause_schedule", [str(HUGE_ID), "--resume"], "schedule_id"),
    ("pause_schedule", ["-1", "--resume"], "schedule_id"),
    ("import_schedules", ["{tmp}/binary.bin"], "file"),
    ("import_schedules", ["{tmp}/folder"], "file"),
    ("import_schedules", ["{tmp}/nested.json"], "file"),
    ("import_schedules", ["{tmp}/duplicate.json"], "file"),
    ("import_schedules", ["{tmp}/infinite.json"], "file"),
    ("export_schedules", ["--format", "bogus"], "--format"),
    ("export_schedules", ["--output", "{tmp}/folder"], "--output"),
    ("export_schedules", ["--output", "{tmp}/missing/deeper/out.json"], "--output"),
    ("restore_backup", ["--yes", "--file", "{tmp}/not-a-backup.sqlite3.zst"], "--file"),
    ("restore_backup", ["--yes", "--file", "{tmp}/folder"], "--file"),
    ("restore_backup", ["--yes", "--file", "{tmp}/missing.sqlite3.zst"], "--file"),
    ("restore_backup", ["--yes", str(HUGE_ID)], "backup_id"),
    ("restore_backup", ["--yes", "-1"], "backup_id"),
    ("verify_backup", [str(HUGE_ID)], "backup_id"),
    ("verify_backup", ["abc"], "backup_id"),
    ("create_api_token", ["nobody"], "username"),
    ("create_api_token", ["admin", "--name", "x" * 1000], "name"),
]


def run(command: str, arguments: list[str], schedule, tmp: Path):
    arguments = [argument.replace("{tmp}", str(tmp)).replace("{id}", str(schedule.pk)) for argument in arguments]
    call_command(command, *arguments)


@pytest.mark.parametrize("command, arguments, named", [
    pytest.param(*row, id=f"{row[0]}-{' '.join(row[1])[:40]}") for row in ROWS])
def test_it_refuses_a_hostile_argument_naming_it(schedule, files, command, arguments, named):
    before = stored_data()

    with pytest.raises(CommandError) as refused:
        run(command, arguments, schedule, files)

    message = str(refused.value)
    assert named.lstrip("-") in message, message
    assert "\n" not in message.strip() or len(message) < 1000, message
    assert getattr(refused.value, "returncode", 1) != 0
    assert stored_data() == before


def test_it_refuses_an_admin_name_no_login_can_have(monkeypatch, db):
    """ensure_admin reads its name from the environment: one the login form could never take is refused."""
    for name in ["x" * 1000, "bad name!", "a\u202eb"]:
        monkeypatch.setenv("DJANGO_SUPERUSER_USERNAME", name)
        before = stored_data()

        with pytest.raises(CommandError, match="DJANGO_SUPERUSER_USERNAME"):
            call_command("ensure_admin")

        assert stored_data() == before


# --- the real exit code and standard error ---------------------------------------------------------------

SUBPROCESS_ROWS = [
    (["run_schedule", "abc"], "schedule_id"),
    (["run_schedule", str(HUGE_ID)], "schedule_id"),
    (["schedule_tick", "--now", "garbage"], "--now"),
    (["export_schedules", "--format", "bogus"], "--format"),
    (["restore_backup", "--yes", "--file", "/nonexistent/db.sqlite3.zst"], "--file"),
]


@pytest.fixture(scope="module")
def manage_env(tmp_path_factory):
    """The environment of a `manage.py` with a fresh database of its own, migrated once for all rows."""
    folder = tmp_path_factory.mktemp("manage")
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{folder / 'db.sqlite3'}", "BACKUP_DIR": str(folder / "backups"),
           "DJANGO_SETTINGS_MODULE": "config.settings"}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True, timeout=300)
    return env


@pytest.mark.integration
@pytest.mark.parametrize("arguments, named", SUBPROCESS_ROWS, ids=[" ".join(row[0]) for row in SUBPROCESS_ROWS])
def test_it_exits_non_zero_with_one_clear_line(manage_env, arguments, named):
    """Through manage.py: exit code not 0, the argument named, no traceback (about 20 s in all)."""
    done = subprocess.run([sys.executable, "manage.py", *arguments], cwd=ROOT, env=manage_env, capture_output=True,
                          text=True, timeout=120)

    assert done.returncode != 0
    assert named.lstrip("-") in done.stderr, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
