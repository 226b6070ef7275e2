"""The bulk row writer: the columns it leaves out are filled by the database, as the model would."""

from __future__ import annotations

import datetime
import uuid

import pytest

from outbox.models import DailyNotification
from outbox.rows import NewRow, new_ids, rows_insert
from outbox.window import Window
from tests.factories import user_create

WRITTEN_AT = datetime.datetime(2026, 11, 22, 7, 0, tzinfo=datetime.UTC)
WINDOW = Window(
    date=datetime.date(2026, 11, 22),
    send_at=datetime.datetime(2026, 11, 22, 8, 0, tzinfo=datetime.UTC),
    expires_at=datetime.datetime(2026, 11, 22, 21, 0, tzinfo=datetime.UTC),
)


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
    user = user_create()
    (row_id,) = new_ids(1)
    row = NewRow(
        window=WINDOW,
        id=row_id,
        user_id=user.user_id,
        category=DailyNotification.Category.TIP,
        title="Drink water",
        body="A glass before lunch.",
        generated_by="offline",
    )
    assert rows_insert(rows=[row], written_at=WRITTEN_AT) == [row]
    stored = DailyNotification.objects.get(id=uuid.UUID(row_id))
    modelled = DailyNotification(
        user=user,
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
