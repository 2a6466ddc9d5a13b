"""The log formats: readable key=value lines and JSON lines, with the fields given through `extra`."""

import datetime as dt
import json
import logging
import subprocess
import sys

import pytest

from common.logs import JsonFormatter, KeyValueFormatter
from tests.servers import ROOT


def record(message="Job %s started", *args, exc_info=None, **fields):
    line = logging.LogRecord("jobs.runner", logging.INFO, __file__, 1, message, args or (5,), exc_info)
    line.__dict__.update(fields)
    line.created = 1796119200.25  # 2026-12-01T10:00:00.250Z
    return line


def test_it_writes_the_fields_after_the_message_as_key_value():
    line = KeyValueFormatter().format(record(event="job_start", job_id=5, attempt=2, retry=True, worker=None))

    assert line == ("2026-12-01T10:00:00.250Z INFO jobs.runner: Job 5 started event=job_start job_id=5 attempt=2 "
                    "retry=true worker=null")


def test_it_quotes_values_a_reader_could_not_split_again():
    line = KeyValueFormatter().format(record(error='ValueError: a "b" = c', empty="", fields=["name", "enabled"]))

    assert line.endswith(' error="ValueError: a \\"b\\" = c" empty="" fields=["name","enabled"]')


def test_it_writes_one_json_object_per_line_with_the_fields_and_the_exception():
    try:
        raise RuntimeError("boom\nsecond line")
    except RuntimeError:
        line = JsonFormatter().format(record(exc_info=sys.exc_info(), job_id=5,
                                             due_at=dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)))

    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["time"] == "2026-12-01T10:00:00.250Z"
    assert (parsed["level"], parsed["logger"], parsed["message"]) == ("INFO", "jobs.runner", "Job 5 started")
    assert (parsed["job_id"], parsed["due_at"]) == (5, "2026-12-01T00:00:00+00:00")
    assert parsed["exception"].startswith("Traceback") and "RuntimeError: boom" in parsed["exception"]


def test_it_keeps_the_line_s_own_keys_when_a_field_has_the_same_name():
    parsed = json.loads(JsonFormatter().format(record(level="mine", time="mine")))

    assert (parsed["level"], parsed["time"]) == ("INFO", "2026-12-01T10:00:00.250Z")


@pytest.mark.parametrize("value", ["xml", "JSONL", "key=value"])
def test_it_refuses_a_log_format_it_does_not_know(tmp_path, value):
    done = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "config.settings",
                               "VAR_DIR": str(tmp_path), "LOG_FORMAT": value})

    assert done.returncode != 0
    assert f"LOG_FORMAT={value!r} is not allowed; use text or json." in done.stderr


@pytest.mark.parametrize("value", ["json", "JSON", "text", ""])
def test_it_takes_the_formats_it_knows(tmp_path, value):
    done = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "config.settings",
                               "VAR_DIR": str(tmp_path), "LOG_FORMAT": value})

    assert done.returncode == 0, done.stderr
