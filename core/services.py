"""Writes that belong to no domain app: personal API tokens."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta

from core.models import ApiToken

TOKEN_PREFIX = "arc_"
TOKEN_BYTES = 32
# Every token ever made here: the prefix and secrets.token_urlsafe(TOKEN_BYTES), 43 URL-safe characters.
TOKEN_SHAPE = re.compile(re.escape(TOKEN_PREFIX) + r"[A-Za-z0-9_-]{43}")
VISIBLE_CHARS = len(TOKEN_PREFIX) + 8
DEFAULT_NAME = "API token"
# A token used by a busy script would otherwise write its row on every request; on SQLite each
# write takes the database's one write lock. "Last used" to the minute is precise enough.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def token_hash(raw_token: str) -> str:
    return hashlib.sha256(raw_token.encode()).hexdigest()


def api_token_create(*, user, name: str, now: datetime) -> tuple[ApiToken, str]:
    """Create a token for `user`; return it and the token itself, which is never available again."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
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


class ApiTokenRefused(Exception):
    """Why a token sent to the API does not let it in, in words its holder can act on.

    `reason` is "malformed" (not the shape of a token of this server), "unknown" (no token has
    it: mistyped, cut short, or deleted), "revoked", or "inactive" (its user may no longer log in).
    The messages name no user and no token: an unknown token tells nothing about who exists.
    """

    MESSAGES = {
        "malformed": f"Malformed API token: a token of this server is “{TOKEN_PREFIX}” followed by 43 letters, "
                     "digits, “-” or “_”. Check that it was copied whole.",
        "unknown": "Unknown API token: this server has no such token. Check that it was copied whole, or create "
                   "a new one at /account/tokens.",
        "revoked": "This API token was revoked: scripts using it are refused. Create a new one at /account/tokens.",
        "inactive": "This API token's account is disabled: ask an administrator.",
    }

    def __init__(self, reason: str):
        super().__init__(self.MESSAGES[reason])
        self.reason = reason
        self.message = self.MESSAGES[reason]


def api_token_use(*, raw_token: str, now: datetime):
    """The active user a token belongs to, noting when it was used; ApiTokenRefused says why not."""
    if not TOKEN_SHAPE.fullmatch(raw_token):
        raise ApiTokenRefused("malformed")
    token = ApiToken.objects.select_related("user").filter(token_hash=token_hash(raw_token)).first()
    if token is None:
        raise ApiTokenRefused("unknown")
    if token.revoked_at is not None:
        raise ApiTokenRefused("revoked")
    if not token.user.is_active:
        raise ApiTokenRefused("inactive")
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user
