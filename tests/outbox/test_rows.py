"""The bulk row writer: the columns it leaves out are filled by the database, as the model would."""

from __future__ import annotations

import datetime
import uuid

import pytest
from django.db import connection
from psycopg import pq

from outbox.models import DailyNotification
from outbox.rows import NewRow, new_ids, rows_insert
from outbox.window import Window
from tests.factories import users_create

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


class Meanwhile:
    """Counts its calls, and notes whether the connection was busy with the insert at each."""

    def __init__(self) -> None:
        self.calls: list[bool] = []

    def __call__(self) -> None:
        raw = connection.connection
        self.calls.append(
            connection.vendor == "postgresql"
            and raw.pgconn.transaction_status == pq.TransactionStatus.ACTIVE
        )


@pytest.mark.django_db
def test_meanwhile_runs_once_during_the_copy_on_postgresql_and_after_the_insert_elsewhere() -> None:
    rows = bulk_rows(50)
    meanwhile = Meanwhile()
    assert rows_insert(rows=rows, written_at=WRITTEN_AT, meanwhile=meanwhile) == rows
    # On PostgreSQL the COPY is still in progress: the caller's work overlaps the server's.
    assert meanwhile.calls == [connection.vendor == "postgresql"]
    assert DailyNotification.objects.count() == 50


@pytest.mark.django_db
def test_meanwhile_runs_once_when_rows_conflict_and_when_there_are_none() -> None:
    rows = bulk_rows(10)
    rows_insert(rows=rows[:4], written_at=WRITTEN_AT)
    again = [row._replace(id=row_id) for row, row_id in zip(rows, new_ids(10), strict=True)]
    meanwhile = Meanwhile()
    inserted = rows_insert(rows=again, written_at=WRITTEN_AT, meanwhile=meanwhile)
    assert inserted == again[4:]
    assert len(meanwhile.calls) == 1
    empty = Meanwhile()
    assert rows_insert(rows=[], written_at=WRITTEN_AT, meanwhile=empty) == []
    assert len(empty.calls) == 1


@pytest.mark.django_db
def test_an_error_meanwhile_writes_nothing_of_the_insert() -> None:
    rows = bulk_rows(5)

    def failing() -> None:
        raise RuntimeError("the next chunk's text failed")

    with pytest.raises(RuntimeError):
        rows_insert(rows=rows, written_at=WRITTEN_AT, meanwhile=failing)
    # On PostgreSQL the copy is abandoned; elsewhere the insert was done before.
    expected = 0 if connection.vendor == "postgresql" else 5
    assert DailyNotification.objects.count() == expected
