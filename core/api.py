"""The JSON API under /api/: one NinjaAPI, the apps' routers, authentication, one error shape.

Browsers use their session (CSRF checked on writes); scripts send `Authorization: Bearer <token>`
(a personal API token, core.models.ApiToken). Every error answers `{"errors": {"field": [...]}}`:
ninja's own answers (422 for a schema error, `{"detail": ...}`) are rewritten into that shape.
"""

from __future__ import annotations

import collections
import functools
import json
import math
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.core.exceptions import ValidationError as ModelValidationError
from django.db import OperationalError
from django.http import Http404, HttpResponseNotAllowed
from django.urls import Resolver404, URLPattern, path, re_path, resolve
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from ninja import NinjaAPI, Swagger
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as SchemaValidationError
from ninja.parser import Parser
from ninja.security import HttpBearer
from ninja.security import SessionAuth as NinjaSessionAuth

from backups.api import router as backups_router
from channels.api import router as channels_router
from common.api import ApiError, errors_of
from common.formatting import format_instant, human_duration
from core.addresses import client_address
from core.health_api import anonymous_unless_credentials
from core.health_api import router as health_router
from core.services import ApiTokenRefused, api_token_use
from core.throttle import token_failure_record, token_failures_blocked
from jobs.api import router as jobs_router
from scheduling.api import READ_ONLY_FIELDS
from scheduling.api import router as schedules_router

JSON_TYPES = ("application/json",)
CSRF_FAILED = "CSRF check Failed"  # ninja's message, recognised to say it better
MISSING_CREDENTIALS = ("Authentication required: log in, or send Authorization: Bearer <token> with an active "
                       "API token.")


class TokenRefused(AuthenticationError):
    """A 401 that says what is wrong with the credentials sent; `error` is RFC 6750's code for it."""

    def __init__(self, message: str, *, error: str):
        super().__init__(message=message)
        self.message, self.error = message, error


class TokenThrottled(ApiError):
    """429: this address sent too many refused tokens in the current window; `retry_after` in seconds."""

    def __init__(self, retry_after: int, *, now: datetime):
        until = format_instant(now + timedelta(seconds=retry_after))
        super().__init__(429, {"Authorization": [
            f"Too many refused API tokens from your address (the limit is {settings.API_TOKEN_FAILURE_LIMIT} per "
            f"{human_duration(settings.API_TOKEN_FAILURE_WINDOW_SECONDS)}): every token is refused until {until}. "
            f"Try again in {retry_after} s (Retry-After)."]})
        self.retry_after = retry_after


class BearerToken(HttpBearer):
    """`Authorization: Bearer <token>`: a personal API token, acting as its user.

    Without the header the session may still let the request in (ninja's own answer: "missing").
    With it, a refusal says why at once: a header not of the form `Bearer <token>`, a token not
    of this server's shape, an unknown, revoked or disabled user's token. Ninja's parser would log
    a header of another scheme, secret and all, with DEBUG on; this one logs nothing.
    """

    def __call__(self, request):
        header = request.headers.get(self.header)
        if header is None:
            return None
        # Every refusal below counts against the sender's address (core.throttle); past the limit, even
        # the right token is refused until the window ends, so guessing runs no faster than the limit.
        address, now = client_address(request), timezone.now()
        if wait := token_failures_blocked(address=address, now=now):
            raise TokenThrottled(wait, now=now)
        try:
            return self._user_of(request, header, now=now)
        except TokenRefused:
            token_failure_record(address=address, now=now)
            raise

    def _user_of(self, request, header: str, *, now: datetime):
        parts = header.split()
        if len(parts) != 2 or parts[0].lower() != self.openapi_scheme:
            bare = [part.lower() for part in parts] == [self.openapi_scheme]
            raise TokenRefused("Malformed Authorization header: "
                               f"{'no token follows “Bearer”' if bare else 'it is not of the form “Bearer <token>”'}. "
                               "Scripts send Authorization: Bearer <token> with a token from /account/tokens.",
                               error="invalid_request")
        return self.authenticate(request, parts[1], now=now)

    def authenticate(self, request, token: str, *, now: datetime):
        # Ninja's own __call__ would call this without `now`; ours above always passes the request's instant.
        try:
            return api_token_use(raw_token=token, now=now)
        except ApiTokenRefused as exc:
            raise TokenRefused(exc.message, error="invalid_request" if exc.reason == "malformed"
                               else "invalid_token") from exc


