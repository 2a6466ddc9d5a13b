"""Django's format for an instant shown without an explicit format (the admin's lists and read-only
fields, `{{ value }}` of a datetime): the pages' one format, with its zone. Django's own English format
("Dec. 4, 2026, 7:37 p.m.") names no zone. Found through FORMAT_MODULE_PATH; en-us falls back to `en`."""

from common.formatting import INSTANT_FORMAT

DATETIME_FORMAT = INSTANT_FORMAT
