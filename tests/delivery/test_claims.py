"""Claims: which rows a claim takes, the lease as a token, and disjoint claims on PostgreSQL."""

from __future__ import annotations

import datetime
import threading

import pytest
from django.db import OperationalError, connection
from django.utils import timezone

from delivery.claims import (
    Settlement,
    claim_statement,
    notifications_claim,
    notifications_due_count,
    notifications_release,
    notifications_settle,
)
from delivery.transport import payload_body
from outbox.models import DailyNotification
from tests.factories import notification_create, user_create, users_create

Status = DailyNotification.Status
MINUTE = datetime.timedelta(minutes=1)
HOUR = datetime.timedelta(hours=1)


@pytest.fixture
def rows(db):
    """One row in each state a claim must tell apart, by name."""
    now = timezone.now()
    users = iter(users_create(7))
    return {
        "fresh": notification_create(user=next(users)),
        "due_retry": notification_create(user=next(users), next_attempt_at=now - MINUTE),
        "later_retry": notification_create(user=next(users), next_attempt_at=now + MINUTE),
        "expired_lease": notification_create(
            user=next(users), status=Status.SENDING, lease_expires_at=now - MINUTE
        ),
        "live_lease": notification_create(
            user=next(users), status=Status.SENDING, lease_expires_at=now + MINUTE
        ),
        "delivered": notification_create(user=next(users), status=Status.DELIVERED),
        "failed": notification_create(user=next(users), status=Status.FAILED),
    }


def test_claim_takes_due_rows_and_expired_leases_only(rows):
    claim = notifications_claim(batch_size=100, lease_seconds=60)

    assert {n.id for n in claim.notifications} == {
        rows[name].id for name in ("fresh", "due_retry", "expired_lease")
    }


def test_due_count_matches_what_a_claim_takes(rows):
    assert notifications_due_count() == 3


def test_claimed_rows_are_sending_with_the_lease(rows):
    claim = notifications_claim(batch_size=100, lease_seconds=60)

    for notification in DailyNotification.objects.filter(
        id__in=[n.id for n in claim.notifications]
    ):
        assert notification.status == Status.SENDING
        assert notification.lease_expires_at == claim.lease


def test_a_second_claim_gets_nothing_while_the_lease_lives(rows):
    notifications_claim(batch_size=100, lease_seconds=60)

    assert notifications_claim(batch_size=100, lease_seconds=60).notifications == []


def test_claim_respects_the_batch_size(db):
    for user in users_create(5):
        notification_create(user=user)

    assert len(notifications_claim(batch_size=3, lease_seconds=60).notifications) == 3


def test_two_claims_that_draw_the_same_instant_keep_their_own_rows(db):
    """The lease instant finds a claim's rows again: another claim with the very same
    instant (another worker, the same microsecond) must not hand this one its rows."""
    for user in users_create(5):
        notification_create(user=user)
    now = timezone.now()

    first = notifications_claim(batch_size=2, lease_seconds=60, now=now)
    second = notifications_claim(batch_size=3, lease_seconds=60, now=now)

    assert first.lease == second.lease
    first_ids = {n.id for n in first.notifications}
    second_ids = {n.id for n in second.notifications}
    assert (len(first_ids), len(second_ids)) == (2, 3)
    assert not first_ids & second_ids


def test_claim_loads_users_in_one_query(db, django_assert_num_queries):
    for user in users_create(5):
        notification_create(user=user)

    # The claim statement (in a savepoint here) and one select with the users joined.
    with django_assert_num_queries(4):
        claim = notifications_claim(batch_size=10, lease_seconds=60)
        names = [n.user.name for n in claim.notifications]
    assert len(names) == 5


def test_a_claimed_row_sends_the_body_its_model_would(db):
    user = user_create(name="Zoë Ünal", email="zoe@example.com")
    notification = notification_create(
        user=user,
        body='Ünïcode — and a quote "',
        expires_at=timezone.now() + HOUR,
    )

    (claimed,) = notifications_claim(batch_size=10, lease_seconds=60).notifications

    model = DailyNotification.objects.select_related("user").get(id=notification.id)
    assert payload_body(claimed) == payload_body(model)
    assert (claimed.attempts, claimed.expires_at) == (model.attempts, model.expires_at)


