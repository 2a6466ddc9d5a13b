"""Writes that belong to no domain app: personal API tokens."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from core.models import ApiToken

TOKEN_PREFIX = "arc_"
VISIBLE_CHARS = len(TOKEN_PREFIX) + 8
DEFAULT_NAME = "API token"
# A token used by a busy script would otherwise write its row on every request; on SQLite each
# write takes the database's one write lock. "Last used" to the minute is precise enough.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def token_hash(raw_token: str) -> str:
    return hashlib.sha256(raw_token.encode()).hexdigest()


def api_token_create(*, user, name: str, now: datetime) -> tuple[ApiToken, str]:
    """Create a token for `user`; return it and the token itself, which is never available again."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user=user, name=name.strip() or DEFAULT_NAME, prefix=raw[:VISIBLE_CHARS],
                     token_hash=token_hash(raw), created_at=now)
    token.full_clean()
    token.save()
    return token, raw


def api_token_revoke(*, token: ApiToken, now: datetime) -> bool:
    """Revoke a token at once; False if it already was."""
    revoked = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=now)
    if revoked:
        token.revoked_at = now
    return bool(revoked)


def api_token_use(*, raw_token: str, now: datetime):
    """The active user a token belongs to, noting when it was used; None for an unknown or revoked token."""
    token = (ApiToken.objects.select_related("user")
             .filter(token_hash=token_hash(raw_token), revoked_at__isnull=True).first())
    if token is None or not token.user.is_active:
        return None
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user
