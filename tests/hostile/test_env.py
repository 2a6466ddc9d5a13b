"""Hostile values in every environment variable config/settings.py reads.

Each variable either starts with its documented fallback or stops start-up with ImproperlyConfigured naming
it, raised from config/settings.py itself: one clear line, not an error deep inside a library. The variables
are found in the settings' source, so a new one joins the table by itself.

All rows run in one Python process (`PROBE`): it imports the settings afresh for each row and applies the
logging configuration as django.setup() would, so the table takes seconds, not a process per row.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = ROOT / "config" / "settings.py"
READS = re.compile(r'\benv(?:_bool|_int|_choice|_apprise_urls)?(?:\.\w+)?\(\s*"([A-Z][A-Z0-9_]*)"'
                   r'|os\.environ\.get\(\s*"([A-Z][A-Z0-9_]*)"')

# Values no variable can make sense of. NUL cannot be put in a process's environment at all.
GARBAGE = ["garbage value", "-1", "99999999999999999999999", "x" * 100_000, "\udcff\udcfe", " ", "::", "true,false"]
# A variable whose value is any text (a name, a path, a token...) starts with it, by design. BACKUP_REMOTE is
# rclone's to read (a local folder is a remote too): /backups shows rclone's own error at the first copy.
ANY_TEXT = {"SECRET_KEY", "METRICS_TOKEN", "DEFAULT_FROM_EMAIL", "VAR_DIR", "BACKUP_DIR", "ALLOWED_HOSTS",
            "YOUTUBE_FEED_URL", "BACKUP_REMOTE"}

PROBE = r'''
import importlib, json, logging.config, os, sys, traceback
rows = json.load(sys.stdin)
results = []
for name, value in rows:
    saved = dict(os.environ)
    os.environ[name] = value.encode("utf-8", "surrogateescape").decode("utf-8", "surrogateescape")
    sys.modules.pop("config.settings", None)
    try:
        settings = importlib.import_module("config.settings")
        logging.config.dictConfig(settings.LOGGING)
        results.append({"ok": True})
    except BaseException as exc:
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        results.append({"ok": False, "type": f"{type(exc).__module__}.{type(exc).__qualname__}",
                        "message": str(exc)[:300], "file": frame.filename})
    finally:
        os.environ.clear()
        os.environ.update(saved)
print(json.dumps(results))
'''


def variables() -> list[str]:
    return sorted({first or second for first, second in READS.findall(SETTINGS.read_text())})


def probe(rows: list[tuple[str, str]], tmp_path: Path) -> list[dict]:
    clean = {k: v for k, v in os.environ.items()
             if k not in {"SECRET_KEY", "DEBUG", "DATABASE_URL", "DJANGO_ALLOW_ASYNC_UNSAFE"}}
    # Run in tmp_path: a relative VAR_DIR row creates its folder there, not in the checkout.
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=tmp_path, input=json.dumps(rows), capture_output=True,
                          text=True, timeout=300, errors="surrogateescape",
                          env={**clean, "VAR_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_it_finds_the_variables_the_settings_read():
    assert {"DATABASE_URL", "REDIS_URL", "BACKUP_DIR", "NOTIFY_URLS", "LOG_FORMAT", "DEBUG", "Q_WORKERS",
            "CONN_MAX_AGE", "SITE_URL", "EMAIL_URL"} <= set(variables())


def test_every_variable_starts_or_stops_with_one_line_naming_it(tmp_path):
    rows = [(name, value) for name in variables() for value in GARBAGE]
    failures = []
    for (name, value), result in zip(rows, probe(rows, tmp_path)):
        if result["ok"]:
            if name not in ANY_TEXT and value.strip():
                failures.append(f"{name}={value[:30]!r}: taken without a word")
            continue
        if (result["type"] != "django.core.exceptions.ImproperlyConfigured" or name not in result["message"]
                or Path(result["file"]) != SETTINGS):
            failures.append(f"{name}={value[:30]!r}: {result['type']} in {result['file']}: {result['message'][:150]}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize(("name", "value"), [("LOG_LEVEL", "bogus"), ("HISTORY_DAYS", "1e999"),
                                             ("DATABASE_URL", "nonsense://x")])
def test_manage_py_says_it_in_one_line_and_exits_non_zero(tmp_path, name, value):
    """What a person who mistyped a variable sees: the line naming it, not Python's traceback."""
    env = {**os.environ, name: value, "VAR_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "config.settings"}

    done = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)

    assert done.returncode == 1
    assert done.stderr.startswith("Configuration error: ") and name in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
