"""The page a locked-out login gets (django-axes' AXES_LOCKOUT_CALLABLE), on /login/ and /admin/login/ alike.

Axes refuses the login (the right password too) and its middleware hands the response to this: a page in the
site's frame saying what happened, when the user can try again, and the command that unlocks them sooner.
"""

from __future__ import annotations

import math
import shlex
from datetime import datetime

from axes.helpers import get_client_username, get_cool_off, get_failure_limit
from axes.models import AccessAttempt
from django.shortcuts import render
from django.utils import timezone


def lockout_response(request, original_response=None, credentials=None):
    username = get_client_username(request, credentials)
    now = getattr(request, "axes_attempt_time", None) or timezone.now()
    unlocked_at = _unlocked_at(request, credentials, username=username, now=now)
    # Quoted for the shell: the username is whatever was typed into the form.
    command = f"python manage.py axes_reset_username {shlex.quote(username or '')}"
    response = render(request, "registration/locked_out.html", {
        "title": "Too many failed logins",
        "username": username,
        "failure_limit": get_failure_limit(request, credentials),
        "unlocked_at": unlocked_at,
        "wait": unlocked_at - now,
        "command": command,
    }, status=429)
    response["Retry-After"] = str(max(1, math.ceil((unlocked_at - now).total_seconds())))
    return response


def _unlocked_at(request, credentials, *, username: str | None, now: datetime) -> datetime:
    """When this username and address may log in again: axes counts the failures of the attempts made within
    the cool-off, so the lock lifts once enough of the oldest ones have aged out of it. Usually there is one
    attempt row (one per user agent), so this is its last failure plus the cool-off."""
    cool_off = get_cool_off(request)
    attempts = AccessAttempt.objects.filter(
        username=username, ip_address=request.axes_ip_address, attempt_time__gte=now - cool_off,
    ).order_by("attempt_time").values_list("attempt_time", "failures_since_start")
    remaining = sum(failures for _, failures in attempts)
    limit = get_failure_limit(request, credentials)
    for attempt_time, failures in attempts:
        remaining -= failures
        if remaining < limit:
            return attempt_time + cool_off
    return now + cool_off