class SessionAuth(NinjaSessionAuth):
    """The browser's login session, with Django's CSRF check on unsafe methods.

    Ninja checks CSRF before it looks at the session; an anonymous request would get 403 for a
    missing CSRF token instead of 401 for a missing login, so the login is looked at first.
    """

    def __call__(self, request):
        if not request.user.is_authenticated:
            return None
        return super().__call__(request)


class UnsupportedMediaType(ValueError):
    pass


class JsonParser(Parser):
    """Bodies are JSON, strictly: NaN and Infinity are not JSON, and no database stores them in a JSON column.

    Ninja asks only after authentication, so an anonymous request gets 401 whatever its body.
    Its errors reach `_http_error` as the cause of ninja's "Cannot parse request body".
    """

    def parse_body(self, request):
        if request.content_type not in JSON_TYPES:
            raise UnsupportedMediaType("Send the body as JSON with Content-Type: application/json "
                                       f"(got {request.content_type or 'none'}).")
        try:
            return json.loads(request.body, parse_constant=_reject_constant, parse_float=_finite_float,
                              object_pairs_hook=_unique_keys)
        except RecursionError:
            raise ValueError("it is nested too deeply.") from None


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    # Python keeps the last of a repeated key and other readers the first: which one was meant is unknown.
    counts = collections.Counter(key for key, _ in pairs)
    if repeated := sorted(key for key, count in counts.items() if count > 1):
        raise ValueError(f"the key “{repeated[0]}” is given more than once in one object.")
    return dict(pairs)


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON.")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of range.")
    return value


api = NinjaAPI(
    title="Channel archive API",
    version="1",
    description=(
        "Schedules of the channel archive. Browsers use their session (send the CSRF token as "
        "`X-CSRFToken` on writes); scripts send `Authorization: Bearer <token>` with a personal API "
        "token from /account/tokens or `manage.py create_api_token`. Access follows Django's model "
        "permissions on schedules: view for reads, add / change / delete for writes; toggle and run "
        "now need change. Channel groups, channels and videos follow their own model permissions the "
        "same way; Sync now needs change on channel groups. Errors are "
        "`{\"errors\": {\"field\": [\"message\", ...]}}`; a 401 says whether the "
        "credentials are missing, malformed, unknown or revoked. PATCH merges `params` into the stored ones (JSON "
        "Merge Patch, RFC 7396); action POSTs (toggle, run now...) take an empty body. Paths have no trailing slash."
    ),
    urls_namespace="api",
    auth=[BearerToken(), SessionAuth()],
    parser=JsonParser(),
    # validatorUrl: Swagger UI would otherwise send the schema's URL to validator.swagger.io.
    docs=Swagger(settings={"validatorUrl": None, "persistAuthorization": False}),
)
api.add_router("/schedules", schedules_router)
api.add_router("/", backups_router)
api.add_router("/channels", channels_router)
api.add_router("/jobs", jobs_router)
# No login needed, as for /healthz; credentials sent are still checked (core.health_api).
api.add_router("/health", health_router, auth=[*api.auth, anonymous_unless_credentials])


def _read_body_first(run):
    """Read the body before anything else can: the session's CSRF check reads a form body as a
    stream, after which ninja could no longer read it as JSON (RawPostDataException, a 500)."""

    @functools.wraps(run)
    def checked(request, *args, **kwargs):
        try:
            request.body  # noqa: B018  (cached on the request from now on)
        except RequestDataTooBig:
            return _answer(request, 413, {"body": ["The body is too large."]})
        return run(request, *args, **kwargs)

    return checked


