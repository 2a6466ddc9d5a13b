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


def settings_of(tmp_path, code: str, **env: str) -> subprocess.CompletedProcess:
    """Import the real settings with this environment and print what `code` evaluates to."""
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG", "DATABASE_URL"}}
    return subprocess.run([sys.executable, "-c", f"import config.settings as s; print({code})"], cwd=ROOT,
                          capture_output=True, text=True, env={**clean, "VAR_DIR": str(tmp_path), **env})


def test_it_reads_notify_urls_comma_separated_each_checked_by_apprise(tmp_path):
    done = settings_of(tmp_path, "s.NOTIFY_URLS",
                       NOTIFY_URLS=" ntfy://ntfy.example.com/ops , tgram://123456789:AAE-token/42,,")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['ntfy://ntfy.example.com/ops', 'tgram://123456789:AAE-token/42']"
    assert settings_of(tmp_path, "s.NOTIFY_URLS").stdout.strip() == "[]"


def test_a_url_apprise_cannot_use_stops_start_up_naming_notify_urls_without_its_secret(tmp_path):
    done = manage("check", var_dir=tmp_path, NOTIFY_URLS="ntfy://ntfy.example.com/ops,tgram://secret-token-x")
    assert done.returncode != 0
    assert ("NOTIFY_URLS: URL 2 of 2 (tgram://…) is not usable. Apprise cannot use this URL: "
            "Unparseable Telegram URL tgram://….") in done.stderr
    assert "secret-token-x" not in done.stderr


@pytest.mark.parametrize("name, value, message", [
    ("SITE_URL", "archive.example.lan", "SITE_URL='archive.example.lan' is not an http:// or https:// address."),
    ("EMAIL_URL", "smtpx://mail.example.com", "Invalid email schema smtpx"),
])
def test_it_refuses_addresses_it_cannot_use(tmp_path, name, value, message):
    done = manage("check", var_dir=tmp_path, **{name: value})
    assert done.returncode != 0
    assert message in done.stderr


def test_email_url_gives_django_its_mail_settings(tmp_path):
    done = settings_of(tmp_path, "(s.EMAIL_HOST, s.EMAIL_PORT, s.EMAIL_HOST_USER, s.EMAIL_USE_TLS, s.SITE_URL)",
                       EMAIL_URL="smtp+tls://alerts:pa%40ss@mail.example.com:587", SITE_URL="https://archive.lan/")
    assert done.stdout.strip() == "('mail.example.com', 587, 'alerts', True, 'https://archive.lan')"
