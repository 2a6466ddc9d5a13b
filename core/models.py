from django.conf import settings
from django.db import models
from django.utils.timezone import now


class ApiToken(models.Model):
    """A personal token a script sends as `Authorization: Bearer <token>`; it acts as its user.

    Only the token's SHA-256 is stored: a database leak gives no working token. The token is
    shown once, when it is created; `prefix` (its first characters) tells tokens apart in lists.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What the token is for, e.g. “backup script on nas”.")
    prefix = models.CharField(max_length=16, help_text="The token's first characters, to recognise it.")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
