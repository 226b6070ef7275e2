"""Writing new outbox rows in bulk, once per user and date, for every path that writes them.

One statement a chunk, sent directly rather than through ``bulk_create``, which
prepares every value through the ORM and dominated generation's time
(``bench/generate.py`` measures it): ``INSERT ... ON CONFLICT DO NOTHING``, or
``COPY`` on PostgreSQL. The unique (user, date) constraint keeps the first row
when another run got there too, and the rows that went in are told apart by
their ids, made here (``new_ids``) rather than by the database. A caller with
more chunks to come can hand each to ``BackgroundInserts`` and go on meanwhile.
"""

from __future__ import annotations

import datetime
import logging
import os
from concurrent.futures import Future, ThreadPoolExecutor
from typing import NamedTuple

from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import NOT_PROVIDED, Field

from core.db import (
    commit_without_flush,
    copy_supported,
    insert_ignore_sql,
    rows_insert_ignore_copy,
)
from core.logs import log_action
from outbox.models import DailyNotification
from outbox.window import Window

logger = logging.getLogger(__name__)

# The name (a prefix) of the thread ``BackgroundInserts`` runs inserts on.
INSERT_THREAD_NAME = "outbox-insert"


class NewRow(NamedTuple):
    """The values of a notification about to be inserted; the rest are model defaults.

    A named tuple, made once per user: its values after the window are the row's
    columns as they are (``ROW_COLUMNS``), so a row of parameters is a slice of it.
    """

    window: Window
    # From ``new_ids``: the 32 hex digits both databases read as a UUID.
    id: str
    user_id: str
    category: str
    title: str
    body: str
    generated_by: str
    # The model's usage for this text; None for offline text.
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


# A random 128-bit number with these bits set and cleared is a version 4 UUID.
_UUID4_KEPT = ~((0xF << 76) | (0x3 << 62)) & ((1 << 128) - 1)
_UUID4_SET = (0x4 << 76) | (0x2 << 62)


def new_ids(count: int) -> list[str]:
    """``count`` new row ids: random (version 4) UUIDs as 32 hex digits, from one read of randomness.

    A ``uuid.uuid4()`` per row reads the system's randomness once each and builds an
    object the driver formats again; SQLite stores the hex digits as they are.
    """
    randomness = os.urandom(16 * count)
    return [
        f"{int.from_bytes(randomness[start : start + 16]) & _UUID4_KEPT | _UUID4_SET:032x}"
        for start in range(0, 16 * count, 16)
    ]


# The columns (attnames) a NewRow gives directly, in its order; then those of its window.
ROW_COLUMNS = NewRow._fields[1:]
WINDOW_COLUMNS = ("date", "send_at", "expires_at")


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
    field_named = {field.attname: field for field in meta.concrete_fields}
    defaulted = _columns_defaulted_here()
    columns = [field_named[name].column for name in (*ROW_COLUMNS, *WINDOW_COLUMNS)]
    columns += [field.column for field in defaulted]
    # One template row gives the columns the database does not fill their model
    # defaults, prepared once per insert; each window's values are prepared once per
    # window. A row's parameters are then three tuples joined, with no work per column.
    by_copy = copy_supported(connection)

    def prepared(field: Field, value: object) -> object:
        value = field.get_db_prep_save(value, connection)
        # COPY reads text: the driver formatting dates and instants anew for every row
        # costs more than all the other values of the row together.
        return value.isoformat() if by_copy and isinstance(value, datetime.date) else value

    template = DailyNotification(created_at=written_at, updated_at=written_at)
    defaults = tuple(prepared(field, getattr(template, field.attname)) for field in defaulted)
    # By identity: the rows of one window share its object, and hashing a window per
    # row would cost more than joining its values.
    windows: dict[int, tuple] = {}

    def window_values(window: Window) -> tuple:
        values = windows.get(id(window))
        if values is None:
            values = windows[id(window)] = tuple(
                prepared(field_named[name], getattr(window, name)) for name in WINDOW_COLUMNS
            )
        return values

    params = [row[1:] + window_values(row.window) + defaults for row in rows]
    if by_copy:
        return _rows_insert_copy(rows=rows, params=params, columns=columns, connection=connection)
    insert = insert_ignore_sql(connection=connection, table=meta.db_table, columns=columns)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(insert, params)
        inserted_count = cursor.rowcount
    if inserted_count == len(rows):
        return rows
    ours = {
        stored.hex
        for stored in DailyNotification.objects.filter(id__in=[row.id for row in rows])
        .order_by()
        .values_list("id", flat=True)
    }
    return [row for row in rows if row.id in ours]


