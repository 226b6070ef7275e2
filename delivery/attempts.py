"""The attempt log written in bulk: one binary ``COPY`` (PostgreSQL) or one prepared INSERT
run for every attempt of a settle.

``bulk_create`` passes every value of every row through the ORM's compiler, which
was most of a settle's time at thousands of attempts a second. On PostgreSQL the
values go in as they are, by binary ``COPY``, which neither side formats nor
parses; elsewhere the backend's own adapters make them what the driver takes, and
``core.db.executemany_prepared`` sends them as one prepared statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import attrgetter

from django.db import connection

from core.db import copy_supported, executemany_prepared, rows_copy
from delivery.claims import db_adapters
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
        f"({', '.join(map(quote, COLUMNS))}) VALUES ({', '.join(['%s'] * len(COLUMNS))})"
    )
    executemany_prepared(
        connection=connection,
        sql=sql,
        rows=[
            (adapt_uuid(notification_id), adapt_datetime(started_at), *rest)
            for notification_id, started_at, *rest in rows
        ],
    )
