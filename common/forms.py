"""Validation errors as entrances show them, and the small parsers every page shares."""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from django import forms
from django.core.exceptions import ValidationError

# The largest id a client may send: the databases' bigint. A larger one is "no such row", never a 500.
MAX_ID = 2**63 - 1

NOT_UTF8 = "Send text as UTF-8: this value has bytes that are not (e.g. %FF)."
HAS_NUL = "Text must not contain NUL characters."


def unreadable_fields(encoded: str) -> dict[str, str]:
    """The fields of a URL-encoded string (a query string, a form body) that are not text: `{name: why}`.

    Django reads bytes that are not UTF-8 (`%FF`) as U+FFFD, so a filter would quietly look for that
    character and a form would store it in place of what was typed; and PostgreSQL refuses NUL in any
    text, so a value holding one that reaches a query is a 500 there (SQLite takes it). Both are refused
    before Django decodes them, naming the field.
    """
    errors: dict[str, str] = {}
    for pair in encoded.split("&"):
        if not pair:
            continue
        raw_name, _, raw_value = pair.partition("=")
        try:
            name = unquote_to_bytes(raw_name.replace("+", " ")).decode()
        except UnicodeDecodeError:
            name = "(a name that is not UTF-8)"
        try:
            value = unquote_to_bytes(raw_value.replace("+", " ")).decode()
        except UnicodeDecodeError:
            errors[name] = NOT_UTF8
            continue
        if "\x00" in value or "\x00" in name:
            errors[name] = HAS_NUL
    return errors


def errors_by_field(exc: ValidationError) -> dict[str, list[str]]:
    """A model ValidationError as `{"field": [messages]}`.

    An error about one key inside a JSON field carries that key as `.param` (the task types'
    params do): it is named `field.key`, so the API answers `params.group_id` and a form can put
    the message under that input. What the JSON API answers with HTTP 400.
    """
    if not hasattr(exc, "error_dict"):
        return {"__all__": exc.messages}
    result: dict[str, list[str]] = {}
    for field, errors in exc.error_dict.items():
        for error in errors:
            param = getattr(error, "param", None)
            result.setdefault(f"{field}.{param}" if param else field, []).extend(error.messages)
    return result


def parse_toggle(value: str | None, *, current: bool) -> bool:
    """The state an enable switch asks for: `"true"` / `"false"`, or the opposite of now if neither."""
    if value in ("true", "false"):
        return value == "true"
    return not current


class ModelIdsField(forms.ModelMultipleChoiceField):
    """Django's field for several rows by id, where an id no row can have is "not one of the choices".

    Django catches the ValueError of "abc", but an id past the databases' bigint (2**63) reaches the
    query and overflows there (OverflowError on SQLite, DataError on PostgreSQL): a 500.
    """

    def _check_values(self, value):
        for pk in value:
            text = str(pk)
            if not (text.isascii() and text.isdigit() and 0 < int(text) <= MAX_ID):
                raise ValidationError(self.error_messages["invalid_choice"], code="invalid_choice",
                                      params={"value": text})
        return super()._check_values(value)