def test_settle_writes_only_rows_the_lease_still_holds(db):
    notification = notification_create()
    old = notifications_claim(
        batch_size=1, lease_seconds=60, now=timezone.now() - 2 * MINUTE
    )  # its lease ran out a minute ago
    new = notifications_claim(batch_size=1, lease_seconds=60)
    assert [n.id for n in new.notifications] == [notification.id]

    written = notifications_settle(
        lease=old.lease,
        settlements=[Settlement(notification_id=notification.id, status=Status.FAILED)],
    )

    assert written == set()
    notification.refresh_from_db()
    assert (notification.status, notification.lease_expires_at) == (Status.SENDING, new.lease)


def test_settle_counts_the_attempt_and_clears_the_lease(db):
    notification = notification_create(attempts=2)
    claim = notifications_claim(batch_size=1, lease_seconds=60)
    later = timezone.now() + MINUTE

    written = notifications_settle(
        lease=claim.lease,
        settlements=[
            Settlement(
                notification_id=notification.id,
                status=Status.PENDING,
                next_attempt_at=later,
                last_error="HTTP 503: busy",
            )
        ],
    )

    assert written == {notification.id}
    notification.refresh_from_db()
    assert notification.attempts == 3
    assert notification.status == Status.PENDING
    assert notification.next_attempt_at == later
    assert notification.lease_expires_at is None
    assert notification.last_error == "HTTP 503: busy"


def test_settle_sends_one_statement_text_whatever_the_number_of_rows(db):
    """A text per size would have the driver's statement cache keep one prepared statement
    per size a settle ever had (SQLite: each holding its parameters in native memory)."""
    rows = [notification_create(user=user) for user in users_create(6)]
    claim = notifications_claim(batch_size=6, lease_seconds=60)
    statements = set()

    def record(execute, sql, params, many, context):
        statements.add(sql)  # the text as sent, before the parameters are bound
        return execute(sql, params, many, context)

    for part in (rows[:1], rows[1:3], rows[3:]):
        with connection.execute_wrapper(record):
            written = notifications_settle(
                lease=claim.lease,
                settlements=[
                    Settlement(notification_id=row.id, status=Status.DELIVERED) for row in part
                ],
            )
        assert written == {row.id for row in part}

    assert len(statements) == 1
    assert DailyNotification.objects.filter(status=Status.DELIVERED, attempts=1).count() == 6


def test_release_gives_rows_back_to_pending(db):
    notification = notification_create()
    claim = notifications_claim(batch_size=1, lease_seconds=60)

    assert notifications_release(lease=claim.lease, ids=[notification.id]) == 1

    notification.refresh_from_db()
    assert (notification.status, notification.lease_expires_at, notification.attempts) == (
        Status.PENDING,
        None,
        0,
    )


@pytest.mark.django_db(transaction=True)
def test_a_claim_whose_rows_cannot_be_read_leaves_them_pending():
    """The connection dies after the rows are marked: nothing stays ``sending`` unsent till its lease."""
    notification = notification_create()
    marked = threading.Event()

    def connection_lost_once_rows_are_marked(execute, sql, params, many, context):
        if marked.is_set():
            raise OperationalError("server closed the connection unexpectedly")
        result = execute(sql, params, many, context)
        if sql.lstrip().startswith("WITH closed AS"):
            marked.set()
        return result

    with (
        connection.execute_wrapper(connection_lost_once_rows_are_marked),
        pytest.raises(OperationalError),
    ):
        notifications_claim(batch_size=1, lease_seconds=60)

    notification.refresh_from_db()
    assert (notification.status, notification.lease_expires_at) == (Status.PENDING, None)
    assert (
        notifications_claim(batch_size=1, lease_seconds=60).notifications[0].id == notification.id
    )


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_claims_are_disjoint_across_connections():
    for user in users_create(40):
        notification_create(user=user)
    claimed: list[list] = []
    inside = threading.Barrier(2)

    def claim_in_own_connection() -> None:
        try:
            inside.wait()
            claimed.append(
                [n.id for n in notifications_claim(batch_size=25, lease_seconds=60).notifications]
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=claim_in_own_connection) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    first, second = claimed
    assert set(first).isdisjoint(second)
    assert len(first) + len(second) == 40


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_claim_skips_rows_locked_by_another_transaction():
    from django.db import connections, transaction

    for user in users_create(3):
        notification_create(user=user)
    locked_ids: list = []
    holding = threading.Event()
    release = threading.Event()

    def hold_two_rows_locked() -> None:
        try:
            with transaction.atomic():
                locked_ids.extend(
                    DailyNotification.objects.select_for_update().values_list("id", flat=True)[:2]
                )
                holding.set()
                release.wait(10)
        finally:
            connections["default"].close()

    holder = threading.Thread(target=hold_two_rows_locked)
    holder.start()
    holding.wait(10)
    try:
        claim = notifications_claim(batch_size=10, lease_seconds=60)
    finally:
        release.set()
        holder.join()

    assert len(claim.notifications) == 1
    assert claim.notifications[0].id not in locked_ids


