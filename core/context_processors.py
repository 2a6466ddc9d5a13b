from django.utils import timezone
from django.utils.functional import SimpleLazyObject

from core import health


def health_badge(request) -> dict:
    """`health` for the header's status badge: computed only if a template shows it."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}

    def report() -> dict:
        report = health.health_status(now=timezone.now())
        return {**report, "summary": health.summary(report)}

    return {"health": SimpleLazyObject(report)}
