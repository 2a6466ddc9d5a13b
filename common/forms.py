"""Validation errors as entrances show them, and the small parsers every page shares."""

from __future__ import annotations

from django.core.exceptions import ValidationError


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