# The delivery window and the user's wishes.


def test_a_row_is_not_claimed_before_its_send_at(db):
    now = timezone.now()
    later = notification_create(send_at=now + HOUR, expires_at=now + 12 * HOUR)

    claim = notifications_claim(batch_size=10, lease_seconds=60, now=now)

    assert (claim.notifications, claim.expired, claim.cancelled) == ([], 0, 0)
    assert notifications_due_count(now=now) == 0
    later.refresh_from_db()
    assert (later.status, later.lease_expires_at) == (Status.PENDING, None)


def test_a_row_is_claimed_once_its_send_at_has_come(db):
    now = timezone.now()
    notification = notification_create(send_at=now, expires_at=now + HOUR)

    claim = notifications_claim(batch_size=10, lease_seconds=60, now=now)

    assert [n.id for n in claim.notifications] == [notification.id]


def test_fresh_rows_are_claimed_earliest_send_at_first(db):
    now = timezone.now()
    users = iter(users_create(3))
    notification_create(user=next(users), send_at=now - MINUTE)
    earliest = notification_create(user=next(users), send_at=now - HOUR)
    notification_create(user=next(users), send_at=now - 2 * MINUTE)

    claim = notifications_claim(batch_size=1, lease_seconds=60, now=now)

    assert [n.id for n in claim.notifications] == [earliest.id]


@pytest.mark.parametrize(
    "fields",
    [
        {"status": Status.PENDING},  # a fresh row whose whole window passed unclaimed
        {"status": Status.PENDING, "attempts": 2, "next_attempt_at": "past"},  # a due retry
        {"status": Status.PENDING, "attempts": 2, "next_attempt_at": "future"},  # a later one
        {"status": Status.SENDING, "attempts": 1, "lease_expires_at": "past"},  # a lapsed lease
    ],
    ids=["fresh", "due_retry", "later_retry", "lapsed_lease"],
)
def test_a_row_past_its_window_becomes_expired_at_claim_keeping_its_error(db, fields):
    now = timezone.now()
    moments = {"past": now - MINUTE, "future": now + MINUTE}
    fields = {name: moments.get(value, value) for name, value in fields.items()}
    notification = notification_create(
        send_at=now - 13 * HOUR, expires_at=now - HOUR, last_error="HTTP 503: busy", **fields
    )
    assert notifications_due_count(now=now) == 1

    claim = notifications_claim(batch_size=10, lease_seconds=60, now=now)

    assert (claim.notifications, claim.expired, claim.cancelled) == ([], 1, 0)
    notification.refresh_from_db()
    assert notification.status == Status.EXPIRED
    assert notification.lease_expires_at is None
    assert notification.last_error == "HTTP 503: busy"
    assert notification.attempts == fields.get("attempts", 0)


def test_a_row_is_expired_at_its_expires_at_and_claimed_just_before(db):
    now = timezone.now()
    users = iter(users_create(2))
    closing = notification_create(user=next(users), send_at=now - HOUR, expires_at=now)
    open_ = notification_create(
        user=next(users), send_at=now - HOUR, expires_at=now + datetime.timedelta(seconds=1)
    )

    claim = notifications_claim(batch_size=10, lease_seconds=60, now=now)

    assert [n.id for n in claim.notifications] == [open_.id]
    assert claim.expired == 1
    closing.refresh_from_db()
    assert closing.status == Status.EXPIRED


def test_a_row_with_no_expiry_is_claimed_however_late(db):
    now = timezone.now()
    notification = notification_create(send_at=now - 30 * 24 * HOUR, expires_at=None)

    claim = notifications_claim(batch_size=10, lease_seconds=60, now=now)

    assert [n.id for n in claim.notifications] == [notification.id]


def test_many_closed_windows_expire_in_one_statement(db, django_assert_num_queries):
    now = timezone.now()
    for user in users_create(30):
        notification_create(user=user, send_at=now - 13 * HOUR, expires_at=now - HOUR)

    # The claim statement inside its savepoint, and no select: nothing is sent.
    with django_assert_num_queries(3):
        claim = notifications_claim(batch_size=100, lease_seconds=60, now=now)

    assert claim.expired == 30
    assert set(DailyNotification.objects.values_list("status", flat=True)) == {Status.EXPIRED}


