"""Bulk SQL that leans on Django's and psycopg's internals, kept in this one module.

Loading users and writing a day's notifications send one ``executemany`` of a
single-row insert instead of going through ``bulk_create``, which prepares every
value of every row in Python. The statements are spelled by Django's own backend
operations (``insert_statement``, ``on_conflict_suffix_sql``), so they are the ones
``bulk_create(ignore_conflicts=…)`` / ``bulk_create(update_conflicts=…)`` would send;
those are not public API, so ``tests/core/test_db.py`` pins what they return.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

import psycopg
from django.db import IntegrityError, NotSupportedError, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import BooleanField, Model, QuerySet, TextField
from django.db.models.constants import OnConflict
from django.db.models.expressions import RawSQL


def one_of(*, model: type[Model], field: str, values: Sequence) -> RawSQL:
    """A filter for querysets of ``model``: its ``field`` is one of ``values``.

    ``field__in`` prepares every value through the field and, as psycopg binds
    parameters on the client, quotes each into the statement: for the thousands of
    keys of a chunk that costs more than the database takes to answer. On
    PostgreSQL this is ``= ANY`` of one array parameter (an index scan, as ``IN``
    is); elsewhere an ``IN`` list of the values as they are.
    """
    connection = connections[model.objects.db]
    quote = connection.ops.quote_name
    column = f"{quote(model._meta.db_table)}.{quote(model._meta.get_field(field).column)}"
    if connection.vendor == "postgresql":
        return RawSQL(f"{column} = ANY(%s)", (list(values),), output_field=BooleanField())
    marks = ", ".join(["%s"] * len(values))
    return RawSQL(f"{column} IN ({marks})", tuple(values), output_field=BooleanField())


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


@contextmanager
def server_bound_cursor(
    *, connection: BaseDatabaseWrapper, binary_results: bool = False
) -> Iterator:
    """A cursor of ``connection`` (PostgreSQL) whose parameters the server binds.

    Django's PostgreSQL cursors bind parameters on the client, quoting each value into
    the statement as text. This one sends them apart from it, so that a statement can
    be prepared once and a parameter marked ``%b`` travels in binary: an array of a
    thousand values is then copied as it is rather than formatted and parsed element
    by element. With ``binary_results`` the rows come back in binary too, loaded
    with no text parsed (instants in the connection's zone, as Django's own loader
    gives them). It is Django's cursor wrapper around it, so errors are Django's and
    ``execute_wrapper`` hooks see its statements.
    """
    connection.ensure_connection()
    raw = psycopg.Cursor(connection.connection)
    if binary_results:
        raw.format = psycopg.pq.Format.BINARY
    with connection.wrap_database_errors:
        cursor = connection._prepare_cursor(raw)
    with cursor:
        yield cursor


def executemany_prepared(
    *, connection: BaseDatabaseWrapper, sql: str, rows: Iterable[Sequence]
) -> None:
    """Run ``sql`` once per row, in the connection's current transaction, as fast as it can go.

    Django's PostgreSQL cursors bind parameters on the client and never prepare, so
    ``executemany`` would have the server parse and plan the statement once per row.
    Here a server-binding cursor on the same connection, with preparation switched
    on for this call only, pipelines one prepared statement instead. Errors are
    Django's (``IntegrityError``, ``OperationalError``…) on every database.
    """
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.executemany(sql, rows)
        return
    with server_bound_cursor(connection=connection) as cursor:
        raw = connection.connection
        threshold = raw.prepare_threshold
        raw.prepare_threshold = 0
        try:
            cursor.executemany(sql, rows)
        finally:
            raw.prepare_threshold = threshold


def json_rows_select(*, width: int) -> str:
    """SQLite: a ``SELECT`` of the rows of one JSON array parameter, as ``column1``… ``column<width>``.

    The parameter is ``json_rows``' text. One statement over all the rows runs in one
    step of the driver, which lets the interpreter lock go once; ``executemany`` steps
    once per row and lets it go (and waits to take it back) at each, which on a
    worker whose other thread runs an event loop cost more than the writing.
    """
    columns = ", ".join(f"json_extract(value, '$[{at}]') AS column{at + 1}" for at in range(width))
    return f"SELECT {columns} FROM json_each(%s)"


def json_rows(rows: Iterable[Sequence]) -> str:
    """Rows of plain values (text, numbers, None) as the JSON array ``json_rows_select`` reads."""
    return json.dumps(list(rows), separators=(",", ":"))


# The databases whose bulk paths go through ``COPY`` (``temp_table_fill``); the others
# keep ``executemany``. A setting of the code, not of a deployment: tests empty it to
# run the other path on the same database and compare.
COPY_VENDORS = frozenset({"postgresql"})


def copy_supported(connection: BaseDatabaseWrapper) -> bool:
    """Whether bulk writes on ``connection`` take the ``COPY`` path."""
    return connection.vendor in COPY_VENDORS


def rows_copy(
    *,
    connection: BaseDatabaseWrapper,
    table: str,
    columns: Sequence[str],
    rows: Iterable[Sequence],
    types: Sequence[str] | None = None,
) -> None:
    """``COPY`` ``rows`` into ``table`` (PostgreSQL only), in the current transaction.

    With ``types`` (each column's SQL type, exactly), the rows go in binary: values are
    sent as they are, with no text to format or parse on either side.
    All or nothing: one row breaking a constraint fails the whole copy with Django's
    ``IntegrityError``, so a caller expecting conflicts runs it in a savepoint.
    """
    quote = connection.ops.quote_name
    names = ", ".join(map(quote, columns))
    statement = f"COPY {quote(table)} ({names}) FROM STDIN"
    if types is not None:
        statement += " (FORMAT BINARY)"
    with (
        connection.cursor() as cursor,
        connection.wrap_database_errors,
        cursor.cursor.copy(statement) as copy,
    ):
        if types is not None:
            copy.set_types(types)
        for row in rows:
            copy.write_row(row)


def temp_table_fill(
    *,
    connection: BaseDatabaseWrapper,
    name: str,
    like_table: str,
    columns: Sequence[str],
    rows: Iterable[Sequence],
    extra_columns: Sequence[tuple[str, str]] = (),
) -> None:
    """Fill the temporary table ``name`` with ``rows`` through ``COPY`` (PostgreSQL only).

    The table has ``columns`` of ``like_table``, with their types but none of its
    constraints or defaults, then each ``(name, SQL type)`` of ``extra_columns``; the
    rows give values for all of them, in that order. It lives until the end of the
    current transaction, which must be open; filled again in the same transaction,
    it is emptied first.
    """
    quote = connection.ops.quote_name
    selected = [quote(column) for column in columns]
    selected += [f"NULL::{sql_type} AS {quote(extra)}" for extra, sql_type in extra_columns]
    names = ", ".join([quote(column) for column in columns] + [quote(e) for e, _ in extra_columns])
    with connection.cursor() as cursor:
        # One round trip for both (no parameters, so the two statements may share it).
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {quote(name)} ON COMMIT DROP AS "
            f"SELECT {', '.join(selected)} FROM {quote(like_table)} WITH NO DATA; "
            f"TRUNCATE {quote(name)}"
        )
        raw = cursor.cursor
        with (
            connection.wrap_database_errors,
            raw.copy(f"COPY {quote(name)} ({names}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)


def insert_ignore_from_temp(
    *,
    connection: BaseDatabaseWrapper,
    table: str,
    temp_table: str,
    columns: Sequence[str],
    returning: str,
) -> list:
    """Insert every row of ``temp_table`` into ``table``, skipping those breaking a unique key.

    One ``INSERT … SELECT … ON CONFLICT DO NOTHING``; returns the ``returning`` column
    of the rows that went in (PostgreSQL only).
    """
    quote = connection.ops.quote_name
    names = ", ".join(map(quote, columns))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(table)} ({names}) SELECT {names} FROM {quote(temp_table)} "
            f"ON CONFLICT DO NOTHING RETURNING {quote(returning)}"
        )
        return [value for (value,) in cursor.fetchall()]


def rows_insert_ignore_copy(
    *,
    connection: BaseDatabaseWrapper,
    table: str,
    columns: Sequence[str],
    rows: Sequence[Sequence],
    key: str,
) -> list | None:
    """Insert ``rows`` into ``table`` by ``COPY``, skipping those breaking a unique key (PostgreSQL).

    First straight into the table, in a savepoint (a copy is all or nothing): None
    then says every row went in. When some row conflicts, the rows go through a
    temporary table instead, in one insert that skips conflicts, and the ``key``
    column of the rows that went in is returned. Runs in the caller's transaction.
    """
    try:
        with transaction.atomic(using=connection.alias):
            rows_copy(connection=connection, table=table, columns=columns, rows=rows)
        return None
    except IntegrityError:
        pass  # e.g. another run wrote some of these rows meanwhile: theirs are kept
    temp_table = f"{table}_incoming"
    temp_table_fill(
        connection=connection, name=temp_table, like_table=table, columns=columns, rows=rows
    )
    return insert_ignore_from_temp(
        connection=connection, table=table, temp_table=temp_table, columns=columns, returning=key
    )


def commit_without_flush(*, connection: BaseDatabaseWrapper) -> None:
    """Let the current transaction's commit return before its log reaches the disk (PostgreSQL).

    For writes that are safe to lose in a crash because they are made again (the
    database stays consistent: the last transactions are simply missing). Any later
    transaction that commits normally waits for everything before it too.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


@contextmanager
def advisory_lock(*, connection: BaseDatabaseWrapper, name: str) -> Iterator[bool]:
    """Try to take the session lock called ``name`` (PostgreSQL); yields whether this holder has it.

    Never waits: a second holder gets False at once and should leave the work to
    the first. The lock goes with the session, so a process that dies releases it.
    On other databases (one process, SQLite) it always yields True.
    """
    if connection.vendor != "postgresql":
        yield True
        return
    # A stable 64-bit key from the name: the same in every process.
    key = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
        (acquired,) = cursor.fetchone()
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])


