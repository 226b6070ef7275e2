"""A chunk of valid rows into ``accounts.User``: one select, one executemany, counted.

On PostgreSQL the chunk is copied into a temporary table instead and upserted from it
in one statement that also counts (``_chunk_upsert_copy``); the results are the same.

The select of the chunk's existing rows tells created, updated and unchanged
apart, so an unchanged re-load writes nothing. The write is one ``executemany`` of
``INSERT … ON CONFLICT (user_id) DO UPDATE`` (``core.db``), not
``bulk_create(update_conflicts=True)``, which prepares every field's value in
Python and, on SQLite, caps its statements' rows (see bench/load_users.py).
"""

from __future__ import annotations

from django.db import connection

from accounts.csv_import.fields import OPTIONAL_COLUMNS, SEND_TIME_COLUMN
from accounts.models import CSV_FIELDS, ROTATION_SLOTS, User
from core.db import copy_supported, executemany_prepared, temp_table_fill, upsert_sql

_WRITTEN_COLUMNS = (*CSV_FIELDS, *OPTIONAL_COLUMNS, "rotation_slot")
# What a created user gets for an optional column the file does not have.
_DEFAULTS = {"timezone": "", "send_time": None}


def chunk_upsert(
    rows: list[tuple], *, fields: tuple[str, ...], first_number: int
) -> tuple[int, int, int]:
    """Upsert rows of distinct ids, their values in ``fields`` order; (created, updated, unchanged).

    The created rows are numbered from ``first_number`` in file order; their
    rotation slot is that number modulo the slots. An updated user keeps its slot,
    and the optional columns the file does not have.
    """
    if copy_supported(connection):
        return _chunk_upsert_copy(rows, columns=fields, first_number=first_number)
    existing = dict(
        (values[0], values)
        for values in User.objects.filter(user_id__in=[values[0] for values in rows]).values_list(
            *fields
        )
    )
    # Where each written column's value comes from: the row, or the default.
    sources = [fields.index(name) if name in fields else None for name in _WRITTEN_COLUMNS[:-1]]
    send_time = _WRITTEN_COLUMNS.index(SEND_TIME_COLUMN)
    adapt_time = connection.ops.adapt_timefield_value
    created = updated = 0
    changed: list[tuple] = []
    for values in rows:
        old = existing.get(values[0])
        if old == values:
            continue
        written = [
            _DEFAULTS[name] if source is None else values[source]
            for name, source in zip(_WRITTEN_COLUMNS[:-1], sources, strict=True)
        ]
        # The raw driver, unlike the ORM, has no adapter for a time on SQLite.
        written[send_time] = adapt_time(written[send_time])
        values = tuple(written)
        if old is None:
            slot = (first_number + created) % ROTATION_SLOTS
            created += 1
        else:
            # Never written: the upsert leaves an existing row's slot alone.
            slot = 0
            updated += 1
        changed.append((*values, slot))
    if changed:
        _rows_upsert(changed, fields=fields)
    return created, updated, len(rows) - created - updated


def _rows_upsert(rows: list[tuple], *, fields: tuple[str, ...]) -> None:
    """Insert-or-update ``rows`` (every written column each) in one executemany."""
    # Only the file's columns are updated: without a timezone or send_time column,
    # existing rows keep theirs, and the rotation slot (never a file column) is kept always.
    sql = upsert_sql(
        connection=connection,
        table=User._meta.db_table,
        columns=_WRITTEN_COLUMNS,
        unique=_WRITTEN_COLUMNS[:1],
        update=fields[1:],
    )
    executemany_prepared(connection=connection, sql=sql, rows=rows)


def _chunk_upsert_copy(
    rows: list[tuple], *, columns: tuple[str, ...], first_number: int
) -> tuple[int, int, int]:
    """``chunk_upsert`` on PostgreSQL: ``COPY`` into a temporary table, then one statement.

    The statement compares each row with the stored one, numbers the created rows
    in file order for their rotation slot, writes only what is new or changed and
    counts what it created and updated (``xmax = 0``: the row was inserted, not
    updated), so nothing comes back to Python but two numbers.
    """
    quote = connection.ops.quote_name
    temp_table_fill(
        connection=connection,
        name="accounts_user_chunk",
        like_table=User._meta.db_table,
        columns=columns,
        rows=((*values, index) for index, values in enumerate(rows)),
        extra_columns=[("file_order", "integer")],
    )
    compared = columns[1:]
    old = ", ".join(f"stored.{quote(column)}" for column in compared)
    new = ", ".join(f"chunk.{quote(column)}" for column in compared)
    # A written column the file does not have: the model's default for a new user; an
    # existing user keeps its value (it is not in the update list).
    selected, defaults = [], []
    for column in _WRITTEN_COLUMNS[:-1]:
        if column in columns:
            selected.append(f"changed.{quote(column)}")
        else:
            selected.append("%s")
            defaults.append(User._meta.get_field(column).get_default())
    written = ", ".join(map(quote, _WRITTEN_COLUMNS))
    updates = ", ".join(f"{quote(column)} = EXCLUDED.{quote(column)}" for column in compared)
    key = quote(columns[0])
    sql = f"""
        WITH changed AS (
            SELECT chunk.*, stored.{key} IS NULL AS created,
                   row_number() OVER (
                       PARTITION BY stored.{key} IS NULL ORDER BY chunk.file_order
                   ) - 1 AS created_number
            FROM accounts_user_chunk AS chunk
            LEFT JOIN {quote(User._meta.db_table)} AS stored ON stored.{key} = chunk.{key}
            WHERE stored.{key} IS NULL OR ({old}) IS DISTINCT FROM ({new})
        ), upserted AS (
            INSERT INTO {quote(User._meta.db_table)} ({written})
            SELECT {", ".join(selected)},
                   CASE WHEN changed.created
                        THEN (%s + changed.created_number) %% %s ELSE 0 END
            FROM changed
            ON CONFLICT ({key}) DO UPDATE SET {updates}
            RETURNING xmax = 0 AS inserted
        )
        SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted)
        FROM upserted
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [*defaults, first_number, ROTATION_SLOTS])
        created, updated = cursor.fetchone()
    return created, updated, len(rows) - created - updated
