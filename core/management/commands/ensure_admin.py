import os
import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "On first run, create the admin user: DJANGO_SUPERUSER_USERNAME/PASSWORD if set, else 'admin' "
        "with a generated password printed once. Does nothing when a superuser exists."
    )

    def handle(self, *args, **options):
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            return
        username = os.environ.get("DJANGO_SUPERUSER_USERNAME", "").strip() or "admin"
        try:  # the login form's own rules: a name it could never take is no admin's
            User._meta.get_field(User.USERNAME_FIELD).run_validators(username)
        except ValidationError as exc:
            raise CommandError(f"DJANGO_SUPERUSER_USERNAME: {' '.join(exc.messages)}") from None
        password = os.environ.get("DJANGO_SUPERUSER_PASSWORD", "")
        generated = not password
        if generated:
            password = secrets.token_urlsafe(12)
        else:
            try:
                validate_password(password)
            except ValidationError as exc:
                raise CommandError(f"DJANGO_SUPERUSER_PASSWORD: {' '.join(exc.messages)}")
        User.objects.create_superuser(username=username, email="", password=password)
        self.stdout.write(self.style.SUCCESS(f"Created the admin user {username!r}."))
        if generated:
            self.stdout.write(
                f"Its password is: {password}\n"
                "It is shown only this once; change it in the admin (or run `manage.py changepassword`)."
            )
