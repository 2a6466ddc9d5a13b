"""manage.py ensure_admin: the first admin user, once."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command


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
