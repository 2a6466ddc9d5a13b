"""Settings read from the environment, and the first-run setup commands."""

import os
import secrets
import stat
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

ROOT = Path(__file__).resolve().parents[1]


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


@pytest.mark.django_db
def test_it_creates_the_admin_once_with_a_printed_password(monkeypatch):
    monkeypatch.delenv("DJANGO_SUPERUSER_USERNAME", raising=False)
    monkeypatch.delenv("DJANGO_SUPERUSER_PASSWORD", raising=False)
    out = StringIO()
    call_command("ensure_admin", stdout=out)
    password = out.getvalue().split("Its password is: ")[1].split()[0]
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.check_password(password)

    again = StringIO()
    call_command("ensure_admin", stdout=again)
    assert again.getvalue() == ""
    assert get_user_model().objects.count() == 1


@pytest.mark.django_db
def test_it_takes_the_admin_credentials_from_the_environment(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_USERNAME", "keeper")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a long enough passphrase")
    out = StringIO()
    call_command("ensure_admin", stdout=out)
    assert "password" not in out.getvalue().lower()
    assert get_user_model().objects.get(username="keeper").check_password("a long enough passphrase")


@pytest.mark.django_db
def test_it_refuses_a_weak_admin_password(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "123")
    with pytest.raises(CommandError, match="DJANGO_SUPERUSER_PASSWORD: This password is too short"):
        call_command("ensure_admin", stdout=StringIO())
    assert not get_user_model().objects.exists()


@pytest.mark.parametrize("name, value, message", [
    ("Q_WORKERS", "two", "Q_WORKERS='two' is not a whole number."),
    ("SCHEDULER_BATCH_SIZE", "0", "SCHEDULER_BATCH_SIZE=0 is too small; use 1 or more."),
])
def test_it_refuses_numbers_it_cannot_use(tmp_path, name, value, message):
    done = manage("check", var_dir=tmp_path, **{name: value})
    assert done.returncode != 0
    assert message in done.stderr
