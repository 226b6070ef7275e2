"""Leases on outbox rows: claim a batch, settle what came of it, release what was not sent.

A claimed row has ``status=sending`` and ``lease_expires_at``; that expiry is also
the claim's token. Settling and releasing only touch rows still ``sending`` with
that exact expiry, so a worker whose lease ran out (and whose rows another worker
re-claimed, with a later expiry) can never overwrite the newer state.

A claim also enforces the delivery window and the user's wishes: a row is never
claimed before its ``send_at``; a row whose ``expires_at`` has passed becomes
``expired`` and a row whose user opted out or muted its category becomes
``cancelled``, in the claim's own statement, without being sent.

This is the one module with SQL of its own: each operation is one statement per
batch, with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL so that concurrent workers
get disjoint batches. SQLite (one writer at a time) runs the same statement
without the locking clause.
"""

from __future__ import annotations

import datetime
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import islice
from typing import NamedTuple

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import User
from core.db import json_rows, json_rows_select, server_bound_cursor
from outbox.models import DailyNotification

TABLE = DailyNotification._meta.db_table
USERS = User._meta.db_table
PENDING = DailyNotification.Status.PENDING.value
SENDING = DailyNotification.Status.SENDING.value
EXPIRED = DailyNotification.Status.EXPIRED.value
CANCELLED = DailyNotification.Status.CANCELLED.value
# Rows per settle statement.
SETTLE_CHUNK = 1000

# Why a picked row is not sent: its window has closed (it becomes expired), or its user
# opted out or muted its category since it was written (it becomes cancelled).
WINDOW_CLOSED = f"({TABLE}.expires_at IS NOT NULL AND {TABLE}.expires_at <= %(now)s)"
UNWANTED = f"""EXISTS (
    SELECT 1 FROM {USERS} AS u
    WHERE u.user_id = {TABLE}.user_id AND (NOT u.notifications_enabled OR {{muted}})
)"""
# JSON containment of the row's category in the user's muted list. Django's
# ``__contains`` on a JSONField is not supported on SQLite, so each engine has its own.
MUTED_SQL = {
    "postgresql": f"u.muted_categories @> jsonb_build_array({TABLE}.category)",
    "sqlite": (
        f"EXISTS (SELECT 1 FROM json_each(u.muted_categories) AS m "
        f"WHERE m.value = {TABLE}.category)"
    ),
}
# The arms hand the rows they picked (and locked) to the UPDATE by physical address,
# so no picked row is looked up again through the primary key, whose depth grows with
# every final row in the table. On PostgreSQL the addresses go as one array, which
# is always a TID scan: a join on them could be planned as a scan of the whole table.
ROW_ADDRESS = {"postgresql": "ctid", "sqlite": "rowid"}
PICKED_ROWS = {
    "postgresql": "ctid = ANY(ARRAY(SELECT address FROM picked))",
    "sqlite": "rowid IN (SELECT address FROM picked)",
}

# Each arm's partial index. SQLite's planner, with no statistics gathered, would rather
# walk the plain status index and sort every pending row in each arm (a claim would
# cost as much as the whole backlog): there each arm names its index. PostgreSQL
# plans from its statistics.
ARM_INDEXES = {
    "closed": "outbox_pending_expiry_idx",
    "lapsed": "outbox_expired_lease_idx",
    "retry": "outbox_due_pending_idx",
    "fresh": "outbox_fresh_send_at_idx",
}