api.add_decorator(_read_body_first, mode="view")


def _answer(request, status: int, errors: dict[str, list[str]]):
    return api.create_response(request, {"errors": errors}, status=status)


@api.exception_handler(ApiError)
def _api_error(request, exc: ApiError):
    return _answer(request, exc.status, exc.errors)


@api.exception_handler(TokenThrottled)
def _token_throttled(request, exc: TokenThrottled):
    response = _api_error(request, exc)
    response["Retry-After"] = str(exc.retry_after)
    return response


@api.exception_handler(OperationalError)
def _database_error(request, exc: OperationalError):
    """The database gone or locked (checking a token or a session needs it too): 503, which monitors and
    retrying scripts understand, in words rather than a 500. An IntegrityError stays a bug: a 500."""
    return _answer(request, 503, {"__all__": [
        f"The database cannot be reached ({type(exc).__name__}); try again when it is back."]})


@api.exception_handler(PermissionDenied)
def _permission_denied(request, exc: PermissionDenied):
    """A refusal raised below the routers (a task type refusing a change): 403 with its message."""
    return _answer(request, 403, {"__all__": [str(exc) or "You do not have the permission this needs."]})


@api.exception_handler(ModelValidationError)
def _model_error(request, exc: ModelValidationError):
    return _api_error(request, errors_of(exc))


@api.exception_handler(SchemaValidationError)
def _schema_error(request, exc: SchemaValidationError):
    """Ninja's 422 as our 400 naming the field; a malformed id in the path as 404."""
    errors: dict[str, list[str]] = {}
    path_errors = []
    for error in exc.errors:
        source, *loc = error.get("loc") or ("body",)
        if source == "path":
            path_errors.append(error)
            continue
        if source == "body" and loc[:1] == ["payload"]:
            loc = loc[1:]
        field, message = _describe(loc, error)
        errors.setdefault(field, []).append(message)
    if path_errors:  # no such resource, whatever else is wrong
        return _answer(request, 404, {"id": ["Not an id: ids are whole numbers from 1."]})
    return _answer(request, 400, errors)


def _describe(loc: list, error: dict) -> tuple[str, str]:
    kind, message = error["type"], error["msg"]  # pydantic's, which always has both
    if not loc:
        return "body", "The body must be a JSON object."
    field = str(loc[0])
    if kind == "extra_forbidden":
        if field in READ_ONLY_FIELDS:
            return field, "Read-only: leave it out."
        return field, "Unknown field."
    if len(loc) > 1 and isinstance(loc[1], int):
        message = f"Item {loc[1] + 1}: {message}"
    if message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
    return field, message


@api.exception_handler(HttpError)
def _http_error(request, exc: HttpError):
    status, message = exc.status_code, str(exc)
    if isinstance(exc, AuthenticationError):
        refused = isinstance(exc, TokenRefused)
        response = _answer(request, 401, {"__all__": [exc.message if refused else MISSING_CREDENTIALS]})
        # RFC 6750: no error code when nothing was sent, else what was wrong with it.
        response["WWW-Authenticate"] = f'Bearer realm="api", error="{exc.error}"' if refused else 'Bearer realm="api"'
        return response
    if status == 403 and message == CSRF_FAILED:
        return _answer(request, 403, {"__all__": [
            "CSRF check failed: a browser session must send its CSRF token as the X-CSRFToken header. "
            "Scripts should use an API token instead."]})
    if status == 400 and message.startswith("Cannot parse request body"):
        cause = exc.__cause__
        if isinstance(cause, UnsupportedMediaType):
            return _answer(request, 415, {"body": [str(cause)]})
        return _answer(request, 400, {"body": [f"The body is not valid JSON: {cause}" if cause else
                                               "The body is not valid JSON."]})
    return _answer(request, status, {"__all__": [message]})


@api.exception_handler(Http404)
def _not_found(request, exc: Http404):
    return _answer(request, 404, {"__all__": ["Not found."]})


