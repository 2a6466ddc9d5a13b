from django.contrib import messages
from django.core.exceptions import DisallowedHost
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views import defaults
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from common.access import may_open
from core import services
from core.forms import ApiTokenForm
from core.models import ApiToken

# The lists in the menu's order: "/" opens the first the user may open.
HOME_PAGES = ("schedules", "channels", "backups", "jobs", "notifications")


@require_GET
def home(request):
    """The first list the user may open (schedules for most); a user who may open none gets their
    tokens page, which every signed-in user has, rather than a 403."""
    for name in HOME_PAGES:
        if may_open(request.user, reverse(name)):
            return redirect(name)
    return redirect("api_tokens")


@never_cache
@require_http_methods(["GET", "POST"])
def api_tokens(request):
    """The user's own API tokens: list, create (the token is shown in this answer only), revoke."""
    form = ApiTokenForm(request.POST or None)
    created = raw_token = None
    if request.method == "POST" and form.is_valid():
        # Rendered, not redirected: the token must not wait in a session or a message store.
        created, raw_token = services.api_token_create(user=request.user, name=form.cleaned_data["name"], now=timezone.now())
        form = ApiTokenForm()
    return render(request, "core/api_tokens.html", {
        "title": "API tokens",
        "form": form,
        "tokens": request.user.api_tokens.all(),
        "created": created,
        "raw_token": raw_token,
    })


@require_POST
def api_token_revoke(request, pk: int):
    """Revoke one of the user's own tokens (confirmed in a dialog on the tokens page)."""
    token = get_object_or_404(ApiToken, pk=pk, user=request.user)
    if services.api_token_revoke(token=token, now=timezone.now()):
        messages.success(request, f"Token “{token.name}” revoked: scripts using it are refused from now on.")
    else:
        messages.info(request, f"Token “{token.name}” was already revoked.")
    return redirect("api_tokens")


def bad_request(request, exception):
    """A request Django refuses before any view runs (a Host header it does not serve, say): the API
    answers in its own JSON, which its OpenAPI document promises for every 400; a page as Django does."""
    if request.path.startswith("/api/"):
        message = ("The Host header names a server this one does not answer for (ALLOWED_HOSTS)."
                   if isinstance(exception, DisallowedHost) else "Bad request.")
        return JsonResponse({"errors": {"__all__": [message]}}, status=400)
    return defaults.bad_request(request, exception)