def queryset_raw_delete(queryset: QuerySet) -> int:
    """Delete the rows ``queryset`` selects with one ``DELETE``; the number deleted.

    ``QuerySet.delete()`` first loads every row whose model has dependants (to cascade
    and send signals): for a bulk purge that is the whole batch read into Python. This
    sends the statement alone, so the caller deletes the dependants itself first (the
    database's foreign keys still refuse a row that has any left). No signals are sent.
    """
    return queryset._raw_delete(queryset.db)


def rows_delete_with_dependants(
    *, queryset: QuerySet, limit: int, dependants: Sequence[tuple[type[Model], str]]
) -> tuple[int, int]:
    """Delete up to ``limit`` rows of ``queryset`` and the rows of ``dependants`` pointing at them.

    ``dependants`` are (model, foreign-key column) pairs. The rows are locked as they
    are chosen, skipping any another transaction holds, so a row being changed right
    now is left for a later call. Runs in the caller's transaction, which must be
    open. Returns (rows deleted, dependant rows deleted).

    On PostgreSQL it is one statement (the choice, then each ``DELETE`` as a
    data-modifying CTE), so no list of keys travels to the client and back; elsewhere
    the keys are read, then each table is deleted from by key.
    """
    connection = connections[queryset.db]
    model = queryset.model
    pk = model._meta.pk
    chosen = queryset.order_by().select_for_update(skip_locked=True)[:limit]
    if connection.vendor != "postgresql":
        keys = list(chosen.values_list(pk.attname, flat=True))
        if not keys:
            return 0, 0
        dependant_rows = sum(
            queryset_raw_delete(dependant.objects.filter(**{f"{column}__in": keys}))
            for dependant, column in dependants
        )
        return queryset_raw_delete(model.objects.filter(pk__in=keys)), dependant_rows
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    # The locked rows are fetched again by their physical address (the lock keeps it
    # valid), not probed for through the primary key index once more.
    located = chosen.annotate(row_ctid=RawSQL(f"{table}.ctid", (), output_field=TextField()))
    select_sql, params = located.values("row_ctid").query.sql_with_params()
    ctes = [
        f"chosen AS ({select_sql})",
        f"deleted AS (DELETE FROM {table} WHERE ctid = ANY(ARRAY(SELECT row_ctid FROM chosen)) "
        f"RETURNING {quote(pk.column)} AS row_key)",
    ]
    # The dependants go with the rows actually deleted (a row updated meanwhile is
    # not), each by one index scan over the keys; all constraints are checked at the
    # statement's end (or commit), after every CTE ran.
    for index, (dependant, column) in enumerate(dependants):
        ctes.append(
            f"dependant_{index} AS (DELETE FROM {quote(dependant._meta.db_table)} "
            f"WHERE {quote(column)} = ANY(ARRAY(SELECT row_key FROM deleted)) RETURNING 1)"
        )
    counts = " + ".join(
        f"(SELECT count(*) FROM dependant_{index})" for index in range(len(dependants))
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH {', '.join(ctes)} SELECT (SELECT count(*) FROM deleted), {counts or '0'}",
            params,
        )
        rows, dependant_rows = cursor.fetchone()
    return rows, dependant_rows


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