# Four index-driven arms (closed windows, lapsed leases, due retries, fresh rows whose
# window has opened), each stopping after `limit` rows, so a claim reads the same
# with a million final rows in the table as with none, and rows opening later
# (tomorrow's) are never read. One UPDATE then moves every picked row: to expired,
# cancelled, or sending under the new lease. Status values are constants, inlined so
# that PostgreSQL can match the partial indexes.
CLAIM_SQL = f"""
WITH closed AS (
    SELECT {{address}} AS address FROM {TABLE} {{closed_index}}
    WHERE status = '{PENDING}' AND expires_at IS NOT NULL AND expires_at <= %(now)s
    ORDER BY expires_at LIMIT %(limit)s {{lock}}
), lapsed AS (
    SELECT {{address}} AS address FROM {TABLE} {{lapsed_index}}
    WHERE status = '{SENDING}' AND lease_expires_at < %(now)s
    ORDER BY lease_expires_at LIMIT %(limit)s {{lock}}
), retry AS (
    SELECT {{address}} AS address FROM {TABLE} {{retry_index}}
    WHERE status = '{PENDING}' AND next_attempt_at <= %(now)s
    ORDER BY next_attempt_at LIMIT %(limit)s {{lock}}
), fresh AS (
    SELECT {{address}} AS address FROM {TABLE} {{fresh_index}}
    WHERE status = '{PENDING}' AND next_attempt_at IS NULL AND send_at <= %(now)s
    ORDER BY send_at LIMIT %(limit)s {{lock}}
), picked AS (
    SELECT address FROM closed UNION ALL SELECT address FROM lapsed
    UNION ALL SELECT address FROM retry UNION ALL SELECT address FROM fresh
    LIMIT %(limit)s
)
UPDATE {TABLE} SET
    status = CASE
        WHEN {WINDOW_CLOSED} THEN '{EXPIRED}'
        WHEN {UNWANTED} THEN '{CANCELLED}'
        ELSE '{SENDING}'
    END,
    lease_expires_at = CASE
        WHEN {WINDOW_CLOSED} OR {UNWANTED} THEN NULL
        ELSE %(lease)s
    END,
    updated_at = %(now)s
WHERE {{picked_rows}}
RETURNING CAST(id AS TEXT), status
"""

SETTLE_SQL = f"""
UPDATE {TABLE} SET
    status = v.column2,
    attempts = attempts + 1,
    next_attempt_at = v.column3,
    lease_expires_at = NULL,
    last_error = v.column4,
    delivered_at = v.column5,
    updated_at = %s
FROM ({{rows}}) AS v
WHERE {TABLE}.id = v.column1 AND {{unindexed}}{TABLE}.status = '{SENDING}'
    AND {{unindexed}}{TABLE}.lease_expires_at = %s
RETURNING {TABLE}.id
"""


class ClaimedUser(NamedTuple):
    """The user of a claimed row, as far as the payload reads it."""

    user_id: str
    name: str
    email: str


class ClaimedNotification(NamedTuple):
    """A claimed row as sending reads it: the payload's columns, the attempts so far, the user.

    Plain values, not a model instance: building thousands of instances a second
    (signals, field descriptors) was most of the claim's time, and it runs on the
    thread the event loop competes with for the interpreter. The rest of the row
    (timestamps, profile) is not loaded.
    """

    id: uuid.UUID
    date: datetime.date
    category: str
    title: str
    body: str
    generated_by: str
    send_at: datetime.datetime
    expires_at: datetime.datetime | None
    attempts: int
    user: ClaimedUser

    @property
    def user_id(self) -> str:
        return self.user.user_id


# Where the user's fields, the id and the instants are among a claimed row's values.
USER_AT = len(ClaimedNotification._fields) - 1
ID_AT = ClaimedNotification._fields.index("id")
INSTANTS_AT = tuple(ClaimedNotification._fields.index(name) for name in ("send_at", "expires_at"))


def _columns(model: type, names: Iterable[str], *, alias: str) -> str:
    return ", ".join(f"{alias}.{model._meta.get_field(name).column}" for name in names)


# The claimed rows and their users, each row's values in the order of the two tuples'
# fields. Found by their lease (two parameters, through the partial index on sending
# rows), not by a list of their ids, whose placeholders would cost more to bind.
CLAIMED_SQL = f"""
SELECT {_columns(DailyNotification, ClaimedNotification._fields[:USER_AT], alias="n")},
    {_columns(User, ClaimedUser._fields, alias="u")}
FROM {TABLE} AS n JOIN {USERS} AS u ON u.user_id = n.user_id
WHERE n.status = '{SENDING}' AND n.lease_expires_at = %s
"""


@dataclass(frozen=True, kw_only=True, slots=True)
class Claim:
    """A claimed batch: its rows (user included) and the lease expiry that is its token.

    ``expired`` and ``cancelled`` count the rows the same statement moved to those
    final statuses instead of claiming them (their window had closed; their user no
    longer wants them).
    """

    lease: datetime.datetime
    notifications: list[ClaimedNotification]
    expired: int = 0
    cancelled: int = 0


class Settlement(NamedTuple):
    """The new state of one claimed row after its attempt.

    A tuple in the order of the settle's columns, which ``zip`` turns into the
    statement's arrays: one is made per attempt, on the thread the event loop needs.
    """

    notification_id: uuid.UUID
    status: str
    next_attempt_at: datetime.datetime | None = None
    last_error: str = ""
    delivered_at: datetime.datetime | None = None


