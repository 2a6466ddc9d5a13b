"""Settings read from the environment, strictly."""

import os
import secrets
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def manage(*args: str, var_dir: Path, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG", "DATABASE_URL", "DJANGO_ALLOW_ASYNC_UNSAFE"}}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, capture_output=True, text=True,
        env={**clean, "DJANGO_SETTINGS_MODULE": "config.settings", "VAR_DIR": str(var_dir), **env},
    )


def test_it_passes_the_deployment_checks_with_production_settings(tmp_path):
    done = manage(
        "check", "--deploy", "--fail-level", "WARNING", var_dir=tmp_path,
        SECRET_KEY=secrets.token_urlsafe(50), DEBUG="false", SECURE_SSL_REDIRECT="true",
        SECURE_HSTS_SECONDS="31536000", SECURE_HSTS_INCLUDE_SUBDOMAINS="true", SECURE_HSTS_PRELOAD="true",
    )
    assert done.returncode == 0, done.stderr
    assert "no issues" in done.stdout


def test_it_generates_a_private_secret_key_once_and_reuses_it(tmp_path):
    assert manage("check", var_dir=tmp_path).returncode == 0
    key_file = tmp_path / "secret_key"
    first = key_file.read_text()
    assert len(first) >= 50
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert manage("check", var_dir=tmp_path).returncode == 0
    assert key_file.read_text() == first


def test_it_refuses_a_boolean_it_cannot_read(tmp_path):
    done = manage("check", var_dir=tmp_path, DEBUG="ture")
    assert done.returncode != 0
    assert "DEBUG='ture' is not a boolean; use true or false." in done.stderr


@pytest.mark.parametrize("name, value, message", [
    ("Q_WORKERS", "two", "Q_WORKERS='two' is not a whole number."),
    ("SCHEDULER_BATCH_SIZE", "0", "SCHEDULER_BATCH_SIZE=0 is too small; use 1 or more."),
    ("HISTORY_DAYS", "0", "HISTORY_DAYS=0 is too small; use 1 or more."),
    ("HISTORY_DAYS", "ninety", "HISTORY_DAYS='ninety' is not a whole number."),
])
def test_it_refuses_numbers_it_cannot_use(tmp_path, name, value, message):
    done = manage("check", var_dir=tmp_path, **{name: value})
    assert done.returncode != 0
    assert message in done.stderr