def test_a_row_of_a_user_who_opted_out_is_cancelled_at_claim(db):
    notification = notification_create(user=user_create(notifications_enabled=False))

    claim = notifications_claim(batch_size=10, lease_seconds=60)

    assert (claim.notifications, claim.expired, claim.cancelled) == ([], 0, 1)
    notification.refresh_from_db()
    assert (notification.status, notification.lease_expires_at) == (Status.CANCELLED, None)


def test_a_row_whose_category_was_muted_is_cancelled_at_claim(db):
    users = iter(
        [
            user_create(muted_categories=["tip"]),
            user_create(muted_categories=["reminder", "tip"]),
            user_create(muted_categories=["insight"]),
            user_create(muted_categories=[]),
        ]
    )
    muted = notification_create(user=next(users), category="tip")
    muted_among_two = notification_create(user=next(users), category="tip")
    other_muted = notification_create(user=next(users), category="tip")
    none_muted = notification_create(user=next(users), category="tip")

    claim = notifications_claim(batch_size=10, lease_seconds=60)

    assert {n.id for n in claim.notifications} == {other_muted.id, none_muted.id}
    assert claim.cancelled == 2
    assert set(
        DailyNotification.objects.filter(id__in=[muted.id, muted_among_two.id]).values_list(
            "status", flat=True
        )
    ) == {Status.CANCELLED}


def test_a_retry_of_a_user_who_opted_out_since_is_cancelled_keeping_its_error(db):
    now = timezone.now()
    notification = notification_create(
        user=user_create(notifications_enabled=False),
        attempts=1,
        next_attempt_at=now - MINUTE,
        last_error="HTTP 503: busy",
    )

    claim = notifications_claim(batch_size=10, lease_seconds=60, now=now)

    assert claim.cancelled == 1
    notification.refresh_from_db()
    assert (notification.status, notification.attempts, notification.last_error) == (
        Status.CANCELLED,
        1,
        "HTTP 503: busy",
    )


def test_a_closed_window_is_expired_even_for_a_user_who_opted_out(db):
    now = timezone.now()
    notification_create(
        user=user_create(notifications_enabled=False), send_at=now - 2 * HOUR, expires_at=now
    )

    claim = notifications_claim(batch_size=10, lease_seconds=60, now=now)

    assert (claim.expired, claim.cancelled) == (1, 0)


def test_final_and_later_rows_are_not_touched_by_a_claim(db):
    now = timezone.now()
    users = iter(users_create(5))
    rows = [
        notification_create(user=next(users), status=status, send_at=now - 2 * HOUR)
        for status in (Status.DELIVERED, Status.FAILED, Status.EXPIRED, Status.CANCELLED)
    ]
    rows.append(notification_create(user=next(users), send_at=now + HOUR))
    before = {row.id: row.updated_at for row in rows}

    claim = notifications_claim(batch_size=10, lease_seconds=60, now=now)

    assert (claim.notifications, claim.expired, claim.cancelled) == ([], 0, 0)
    assert dict(DailyNotification.objects.values_list("id", "updated_at")) == before


# The claim's cost: index-driven, blind to final rows and to rows opening later.

CLAIM_INDEXES = (
    "outbox_pending_expiry_idx",
    "outbox_expired_lease_idx",
    "outbox_due_pending_idx",
    "outbox_fresh_send_at_idx",
)


def final_rows_insert(count: int) -> None:
    """``count`` delivered, failed, expired and cancelled rows of one user, in one statement.

    Then the planner's statistics are refreshed, as autovacuum would.
    """
    user = user_create()
    table = DailyNotification._meta.db_table
    columns = (
        "id, user_id, date, category, title, body, generated_by, status, attempts, "
        "last_error, send_at, created_at, updated_at"
    )
    if connection.vendor == "postgresql":
        sql = f"""
            INSERT INTO {table} ({columns})
            SELECT gen_random_uuid(), %s, DATE '2000-01-01' + n, 'tip', 't', 'b', 'offline',
                (ARRAY['delivered', 'failed', 'expired', 'cancelled'])[1 + n %% 4], 1, '',
                now(), now(), now()
            FROM generate_series(1, %s) AS n
        """
    else:
        sql = f"""
            INSERT INTO {table} ({columns})
            WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < %s)
            SELECT lower(hex(randomblob(16))), %s, date('2000-01-01', '+' || n || ' days'),
                'tip', 't', 'b', 'offline',
                CASE n %% 4 WHEN 0 THEN 'delivered' WHEN 1 THEN 'failed'
                    WHEN 2 THEN 'expired' ELSE 'cancelled' END, 1, '',
                datetime('now'), datetime('now'), datetime('now')
            FROM seq
        """
    params = [user.user_id, count] if connection.vendor == "postgresql" else [count, user.user_id]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        cursor.execute(f"ANALYZE {table}")


