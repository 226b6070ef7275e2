"""The bulk row writer: the columns it leaves out are filled by the database, as the model would."""

from __future__ import annotations

import datetime
import uuid

import pytest
from django.db import IntegrityError, connection

from outbox.models import DailyNotification
from outbox.rows import BackgroundInserts, NewRow, new_ids, rows_insert
from outbox.window import Window
from tests.factories import users_create
from tests.outbox.insert_threads import insert_thread_alive

WRITTEN_AT = datetime.datetime(2026, 11, 22, 7, 0, tzinfo=datetime.UTC)
WINDOW = Window(
    date=datetime.date(2026, 11, 22),
    send_at=datetime.datetime(2026, 11, 22, 8, 0, tzinfo=datetime.UTC),
    expires_at=datetime.datetime(2026, 11, 22, 21, 0, tzinfo=datetime.UTC),
)


def bulk_rows(count: int) -> list[NewRow]:
    users = users_create(count)
    return [
        NewRow(
            window=WINDOW,
            id=row_id,
            user_id=user.user_id,
            category=DailyNotification.Category.TIP,
            title="Drink water",
            body="A glass before lunch.",
            generated_by="offline",
        )
        for user, row_id in zip(users, new_ids(count), strict=True)
    ]


def test_the_database_defaults_are_the_model_defaults() -> None:
    # A row written in bulk (the database's default) and one saved through the ORM
    # (the model's) must start the same.
    with_database_default = [
        field for field in DailyNotification._meta.concrete_fields if field.has_db_default()
    ]
    assert {field.name for field in with_database_default} >= {"status", "attempts", "last_error"}
    for field in with_database_default:
        assert field.db_default == field.get_default(), field.name


@pytest.mark.django_db
def test_a_row_written_in_bulk_is_the_row_the_model_would_save() -> None:
    (row,) = bulk_rows(1)
    assert rows_insert(rows=[row], written_at=WRITTEN_AT) == [row]
    stored = DailyNotification.objects.get(id=uuid.UUID(row.id))
    modelled = DailyNotification(
        user_id=row.user_id,
        date=WINDOW.date,
        category=row.category,
        title=row.title,
        body=row.body,
        generated_by=row.generated_by,
        send_at=WINDOW.send_at,
        expires_at=WINDOW.expires_at,
    )
    compared = [
        field.attname
        for field in DailyNotification._meta.concrete_fields
        if field.attname not in {"id", "created_at", "updated_at"}
    ]
    assert {name: getattr(stored, name) for name in compared} == {
        name: getattr(modelled, name) for name in compared
    }
    assert stored.created_at == stored.updated_at == WRITTEN_AT


def test_new_ids_are_distinct_version_4_uuids() -> None:
    ids = new_ids(10_000)
    assert len(set(ids)) == len(ids)
    parsed = [uuid.UUID(row_id) for row_id in ids]
    assert {(one.version, one.variant) for one in parsed} == {(4, uuid.RFC_4122)}
    assert [one.hex for one in parsed] == ids
    # Every other bit is random: over many ids each takes both values.
    varying = 0
    for one in parsed:
        varying |= one.int ^ parsed[0].int
    assert bin(varying).count("1") == 128 - 6


def statements_on_this_connection(inserts_run) -> list[str]:
    """The statements this thread's connection ran while ``inserts_run()`` ran."""
    seen: list[str] = []

    def watch(execute, sql, params, many, context):
        seen.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(watch):
        inserts_run()
    return seen


@pytest.mark.django_db(transaction=True)
def test_background_inserts_run_one_at_a_time_on_a_connection_of_their_own_on_postgresql() -> None:
    rows = bulk_rows(30)
    inserts = BackgroundInserts()
    done = []

    def run() -> None:
        done.append(inserts.insert(rows=rows[:10], written_at=WRITTEN_AT))
        done.append(inserts.insert(rows=rows[10:], written_at=WRITTEN_AT))
        done.append(inserts.wait())

    try:
        statements = statements_on_this_connection(run)
    finally:
        inserts.close()
    # Each call hands back the insert before it, done.
    assert done == [None, (rows[:10], rows[:10]), (rows[10:], rows[10:])]
    assert DailyNotification.objects.count() == 30
    # On PostgreSQL none of the inserts' statements ran on the caller's connection.
    on_callers = [sql for sql in statements if "synchronous_commit" in sql or "INSERT" in sql]
    assert bool(on_callers) == (connection.vendor != "postgresql"), statements
    assert not insert_thread_alive()


@pytest.mark.django_db(transaction=True)
def test_an_insert_error_is_raised_and_the_next_insert_still_goes_in() -> None:
    rows = bulk_rows(3)
    orphans = [row._replace(user_id="nobody") for row in rows]
    inserts = BackgroundInserts()
    try:
        with pytest.raises(IntegrityError):
            inserts.insert(rows=orphans, written_at=WRITTEN_AT)
            inserts.wait()
        # The connection is usable for the next insert.
        assert inserts.insert(rows=rows, written_at=WRITTEN_AT) is None
        assert inserts.wait() == (rows, rows)
    finally:
        inserts.close()
    assert DailyNotification.objects.count() == 3
    assert not insert_thread_alive()


@pytest.mark.django_db
def test_inside_a_callers_transaction_each_insert_runs_at_once_on_its_connection() -> None:
    rows = bulk_rows(4)
    inserts = BackgroundInserts()
    assert inserts.insert(rows=rows, written_at=WRITTEN_AT) is None
    # The caller's transaction sees the rows before anything waits for them: they are its own.
    assert DailyNotification.objects.count() == 4
    assert inserts.wait() == (rows, rows)
    inserts.close()
    assert not insert_thread_alive()


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_failed_background_insert_is_raised_by_check_and_logged_if_nobody_waits(caplog) -> None:
    rows = bulk_rows(3)
    orphans = [row._replace(user_id="nobody") for row in rows]
    inserts = BackgroundInserts()
    try:
        inserts.insert(rows=orphans, written_at=WRITTEN_AT)
        inserts.check()  # never waits: the insert may still be under way
        inserts.under_way.exception(timeout=30)
        with pytest.raises(IntegrityError):
            inserts.check()
        inserts.insert(rows=orphans, written_at=WRITTEN_AT)
    finally:
        inserts.close()
    # The second failure, which nobody waited for, is in the log.
    assert "outbox.insert_failed" in caplog.text
    assert DailyNotification.objects.count() == 0
    assert not insert_thread_alive()
