"""The frame every API router shares: the error shape, the access rule, text types, error mapping.

Routers raise `ApiError` (or let a model `ValidationError` through); `core.api` turns both into
`{"errors": {"field": ["message", ...]}}` with the status. The schemas check JSON types only; every
rule about values is the model's, with the message every entrance gives.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Annotated, Any

from django.core.exceptions import ValidationError
from django.core.validators import ProhibitNullCharactersValidator
from django.db.models import QuerySet
from ninja import Field, Schema
from ninja.errors import ValidationError as NinjaValidationError
from ninja.pagination import CursorPagination
from pydantic import AfterValidator, AwareDatetime, BeforeValidator, StrictStr, field_validator
from pydantic import ValidationError as PydanticValidationError

from common.forms import MAX_ID, errors_by_field, unreadable_fields


class ApiError(Exception):
    """An answer other than success: its HTTP status and `{"field": ["message", ...]}`."""

    def __init__(self, status: int, errors: dict[str, list[str]]):
        super().__init__(status, errors)
        self.status = status
        self.errors = errors


class ErrorsOut(Schema):
    """Every error the API gives: the field (or `__all__`, `body`, `id`) and what is wrong with it."""

    errors: dict[str, list[str]] = Field(examples=[{"schedule_time": ["Use HH:MM (24-hour), e.g. 05:30."]}])


def error_responses(*statuses: int) -> dict[int, type[ErrorsOut]]:
    """The error statuses an operation can answer with; every operation can answer 400, 401 and 403, and
    429 with Retry-After once its caller's address sent too many refused API tokens (core.throttle)."""
    return {status: ErrorsOut for status in sorted({400, 401, 403, 429, *statuses})}


def require_permission(request, perm: str) -> None:
    """The API's access rule: Django's model permissions, e.g. `scheduling.change_scheduledtask`."""
    if not request.auth.has_perm(perm):
        raise ApiError(403, {"__all__": [f"You do not have the permission “{perm}” this needs; "
                                         "ask an administrator to grant it."]})


def errors_of(exc: ValidationError, rename: dict[str, str] | None = None) -> ApiError:
    """A model ValidationError as the API's 400, fields named as the API names them."""
    errors: dict[str, list[str]] = {}
    for field, messages in errors_by_field(exc).items():
        errors.setdefault((rename or {}).get(field, field), []).extend(messages)
    return ApiError(400, errors)


def merge_patch(target: Any, patch: Any) -> Any:
    """`patch` applied to `target` as a JSON Merge Patch (RFC 7396): what PATCH does to a JSON field.

    A key sent changes; a key sent as null is removed (so whatever reads the object falls back to
    its default); a key not sent stays. An object merges into an object key by key, all the way
    down; anything else (a list, a number, a string) replaces what was there. Neither argument is
    changed.
    """
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


_no_nul = ProhibitNullCharactersValidator(message="Text must not contain NUL characters.")


def _storable(value: str) -> str:
    # PostgreSQL refuses NUL in text and jsonb, and a lone surrogate (valid in JSON's \ud800
    # escapes) cannot be encoded for any database: both would be a 500 when saved.
    try:
        _no_nul(value)
    except ValidationError as exc:
        raise ValueError(exc.messages[0]) from None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("Text must be valid Unicode (no lone surrogates).") from None
    return value


def _storable_json(value: Any) -> Any:
    if isinstance(value, str):
        _storable(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            _storable(key)
            _storable_json(item)
    elif isinstance(value, list):
        for item in value:
            _storable_json(item)
    return value


# A JSON string any database can store; a JSON object whose keys and strings all are.
Text = Annotated[StrictStr, AfterValidator(_storable)]
JsonObject = Annotated[dict[str, Any], AfterValidator(_storable_json)]


def _iso_instant(value):
    # Pydantic would also read a number (5, "0.5") as seconds since 1970: the document promises ISO-8601.
    try:
        dt.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValueError("Use ISO-8601 with an offset, e.g. 2026-03-01T00:00:00Z.") from None
    return value


# An instant as ISO-8601 text with an offset, and nothing else.
Instant = Annotated[AwareDatetime, BeforeValidator(_iso_instant)]


# --- keyset pagination ------------------------------------------------------------------------

class PageQuery(Schema):
    """The query of every list: where the page starts and how long it is; filters extend it."""

    cursor: Text | None = Field(None, description="Where the page starts: copy it from the previous page's `next` "
                                "or `previous` link (or just follow the link). Leave it out for the first page.")
    limit: int = Field(50, ge=1, le=200, description="Items per page.")


class PageLinks(Schema):
    """Beside a list's `items`: where the neighbouring pages are. A list's answer extends it with its items."""

    next: str | None = Field(description="The next page's URL; null on the last page.")
    previous: str | None = Field(description="The previous page's URL; null on the first page.")


class IdCursorPagination(CursorPagination):
    """ninja's cursor pagination, by id: no count, no offset scan, stable while rows are added.

    Its cursors are opaque to clients, so one not made by this API (edited, truncated, from another
    list) is a 400 naming `cursor`, never a 500: ninja would pass the position on to the query as it is.
    """

    items_attribute = "items"

    class Cursor(CursorPagination.Cursor):
        @field_validator("p")
        @classmethod
        def _an_id(cls, value: str | None) -> str | None:
            if value is not None and not (value.isascii() and value.isdigit() and int(value) <= MAX_ID):
                raise ValueError("not an id")
            return value

        @classmethod
        def from_encoded_param(cls, encoded_param, context=None):
            try:
                return super().from_encoded_param(encoded_param, context)
            except (NinjaValidationError, PydanticValidationError, UnicodeError):
                raise ApiError(400, {"cursor": ["Not a cursor of this list: follow the `next` or `previous` "
                                                "link as given, or leave `cursor` out for the first page."]}) from None


def refuse_unreadable_query(request) -> None:
    """A query parameter whose value is not UTF-8 text, or holds NUL, is a 400 naming it
    (common.forms.unreadable_fields says why)."""
    if errors := unreadable_fields(request.META.get("QUERY_STRING", "")):
        raise ApiError(400, {name: [message] for name, message in errors.items()})


def refuse_unknown_query(request, allowed: Iterable[str]) -> None:
    """A query parameter the operation does not take is a 400 naming it: ninja ignores it, so a typo such as
    `?stauts=failed` would list every job, without a word. One that is not readable text is too
    (`refuse_unreadable_query`)."""
    refuse_unreadable_query(request)
    allowed = sorted(allowed)
    if unknown := sorted(set(request.GET) - set(allowed)):
        message = f"Unknown query parameter: this takes {', '.join(allowed)}."
        raise ApiError(400, {name or "(no name)": [message] for name in unknown})


def paginate(request, queryset: QuerySet, page: PageQuery) -> dict:
    """One page of `queryset` by id: `{"items": [...], "next": url or None, "previous": url or None}`.

    The links keep the request's other query parameters (its filters). A parameter the list does not take
    is a 400 naming it (`refuse_unknown_query`), and so is one given twice: ninja would quietly take the
    last value, so `?status=failed&status=queued` would list only the queued jobs.
    """
    refuse_unknown_query(request, [field.alias or name for name, field in type(page).model_fields.items()])
    if repeated := sorted(key for key, values in request.GET.lists() if len(values) > 1):
        raise ApiError(400, {key: ["Give this parameter once: it takes one value."] for key in repeated})
    pagination = IdCursorPagination(ordering=("id",), page_size=page.limit, max_page_size=page.limit)
    return pagination.paginate_queryset(queryset, pagination.Input(cursor=page.cursor, page_size=page.limit),
                                        request=request)