# The settle's rows as columns named like those of VALUES (a ``Settlement``'s fields,
# in order), in one binary array parameter per column on PostgreSQL, in one JSON
# array of rows on SQLite: the statement's text stays the same whatever the number
# of rows. A text per size (VALUES with a row of placeholders each) had SQLite's
# statement cache keep a prepared statement for every size a settle ever had, each
# holding its whole parameter list in native memory.
SETTLE_ROWS = {
    "postgresql": """SELECT * FROM unnest(
    %b::uuid[], %b::text[], %b::timestamptz[], %b::text[], %b::timestamptz[]
) AS a(column1, column2, column3, column4, column5)""",
    "sqlite": json_rows_select(width=len(Settlement._fields)),
}
# SQLite would rather find the rows through the status or lease index and scan the
# JSON rows for each; a unary plus keeps those terms off the indexes, so each JSON row
# finds its row by id.
SETTLE_UNINDEXED = {"postgresql": "", "sqlite": "+"}


def on_postgresql() -> bool:
    """Whether the default database is PostgreSQL (row locks and SKIP LOCKED available)."""
    return connection.vendor == "postgresql"


def db_datetime(value: datetime.datetime | None):
    """A datetime as the database driver wants it (SQLite stores naive UTC text)."""
    return connection.ops.adapt_datetimefield_value(value)


def db_adapters() -> tuple[Callable, Callable]:
    """Datetime and UUID (SQLite: 32 hex characters) adapters bound to the current connection.

    For loops over many rows: every use of ``connection`` looks the connection up in
    a thread-local first, which cost more than the adapting itself at three values a row.
    """
    ops = connection.ops
    return ops.adapt_datetimefield_value, partial(
        DailyNotification._meta.pk.get_db_prep_value, connection=ops.connection
    )


def chunked(items: Iterable, size: int) -> Iterator[list]:
    """Consecutive lists of at most ``size`` items, so no statement outgrows a parameter limit."""
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def notifications_due_count(*, now: datetime.datetime | None = None) -> int:
    """How many rows a claim could take now: due to send, or to expire or cancel.

    Pending rows whose window has opened or whose retry is due, pending rows whose
    window has closed, and sending rows whose lease ran out.
    """
    now = now or timezone.now()
    return DailyNotification.objects.filter(
        Q(status=PENDING, next_attempt_at__isnull=True, send_at__lte=now)
        | Q(status=PENDING, next_attempt_at__lte=now)
        | Q(status=PENDING, expires_at__lte=now)
        | Q(status=SENDING, lease_expires_at__lt=now)
    ).count()


def claim_statement(
    *, now: datetime.datetime, lease: datetime.datetime, limit: int
) -> tuple[str, dict]:
    """The claim's SQL for this database and its parameters (also what EXPLAIN is asked about)."""
    engine = "postgresql" if connection.vendor == "postgresql" else "sqlite"
    sql = CLAIM_SQL.format(
        lock="FOR UPDATE SKIP LOCKED" if engine == "postgresql" else "",
        muted=MUTED_SQL[engine],
        address=ROW_ADDRESS[engine],
        picked_rows=PICKED_ROWS[engine],
        **{
            f"{arm}_index": f"INDEXED BY {index}" if engine == "sqlite" else ""
            for arm, index in ARM_INDEXES.items()
        },
    )
    params = {"now": db_datetime(now), "lease": db_datetime(lease), "limit": limit}
    return sql, params


def notifications_claim(
    *, batch_size: int, lease_seconds: float, now: datetime.datetime | None = None
) -> Claim:
    """Claim up to ``batch_size`` due rows for ``lease_seconds`` in one statement.

    Never a row before its ``send_at``. A picked row whose window has closed becomes
    ``expired`` and one its user no longer wants becomes ``cancelled`` in the same
    statement (counted in the claim, not returned); both keep ``last_error``. The
    rows returned carry their user (for the payload) and are already ``sending``
    in the database. The lease expiry is the claim's token: pass it to
    ``notifications_settle`` and ``notifications_release``.
    """
    now = now or timezone.now()
    lease = now + datetime.timedelta(seconds=lease_seconds)
    sql, params = claim_statement(now=now, lease=lease, limit=batch_size)
    # The rows are read in the transaction that marks them: a connection lost between
    # the two must not leave them ``sending``, unsent, until their lease runs out.
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            returned = cursor.fetchall()
        statuses = Counter(status for _, status in returned)
        expired, cancelled = statuses[EXPIRED], statuses[CANCELLED]
        if not statuses[SENDING]:
            return Claim(lease=lease, notifications=[], expired=expired, cancelled=cancelled)
        rows = claimed_rows_read(lease=lease)
        if len(rows) != statuses[SENDING]:
            # Another worker's claim drew the very same instant: only this one's rows
            # are kept (their ids, as text, are looked at only then).
            claimed = {uuid.UUID(row_id) for row_id, status in returned if status == SENDING}
            rows = [row for row in rows if row.id in claimed]
    return Claim(lease=lease, notifications=rows, expired=expired, cancelled=cancelled)


