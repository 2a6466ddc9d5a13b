"""`manage.py create_api_token <username> [--name NAME]`: a personal API token, printed once.

The token alone goes to stdout (`TOKEN=$(manage.py create_api_token alice)`); the rest to stderr.
"""

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from core.services import DEFAULT_NAME, api_token_create


class Command(BaseCommand):
    help = "Create a personal API token for a user and print it (it is shown only this once)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default=DEFAULT_NAME, help="What the token is for (default: %(default)s).")

    def handle(self, *args, username: str, name: str, **options):
        User = get_user_model()
        try:
            user = User._default_manager.get_by_natural_key(username)
        except User.DoesNotExist:
            raise CommandError(f"username: no user named {username!r}.") from None
        if not user.is_active:
            raise CommandError(f"The user {username!r} is inactive: a token of theirs would be refused.")
        try:
            token, raw = api_token_create(user=user, name=name, now=timezone.now())
        except ValidationError as exc:
            raise CommandError("; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items()))
        self.stderr.write(f"Created token “{token.name}” ({token.prefix}…) for {username}. "
                          "Store it now: it is not shown again.")
        self.stdout.write(raw)