def _columns_defaulted_here() -> list[Field]:
    """The columns a new row neither gives nor leaves to the database (which has their default).

    Fewer columns sent is less to write and parse for every row of a bulk write.
    """
    given = {*ROW_COLUMNS, *WINDOW_COLUMNS}
    return [
        field
        for field in DailyNotification._meta.concrete_fields
        if field.attname not in given
        and field.db_default is NOT_PROVIDED
        and not (field.null and field.default in (None, NOT_PROVIDED))
    ]


def _rows_insert_copy(
    *,
    rows: list[NewRow],
    params: list[tuple],
    columns: list[str],
    connection: BaseDatabaseWrapper,
) -> list[NewRow]:
    """The PostgreSQL path of ``rows_insert``: the rows go in by ``COPY``.

    ``params`` holds every column's value of each row, in the order of ``columns``.
    First straight into the table (in a savepoint: all or nothing); when another run
    got some users first, into a temporary table instead and from there in one
    insert that skips conflicts and returns the ids that went in. The commit does
    not wait for the disk (see below), which is most of a chunk's time on a busy one.
    """
    meta = DailyNotification._meta
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
    inserted = {stored.hex for stored in inserted}
    return [row for row in rows if row.id in inserted]


class InsertDone(NamedTuple):
    """A finished ``rows_insert``: the rows given and those that went in."""

    rows: list[NewRow]
    inserted: list[NewRow]


class BackgroundInserts:
    """``rows_insert`` calls run one at a time on a thread of their own, so the caller works on.

    While the database works through one chunk (its ``COPY``, then the commit and
    the foreign key checks that come with it), the caller reads and writes the
    next. At most one insert is under way: ``insert`` first waits for the one
    before. The thread has a connection of its own, which cannot see a caller's
    uncommitted rows: inside a caller's transaction, and on SQLite (one writer at a
    time), each insert runs at once on the caller's thread instead.
    """

    def __init__(self) -> None:
        connection = connections[DEFAULT_DB_ALIAS]
        # Not in autocommit: the caller's transaction (atomic or by hand) is open.
        background = connection.vendor == "postgresql" and connection.get_autocommit()
        self.executor = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix=INSERT_THREAD_NAME)
            if background
            else None
        )
        self.under_way: Future[InsertDone] | None = None

    def insert(self, *, rows: list[NewRow], written_at: datetime.datetime) -> InsertDone | None:
        """Start inserting ``rows``; returns the insert before, once done (None if there was none).

        An error of the insert before is raised here; without a thread, this insert's.
        """
        done = self.wait()
        if self.executor is None:
            finished: Future[InsertDone] = Future()
            finished.set_result(_insert_done(rows, written_at))
            self.under_way = finished
        else:
            self.under_way = self.executor.submit(_insert_done, rows, written_at)
        return done

    def check(self) -> None:
        """Raise the error of the insert under way if it has failed already; never waits.

        For a caller about to spend on its next chunk (a model's tokens, say).
        """
        under_way = self.under_way
        if under_way is not None and under_way.done() and under_way.exception() is not None:
            self.wait()

    def wait(self) -> InsertDone | None:
        """The insert under way, once it is done (its error raised); None when there is none."""
        under_way, self.under_way = self.under_way, None
        return None if under_way is None else under_way.result()

    def close(self) -> None:
        """End the thread, once the insert under way is done, and close its connection.

        That insert's outcome is not returned (``wait`` for it first to have it); its
        error, when the caller is already failing for another reason, is logged.
        """
        if self.executor is not None:
            self.executor.submit(connections.close_all)
            self.executor.shutdown(wait=True)
        under_way, self.under_way = self.under_way, None
        if under_way is not None and under_way.exception() is not None:
            log_action(
                logger,
                "outbox.insert_failed",
                "a chunk's rows were not written; the next run writes them",
                level=logging.ERROR,
                error=" ".join(str(under_way.exception()).split()),
            )


def _insert_done(rows: list[NewRow], written_at: datetime.datetime) -> InsertDone:
    return InsertDone(rows, rows_insert(rows=rows, written_at=written_at))