def claimed_rows_read(*, lease: datetime.datetime) -> list[ClaimedNotification]:
    """The rows ``lease`` holds, with their users, as plain values.

    Raw SQL rather than ``values_list``, whose per-value converters cost more than
    the database takes to answer: PostgreSQL sends the rows in binary, read as they
    are, and SQLite's few values of another form are converted here.
    """
    if on_postgresql():
        with server_bound_cursor(connection=connection, binary_results=True) as cursor:
            cursor.execute(CLAIMED_SQL, [lease])
            fetched = cursor.fetchall()
    else:
        with connection.cursor() as cursor:
            cursor.execute(CLAIMED_SQL, [db_datetime(lease)])
            fetched = [_sqlite_values(values) for values in cursor.fetchall()]
    return [
        ClaimedNotification._make((*values[:USER_AT], ClaimedUser._make(values[USER_AT:])))
        for values in fetched
    ]


def _sqlite_values(values: tuple) -> list:
    """A claimed row's values as PostgreSQL gives them: SQLite has its UUIDs as hex text
    and its instants naive, in UTC."""
    converted = list(values)
    converted[ID_AT] = uuid.UUID(converted[ID_AT])
    for at in INSTANTS_AT:
        if converted[at] is not None:
            converted[at] = converted[at].replace(tzinfo=datetime.UTC)
    return converted


def notifications_settle(
    *, lease: datetime.datetime, settlements: Sequence[Settlement]
) -> set[uuid.UUID]:
    """Write each row's new state (attempts + 1, lease cleared) if this lease still holds it.

    Returns the ids actually written; a row missing from it had been re-claimed
    by another worker after this lease ran out, and keeps that worker's state.
    """
    written: set[uuid.UUID] = set()
    postgresql = on_postgresql()
    engine = "postgresql" if postgresql else "sqlite"
    sql = SETTLE_SQL.format(rows=SETTLE_ROWS[engine], unindexed=SETTLE_UNINDEXED[engine])
    # The placeholders around the rows: SET's updated_at before, WHERE's lease after.
    updated_at, held_by = db_datetime(timezone.now()), db_datetime(lease)
    for chunk in chunked(settlements, SETTLE_CHUNK):
        if postgresql:
            # The values as they are, a binary array per column; so are the ids returned.
            columns = map(list, zip(*chunk, strict=True))
            with server_bound_cursor(connection=connection, binary_results=True) as cursor:
                cursor.execute(sql, [updated_at, *columns, held_by])
                written.update(row_id for (row_id,) in cursor.fetchall())
        else:
            rows, sent = _sqlite_settle_rows(chunk)
            with connection.cursor() as cursor:
                cursor.execute(sql, [updated_at, rows, held_by])
                written.update(sent[row_id] for (row_id,) in cursor.fetchall())
    return written


def _sqlite_settle_rows(chunk: Sequence[Settlement]) -> tuple[str, dict]:
    """The settle's rows as SQLite takes them (one JSON array of adapted values), and
    each adapted id mapped back to the UUID it came from."""
    adapt_datetime, adapt_uuid = db_adapters()
    ids = [adapt_uuid(item.notification_id) for item in chunk]
    rows = [
        (
            row_id,
            item.status,
            adapt_datetime(item.next_attempt_at),
            item.last_error,
            adapt_datetime(item.delivered_at),
        )
        for row_id, item in zip(ids, chunk, strict=True)
    ]
    # A returned id is one of the values sent: it maps back to its UUID without
    # being parsed again.
    sent = dict(zip(ids, (item.notification_id for item in chunk), strict=True))
    return json_rows(rows), sent


def notifications_release(*, lease: datetime.datetime, ids: Iterable[uuid.UUID]) -> int:
    """Give unsent rows held by ``lease`` back to ``pending`` at once; returns how many."""
    released = 0
    for chunk in chunked(ids, SETTLE_CHUNK):
        released += DailyNotification.objects.filter(
            id__in=chunk, status=SENDING, lease_expires_at=lease
        ).update(status=PENDING, lease_expires_at=None, updated_at=timezone.now())
    return released
