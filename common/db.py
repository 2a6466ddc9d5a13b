"""Database plumbing every app may use."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.db import DEFAULT_DB_ALIAS, connections, models


def update_rows(model: type[models.Model], rows: Sequence[models.Model], fields: Sequence[str], *,
                now: datetime, using: str = DEFAULT_DB_ALIAS) -> None:
    """Write these columns of each row, found by primary key: one UPDATE per row, sent in one executemany.

    What Django's `bulk_update` would do, but without the CASE WHEN it builds per field and row:
    in the scheduler's pass with 1,000 due windows, `bulk_update` of the schedules' state took
    27x as long as this (668.7 ms against 24.4 ms, more than the rest of the pass together;
    docs/benchmarks.md, "What the bypasses buy"), and for 15 videos it cost ~60 ms of CPU
    (bench/channel_sync.py).

    Like `save()`, and unlike `bulk_update` and `QuerySet.update()`, it sets the model's `auto_now`
    fields: to `now`, on the instances and in the table. Values are adapted by each field
    (`get_db_prep_save`), so a datetime is stored as the ORM stores it (on SQLite, UTC text that
    compares as the ORM's lookups expect).
    """
    if not rows:
        return
    meta = model._meta
    connection = connections[using]
    targets = []
    for name in fields:
        field = meta.get_field(name)
        if not field.concrete or field.many_to_many or field.primary_key:
            raise ValueError(f"update_rows() can write only concrete columns; {model.__name__}.{name} is not one.")
        if not getattr(field, "auto_now", False):
            targets.append(field)
    stamped = [field for field in meta.concrete_fields if getattr(field, "auto_now", False)]
    for field in stamped:
        value = now if isinstance(field, models.DateTimeField) else now.date()
        for row in rows:
            setattr(row, field.attname, value)
    targets += stamped
    if not targets:
        return
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(field.column)} = %s" for field in targets)
    sql = f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {quote(meta.pk.column)} = %s"
    params = [[field.get_db_prep_save(getattr(row, field.attname), connection) for field in targets]
              + [meta.pk.get_db_prep_save(row.pk, connection)] for row in rows]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)
