"""Middleware of our own: few, small, and each says why Django's or a library's would not do."""

from __future__ import annotations

from django.http import HttpResponseBadRequest
from django.utils.cache import patch_cache_control
from django.utils.html import escape

from common.forms import unreadable_fields


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


FORM_TYPES = ("application/x-www-form-urlencoded",)


class RefuseUnreadableInput:
    """A page's query string or form body holding NUL or bytes that are not UTF-8: a 400 naming the field.

    Django decodes both leniently (common.forms.unreadable_fields says what goes wrong then); this is the
    one place every page's parameters pass, so a new page or form is covered without a word. It runs as
    a view is chosen (after the login check: an anonymous visitor is sent to log in first). The API
    answers the same refusal in its own JSON shape (common.api.refuse_unreadable_query).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.path_info.startswith("/api/"):
            return None
        errors = unreadable_fields(request.META.get("QUERY_STRING", ""))
        if request.method == "POST" and request.content_type in FORM_TYPES:
            errors |= unreadable_fields(request.body.decode("latin-1"))
        if not errors:
            return None
        lines = "".join(f"<li>{escape(name)}: {escape(message)}</li>" for name, message in sorted(errors.items()))
        return HttpResponseBadRequest(f"<!doctype html><title>Bad request</title><h1>Bad request</h1>"
                                      f"<p>These fields could not be read:</p><ul>{lines}</ul>")
