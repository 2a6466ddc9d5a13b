"""What every page's actions share: toasts, the htmx answer, the way back.

Every action works as a plain form post (a message, then a redirect) and, when htmx sends it,
answers with its toast and the events that refresh the page's lists, so the pages also work
without JavaScript.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.utils.http import url_has_allowed_host_and_scheme
from django_htmx.http import HttpResponseClientRedirect, reswap, trigger_client_event

LEVELS = {"success": messages.SUCCESS, "info": messages.INFO, "warning": messages.WARNING, "error": messages.ERROR}


@dataclass
class Toast:
    message: str
    level: str = "success"  # success / info / warning / error; errors stay until dismissed
    run_anyway_url: str = ""  # a refused Run now offers to force it


def htmx_response(request, body: str = "", *, toasts: list[Toast] = (), events: dict | None = None,
                  status: int = 200, swap: bool = True) -> HttpResponse:
    """`body` for htmx to swap, the toasts out of band, then the client events (`{name: detail}`).

    `swap=False` for an answer whose only news is its toasts and events: htmx 2 would otherwise
    swap the empty body into the element that asked.
    """
    toasts_html = render_to_string("includes/toasts_oob.html", {"toasts": list(toasts)}, request=request)
    response = HttpResponse(body + toasts_html, status=status)
    for name, detail in (events or {}).items():
        trigger_client_event(response, name, detail)
    if not swap:
        reswap(response, "none")
    return response


def message(request, toast: Toast) -> None:
    """A toast for the next page, when there is no htmx to show it now."""
    messages.add_message(request, LEVELS[toast.level], toast.message)


def action_done(request, toast: Toast, *, event: str, redirect_to: str) -> HttpResponse:
    """A finished page action, for /schedules, /channels and /backups alike.

    With htmx: its toast, then the events that refresh the page's lists (`event`) and close the
    dialog, in that order (closing empties the dialog, and an event fired on an element no longer in
    the page never reaches the lists listening on <body>). Without JavaScript: the toast as a
    message, and back to `redirect_to`.
    """
    if request.htmx:
        return htmx_response(request, toasts=[toast], events={event: {}, "close-dialog": {}}, swap=False)
    message(request, toast)
    return redirect(redirect_to)


def client_redirect(request, toast: Toast, *, to: str) -> HttpResponse:
    """Leave the page (it shows something just deleted): the toast as a message on the next one."""
    message(request, toast)
    return HttpResponseClientRedirect(to)


def next_url(request, default: str) -> str:
    """Where to go back to: the form's `_next` or the query's `next`, if it is on this site; else `default`."""
    url = request.POST.get("_next") or request.GET.get("next") or ""
    if url and url_has_allowed_host_and_scheme(url, allowed_hosts={request.get_host()},
                                               require_https=request.is_secure()):
        return url
    return default
