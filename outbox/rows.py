"""Writing new outbox rows in bulk, once per user and date, for every path that writes them.

One statement a chunk, sent directly rather than through ``bulk_create``, which
prepares every value through the ORM and dominated generation's time
(``bench/generate.py`` measures it): ``INSERT ... ON CONFLICT DO NOTHING``, or
``COPY`` on PostgreSQL. The unique (user, date) constraint keeps the first row
when another run got there too, and the rows that went in are told apart by
their ids, made here rather than by the database.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass

from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from core.db import (
    commit_without_flush,
    copy_supported,
    insert_ignore_sql,
    rows_insert_ignore_copy,
)
from outbox.models import DailyNotification
from outbox.window import Window


@dataclass(frozen=True, slots=True)
class NewRow:
    """The values of a notification about to be inserted; the rest are model defaults."""

    id: uuid.UUID
    user_id: str
    category: str
    title: str
    body: str
    generated_by: str
    window: Window
    # The model's usage for this text; None for offline text.
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


def rows_insert(*, rows: list[NewRow], written_at: datetime.datetime) -> list[NewRow]:
    """Insert ``rows`` in one statement, skipping users who have a row for the date by now.

    Returns the rows that went in. Usually that is all of them, which the row count
    says; when another run got some users first, the rows that went in are those
    whose id (made here, not by the database) is in the table.
    """
    if not rows:
        return []
    # The connection itself, not the thread-local proxy: it is consulted for every value.
    connection = connections[DEFAULT_DB_ALIAS]
    meta = DailyNotification._meta
    fields = meta.concrete_fields
    column = {field.attname: index for index, field in enumerate(fields)}
    window_columns = [column["date"], column["send_at"], column["expires_at"]]
    # One template row gives every column its model default, prepared once per insert;
    # each window's three values are prepared once per window.
    template = DailyNotification(created_at=written_at, updated_at=written_at)
    defaults = [
        field.get_db_prep_save(getattr(template, field.attname), connection) for field in fields
    ]
    prepared: dict[Window, list] = {}
    params = []
    for row in rows:
        window_values = prepared.get(row.window)
        if window_values is None:
            window_values = prepared[row.window] = [
                fields[index].get_db_prep_save(value, connection)
                for index, value in zip(
                    window_columns,
                    (row.window.date, row.window.send_at, row.window.expires_at),
                    strict=True,
                )
            ]
        values = defaults.copy()
        for index, value in zip(window_columns, window_values, strict=True):
            values[index] = value
        values[column["id"]] = meta.pk.get_db_prep_save(row.id, connection)
        values[column["user_id"]] = row.user_id
        values[column["category"]] = row.category
        values[column["title"]] = row.title
        values[column["body"]] = row.body
        values[column["generated_by"]] = row.generated_by
        values[column["prompt_tokens"]] = row.prompt_tokens
        values[column["completion_tokens"]] = row.completion_tokens
        params.append(values)
    if copy_supported(connection):
        return _rows_insert_copy(rows=rows, params=params, connection=connection)
    insert = insert_ignore_sql(
        connection=connection, table=meta.db_table, columns=[field.column for field in fields]
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(insert, params)
        inserted_count = cursor.rowcount
    if inserted_count == len(rows):
        return rows
    ours = set(
        DailyNotification.objects.filter(id__in=[row.id for row in rows])
        .order_by()
        .values_list("id", flat=True)
    )
    return [row for row in rows if row.id in ours]


def _rows_insert_copy(
    *, rows: list[NewRow], params: list[list], connection: BaseDatabaseWrapper
) -> list[NewRow]:
    """The PostgreSQL path of ``rows_insert``: the rows go in by ``COPY``.

    ``params`` holds every column's value of each row, in the model's field order.
    First straight into the table (in a savepoint: all or nothing); when another run
    got some users first, into a temporary table instead and from there in one
    insert that skips conflicts and returns the ids that went in. The commit does
    not wait for the disk (see below), which is most of a chunk's time on a busy one.
    """
    meta = DailyNotification._meta
    columns = [field.column for field in meta.concrete_fields]
    with transaction.atomic():
        # A chunk lost in a crash is written again by the next run, and a delivery claim
        # (which commits normally) makes it durable first: the commit need not wait.
        commit_without_flush(connection=connection)
        # Usually no user of the chunk has a row by now (they were checked before
        # writing): then the rows go straight into the table, and that is all.
        inserted = rows_insert_ignore_copy(
            connection=connection,
            table=meta.db_table,
            columns=columns,
            rows=params,
            key=meta.pk.column,
        )
    if inserted is None:
        return rows
    inserted = set(inserted)
    return [row for row in rows if row.id in inserted]
