"""Middleware of our own: few, small, and each says why Django's or a library's would not do."""

from __future__ import annotations

from django.utils.cache import patch_cache_control


def private_no_store(get_response):
    """`Cache-Control: private, no-store` on every answer that reaches Django's views.

    Pages, htmx fragments, API JSON, backup downloads and /metrics all show one user's view of the
    archive (or a backup of all of it): neither a shared proxy nor the browser's disk may keep them,
    nor show them again after logging out ("Back" after logout). Anonymous answers too: the only ones
    are the login page, /healthz, errors and token-authenticated API and /metrics calls (whose request
    has no session user), none worth caching. Static files never get here: whitenoise, listed above
    this middleware, answers them itself with its own long cache for hashed names.
    """

    def middleware(request):
        response = get_response(request)
        patch_cache_control(response, private=True, no_store=True)
        return response

    return middleware
