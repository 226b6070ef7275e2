"""Bulk SQL that leans on Django's and psycopg's internals, kept in this one module.

Loading users and writing a day's notifications send one ``executemany`` of a
single-row insert instead of going through ``bulk_create``, which prepares every
value of every row in Python. The statements are spelled by Django's own backend
operations (``insert_statement``, ``on_conflict_suffix_sql``), so they are the ones
``bulk_create(ignore_conflicts=…)`` / ``bulk_create(update_conflicts=…)`` would send;
those are not public API, so ``tests/core/test_db.py`` pins what they return.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import psycopg
from django.db import NotSupportedError
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.constants import OnConflict


def insert_ignore_sql(
    *, connection: BaseDatabaseWrapper, table: str, columns: Sequence[str]
) -> str:
    """A one-row INSERT into ``table`` that skips, without an error, a row breaking a unique key."""
    return _insert_sql(
        connection=connection, table=table, columns=columns, on_conflict=OnConflict.IGNORE
    )


def upsert_sql(
    *,
    connection: BaseDatabaseWrapper,
    table: str,
    columns: Sequence[str],
    unique: Sequence[str],
    update: Sequence[str],
) -> str:
    """A one-row INSERT into ``table`` that, on a conflict over ``unique``, sets only ``update``.

    The other columns of an existing row keep their values.
    """
    if not connection.features.supports_update_conflicts_with_target:
        # Django would spell no conflict clause: an insert that fails on the first update.
        raise NotSupportedError(f"{connection.display_name} cannot update on conflict")
    return _insert_sql(
        connection=connection,
        table=table,
        columns=columns,
        on_conflict=OnConflict.UPDATE,
        unique=unique,
        update=update,
    )


def executemany_prepared(
    *, connection: BaseDatabaseWrapper, sql: str, rows: Iterable[Sequence]
) -> None:
    """Run ``sql`` once per row, in the connection's current transaction, as fast as it can go.

    Django's PostgreSQL cursors bind parameters on the client and never prepare, so
    ``executemany`` would have the server parse and plan the statement once per row.
    Here a server-binding psycopg cursor on the same connection, with preparation
    switched on for this call only, pipelines one prepared statement instead. Errors
    are Django's (``IntegrityError``, ``OperationalError``…) on every database.
    """
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.executemany(sql, rows)
        return
    connection.ensure_connection()
    raw = connection.connection
    threshold = raw.prepare_threshold
    raw.prepare_threshold = 0
    try:
        with connection.wrap_database_errors, psycopg.Cursor(raw) as cursor:
            cursor.executemany(sql, rows)
    finally:
        raw.prepare_threshold = threshold


def _insert_sql(
    *,
    connection: BaseDatabaseWrapper,
    table: str,
    columns: Sequence[str],
    on_conflict: OnConflict,
    unique: Sequence[str] = (),
    update: Sequence[str] = (),
) -> str:
    quote = connection.ops.quote_name
    suffix = connection.ops.on_conflict_suffix_sql([], on_conflict, update, unique)
    return (
        f"{connection.ops.insert_statement(on_conflict=on_conflict)} {quote(table)} "
        f"({', '.join(map(quote, columns))}) VALUES ({', '.join(['%s'] * len(columns))})"
        + (f" {suffix}" if suffix else "")
    )
