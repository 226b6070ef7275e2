"""The attempt log written in bulk: one binary ``COPY`` (PostgreSQL) or one
``INSERT … SELECT`` over a JSON array of the rows (SQLite).

``bulk_create`` passes every value of every row through the ORM's compiler, which
was most of a settle's time at thousands of attempts a second. On PostgreSQL the
values go in as they are, by binary ``COPY``, which neither side formats nor
parses; on SQLite the backend's own adapters make them what the column stores, and
one statement inserts them all (``core.db.json_rows_select``).
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import attrgetter

from django.db import connection

from core.db import copy_supported, json_rows, json_rows_select, rows_copy
from delivery.claims import SETTLE_CHUNK, chunked, db_adapters
from delivery.models import DeliveryAttempt
from delivery.transport.base import SendResult

COLUMNS = (
    "notification_id",
    "started_at",
    "duration_ms",
    "http_status",
    "error",
    "response_excerpt",
)


def attempts_write(attempts: Sequence[DeliveryAttempt | SendResult]) -> None:
    """Insert ``attempts``, in the current transaction (an unsaved model's ``pk`` stays unset).

    A ``SendResult`` has the log's fields under the same names: the worker passes its
    results as they are.
    """
    if not attempts:
        return
    table = DeliveryAttempt._meta.db_table
    rows = map(attrgetter(*COLUMNS), attempts)
    if copy_supported(connection):
        # Binary COPY takes the values as they are.
        types = [DeliveryAttempt._meta.get_field(column).db_type(connection) for column in COLUMNS]
        rows_copy(connection=connection, table=table, columns=COLUMNS, rows=rows, types=types)
        return
    adapt_datetime, adapt_uuid = db_adapters()
    quote = connection.ops.quote_name
    sql = (
        f"{connection.ops.insert_statement()} {quote(table)} "
        f"({', '.join(map(quote, COLUMNS))}) {json_rows_select(width=len(COLUMNS))}"
    )
    values = (
        (adapt_uuid(notification_id), adapt_datetime(started_at), *rest)
        for notification_id, started_at, *rest in rows
    )
    with connection.cursor() as cursor:
        for chunk in chunked(values, SETTLE_CHUNK):
            cursor.execute(sql, [json_rows(chunk)])
