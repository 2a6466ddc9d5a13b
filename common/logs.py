"""Log lines with fields: readable `key=value` by default, JSON lines with `LOG_FORMAT=json`.

The code logs with the standard library and gives its ids as fields through `extra`:

    logger.info("Job started", extra={"event": "job_start", "job_id": job.pk, "attempt": 2})

Both formatters put those fields after the message: the readable one as `job_id=5 attempt=2`, the
JSON one as keys of the line's object beside `time` (ISO 8601, UTC), `level`, `logger`, `message`
and, when there is one, `exception` (its traceback as text). A field is whatever the record carries
that a plain LogRecord does not, so Django's and django-q2's lines come out in the same shape.
`config/settings.py` picks the formatter (`LOGGING`).
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone

FORMATS = ("text", "json")

# What every LogRecord has; anything else on a record came in through `extra`.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}


def fields_of(record: logging.LogRecord) -> dict:
    """The record's own fields (its `extra`), in the order they were given."""
    return {key: value for key, value in vars(record).items() if key not in _STANDARD and not key.startswith("_")}


def _time(record: logging.LogRecord) -> str:
    instant = datetime.fromtimestamp(record.created, tz=timezone.utc)
    return instant.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _plain(value):
    """A field's value as JSON can hold it: numbers, text, lists and mappings as they are, the rest
    (instants, requests...) as text."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    return str(value)


def _text_value(value) -> str:
    value = _plain(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        # Bare when unambiguous; otherwise quoted as JSON, so a reader can split the line again.
        if value and not any(ch in value for ch in ' "=\\') and value.isprintable():
            return value
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class KeyValueFormatter(logging.Formatter):
    """`2026-12-01T10:00:00.123Z INFO jobs.runner: Job started event=job_start job_id=5`, then the
    exception's traceback, if any, on the lines below."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{_time(record)} {record.levelname} {record.name}: {record.getMessage()}"
        fields = " ".join(f"{key}={_text_value(value)}" for key, value in fields_of(record).items())
        if fields:
            line = f"{line} {fields}"
        if record.exc_info or record.exc_text or record.stack_info:
            line = f"{line}\n{self._details(record)}"
        return line

    def _details(self, record: logging.LogRecord) -> str:
        parts = []
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            parts.append(record.exc_text)
        if record.stack_info:
            parts.append(self.formatStack(record.stack_info))
        return "\n".join(parts)


class JsonFormatter(KeyValueFormatter):
    """One JSON object per line: time, level, logger, message, the record's fields, exception."""

    def format(self, record: logging.LogRecord) -> str:
        line = {"time": _time(record), "level": record.levelname, "logger": record.name,
                "message": record.getMessage()}
        for key, value in fields_of(record).items():
            line.setdefault(key, _plain(value))
        if record.exc_info or record.exc_text or record.stack_info:
            line["exception"] = self._details(record)
        return json.dumps(line, ensure_ascii=False)
