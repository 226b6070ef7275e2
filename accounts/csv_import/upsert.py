"""A chunk of valid rows into ``accounts.User``: one select, one executemany, counted.

The select of the chunk's existing rows tells created, updated and unchanged
apart, so an unchanged re-load writes nothing. The write is one ``executemany`` of
``INSERT … ON CONFLICT (user_id) DO UPDATE`` (``core.db``), not
``bulk_create(update_conflicts=True)``, which prepares every field's value in
Python and, on SQLite, caps its statements' rows (see bench/load_users.py).
"""

from __future__ import annotations

from django.db import connection

from accounts.csv_import.fields import TIMEZONE_COLUMN
from accounts.models import CSV_FIELDS, ROTATION_SLOTS, User
from core.db import executemany_prepared, upsert_sql

_WRITTEN_COLUMNS = (*CSV_FIELDS, TIMEZONE_COLUMN, "rotation_slot")


def chunk_upsert(
    rows: list[tuple], *, columns: tuple[str, ...], first_number: int
) -> tuple[int, int, int]:
    """Upsert rows of distinct ids; (created, updated, unchanged).

    The created rows are numbered from ``first_number`` in file order; their
    rotation slot is that number modulo the slots. An updated user keeps its slot.
    """
    existing = dict(
        (values[0], values)
        for values in User.objects.filter(user_id__in=[values[0] for values in rows]).values_list(
            *columns
        )
    )
    created = updated = 0
    changed: list[tuple] = []
    for values in rows:
        old = existing.get(values[0])
        if old == values:
            continue
        if len(columns) == len(CSV_FIELDS):
            # New rows get the default timezone; existing rows keep theirs.
            values = (*values, "")
        if old is None:
            slot = (first_number + created) % ROTATION_SLOTS
            created += 1
        else:
            # Never written: the upsert leaves an existing row's slot alone.
            slot = 0
            updated += 1
        changed.append((*values, slot))
    if changed:
        _rows_upsert(changed, columns=columns)
    return created, updated, len(rows) - created - updated


def _rows_upsert(rows: list[tuple], *, columns: tuple[str, ...]) -> None:
    """Insert-or-update ``rows`` (the ten fields and the rotation slot each) in one executemany."""
    # Only the file's columns are updated: without a timezone column, existing
    # rows keep theirs, and the rotation slot (never a file column) is kept always.
    sql = upsert_sql(
        connection=connection,
        table=User._meta.db_table,
        columns=_WRITTEN_COLUMNS,
        unique=_WRITTEN_COLUMNS[:1],
        update=_WRITTEN_COLUMNS[1 : len(columns)],
    )
    executemany_prepared(connection=connection, sql=sql, rows=rows)