@pytest.mark.postgres_only
def test_the_claim_plan_reads_only_the_partial_indexes(db):
    # As in production: some rows due among many final ones (with no pending row at
    # all, any index on status looks as cheap to the planner).
    due_rows_insert_postgresql(2_000)
    final_rows_insert(50_000)
    now = timezone.now()
    sql, params = claim_statement(now=now, lease=now + MINUTE, limit=500)

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())

    for index in CLAIM_INDEXES:
        assert index in plan, plan
    # The UPDATE finds the picked rows by address.
    assert "Tid Scan on" in plan, plan
    table = DailyNotification._meta.db_table
    assert f"Seq Scan on {table}" not in plan, plan


def due_rows_insert_postgresql(count: int) -> None:
    """``count`` pending rows of one user whose window opened an hour ago, in one statement."""
    user = user_create()
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {DailyNotification._meta.db_table} (id, user_id, date, category, title,
                body, generated_by, status, attempts, last_error, send_at, created_at,
                updated_at)
            SELECT gen_random_uuid(), %s, DATE '2026-01-01' + n, 'tip', 't', 'b', 'offline',
                'pending', 0, '', now() - interval '1 hour', now(), now()
            FROM generate_series(1, %s) AS n
            """,
            [user.user_id, count],
        )


def claim_buffers(*, limit: int) -> dict[str, int]:
    """Shared buffers of one claim statement, run and rolled back (the rows stay claimable).

    ``read``: finding and reading the picked rows (the UPDATE's input); ``total`` adds
    writing the new row versions and their index entries.
    """
    now = timezone.now()
    sql, params = claim_statement(now=now, lease=now + MINUTE, limit=limit)
    with connection.cursor() as cursor:
        cursor.execute("SAVEPOINT measure")
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
        cursor.execute("ROLLBACK TO SAVEPOINT measure")
    top = plan[0]["Plan"]
    [outer] = [node for node in top["Plans"] if node.get("Parent Relationship") == "Outer"]
    return {
        "read": outer["Shared Hit Blocks"] + outer["Shared Read Blocks"],
        "total": top["Shared Hit Blocks"] + top["Shared Read Blocks"],
    }


@pytest.mark.postgres_only
def test_the_claim_reads_no_more_with_final_rows_than_without(db):
    due_rows_insert_postgresql(2_000)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {DailyNotification._meta.db_table}")
    without = claim_buffers(limit=100)
    final_rows_insert(50_000)

    with_final = claim_buffers(limit=100)

    # Finding and reading the rows does not depend on the final rows at all; writing
    # grows only with the depth of the indexes every row version is entered in.
    assert with_final["read"] <= without["read"] * 1.1 + 5, (without, with_final)
    assert with_final["total"] <= without["total"] * 1.2 + 10, (without, with_final)


@pytest.mark.parametrize("final_rows", [0, 5_000])
def test_the_claim_plan_uses_only_partial_indexes_on_sqlite(db, final_rows):
    """With only pending rows in the table, SQLite's planner would rather walk the status
    index and sort every pending row in each arm: a claim costing the whole backlog."""
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's plan; PostgreSQL has its own test")
    if final_rows:
        final_rows_insert(final_rows)
    else:
        for user in users_create(50):
            notification_create(user=user)
    now = timezone.now()
    sql, params = claim_statement(now=now, lease=now + MINUTE, limit=500)

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
        steps = [str(row[-1]) for row in cursor.fetchall()]

    # SQLite may serve the fresh arm from the other pending-only index: either way no
    # step reads the final rows.
    table = DailyNotification._meta.db_table
    reads = [step for step in steps if f" {table} " in f"{step} "]
    assert reads, steps
    # The UPDATE finds the picked rows by rowid, not through an index.
    allowed = (*CLAIM_INDEXES, "USING INTEGER PRIMARY KEY (rowid=?)")
    for step in reads:
        assert step.startswith("SEARCH") and any(index in step for index in allowed), steps