NO_SUCH_ENDPOINT = "no-such-endpoint"


@csrf_exempt  # it changes nothing, whatever the method
@login_not_required
def no_such_endpoint(request):
    """Any path under /api/ no endpoint has: the API's JSON 404, never Django's HTML page.

    The endpoints' paths have no trailing slash; one sent with it is told the path without it.
    Not a redirect: a client following it would resend a POST or PATCH as a GET, without its body.
    """
    hint = ""
    stripped = request.path_info.rstrip("/")
    if stripped != request.path_info:
        try:
            match = resolve(stripped)
        except Resolver404:
            match = None
        if match is not None and match.url_name not in (NO_SUCH_ENDPOINT, "api-root"):
            hint = f" Leave out the trailing slash: {request.path.rstrip('/')}."
    return _answer(request, 404, {"path": [f"No such endpoint.{hint} The endpoints are listed at /api/docs and "
                                           "/api/openapi.json."]})


METHOD_ORDER = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _json_405(view):
    """Ninja answers a method a path does not take with a plain-text 405; the API's is JSON, naming
    the methods it takes (and Allow, as HTTP wants)."""

    @functools.wraps(view)
    def answered(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        if not isinstance(response, HttpResponseNotAllowed):
            return response
        # Ninja lists them from a set, in any order; the answer should read the same every time.
        allowed = ", ".join(sorted(response["Allow"].split(", "), key=lambda method: (
            METHOD_ORDER.index(method) if method in METHOD_ORDER else len(METHOD_ORDER), method)))
        json_response = _answer(request, 405, {"__all__": [f"{request.method} is not allowed here; this path "
                                                           f"takes {allowed}."]})
        json_response["Allow"] = allowed
        return json_response

    return answered


def _document_for_signed_in(view):
    """The OpenAPI document is for those who may call the API: a browser's session or a script's
    token, as for every endpoint it lists. It maps the whole API (every path, parameter and error),
    which an anonymous visitor has no use for. Without credentials, or with refused ones, the answer
    is the API's own JSON 401 (with WWW-Authenticate), not the site's login redirect: scripts read it.
    Whatever checking the credentials raises gets the answer any endpoint gives, as ninja's operations
    do it: a throttled address its 429 with Retry-After, a database gone its 503 (both were 500 pages)."""

    @functools.wraps(view)
    def checked(request, *args, **kwargs):
        try:
            user = next((user for user in (auth(request) for auth in api.auth) if user), None)
        except Exception as exc:  # on_exception raises again what no handler answers
            return api.on_exception(request, exc)
        if user is None:
            return api.on_exception(request, AuthenticationError())
        return view(request, *args, **kwargs)

    return checked


def urls():
    """The API's URL patterns. The API answers 401 itself, so the site's login redirect is off for
    it, except for the docs page: a page, which sends an anonymous visitor to the login form. The
    OpenAPI document needs a login too (a session or a token), answered with the API's 401.

    Every other path under /api/ (a trailing slash, a typo, /api/ itself, where ninja raises an
    HTML 404) answers the API's JSON 404 (`no_such_endpoint`). APPEND_SLASH never redirects
    under /api/ then: every path there resolves.
    """
    patterns, app_name, namespace = api.urls
    patterns = [URLPattern(pattern.pattern, _document_for_signed_in(pattern.callback), pattern.default_args,
                           pattern.name) if pattern.name == "openapi-json" else pattern for pattern in patterns]
    for pattern in patterns:
        if pattern.name != "openapi-view":
            login_not_required(pattern.callback)
    patterns = [path("", no_such_endpoint, name="api-root") if pattern.name == "api-root"
                else URLPattern(pattern.pattern, _json_405(pattern.callback), pattern.default_args, pattern.name)
                for pattern in patterns]
    patterns.append(re_path(r"^.+$", no_such_endpoint, name=NO_SUCH_ENDPOINT))
    return patterns, app_name, namespace
