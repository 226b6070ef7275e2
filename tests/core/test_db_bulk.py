"""core.db's COPY helpers and the batched delete, on a real table of the suite's database."""

from __future__ import annotations

import datetime
import uuid

import pytest
from django.contrib.auth.models import Group, User
from django.db import IntegrityError, connection, transaction

from core.db import (
    copy_supported,
    insert_ignore_from_temp,
    rows_copy,
    rows_delete_with_dependants,
    server_bound_cursor,
    temp_table_fill,
)
from tests.conftest import on_postgresql

pytestmark = pytest.mark.django_db

postgres_only = pytest.mark.postgres_only


def test_copy_is_the_bulk_path_on_postgresql_only() -> None:
    assert copy_supported(connection) is on_postgresql()


@postgres_only
def test_rows_copy_writes_every_row() -> None:
    rows_copy(connection=connection, table="auth_group", columns=["name"], rows=[("a",), ("b",)])
    assert sorted(Group.objects.values_list("name", flat=True)) == ["a", "b"]


@postgres_only
def test_rows_copy_is_all_or_nothing() -> None:
    Group.objects.create(name="taken")
    with pytest.raises(IntegrityError), transaction.atomic():
        rows_copy(
            connection=connection,
            table="auth_group",
            columns=["name"],
            rows=[("new",), ("taken",)],
        )
    assert list(Group.objects.values_list("name", flat=True)) == ["taken"]


@postgres_only
def test_rows_copy_with_types_goes_in_binary_with_the_values_as_they_are() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMPORARY TABLE probe_binary (key uuid, at timestamptz, n smallint, note text)"
        )
    key = uuid.uuid4()
    at = datetime.datetime(2026, 11, 22, 8, 0, 0, 123456, tzinfo=datetime.UTC)

    rows_copy(
        connection=connection,
        table="probe_binary",
        columns=["key", "at", "n", "note"],
        rows=[(key, at, 503, "Ünïcode"), (key, None, None, "")],
        types=["uuid", "timestamp with time zone", "smallint", "text"],
    )

    with connection.cursor() as cursor:
        cursor.execute("SELECT key, at, n, note FROM probe_binary ORDER BY n NULLS LAST")
        assert cursor.fetchall() == [(key, at, 503, "Ünïcode"), (key, None, None, "")]


@postgres_only
def test_a_server_bound_cursor_sends_arrays_and_reads_rows_in_binary() -> None:
    keys = [uuid.uuid4(), uuid.uuid4()]
    instants = [datetime.datetime(2026, 11, 22, 8, tzinfo=datetime.UTC), None]

    with server_bound_cursor(connection=connection, binary_results=True) as cursor:
        cursor.execute(
            "SELECT * FROM unnest(%b::uuid[], %b::timestamptz[]) AS a(key, at)", [keys, instants]
        )
        rows = cursor.fetchall()

    assert rows == list(zip(keys, instants, strict=True))
    assert rows[0][1].utcoffset() == datetime.timedelta(0)


@postgres_only
def test_a_server_bound_cursor_is_seen_by_execute_wrappers_and_raises_djangos_errors() -> None:
    Group.objects.create(name="taken")
    seen: list[str] = []

    def record(execute, sql, params, many, context):
        seen.append(sql)
        return execute(sql, params, many, context)

    with (
        connection.execute_wrapper(record),
        pytest.raises(IntegrityError),
        transaction.atomic(),
        server_bound_cursor(connection=connection) as cursor,
    ):
        cursor.execute("INSERT INTO auth_group (name) VALUES (%s)", ["taken"])
    assert "INSERT INTO auth_group (name) VALUES (%s)" in seen


@postgres_only
def test_a_temp_table_is_filled_then_refilled_in_one_transaction() -> None:
    with transaction.atomic():
        for names in (["x", "y"], ["z"]):
            temp_table_fill(
                connection=connection,
                name="probe_groups",
                like_table="auth_group",
                columns=["name"],
                rows=[(name, index) for index, name in enumerate(names)],
                extra_columns=[("position", "integer")],
            )
        with connection.cursor() as cursor:
            cursor.execute("SELECT name, position FROM probe_groups ORDER BY position")
            assert cursor.fetchall() == [("z", 0)]


@postgres_only
def test_insert_ignore_from_temp_returns_only_what_went_in() -> None:
    Group.objects.create(name="taken")
    with transaction.atomic():
        temp_table_fill(
            connection=connection,
            name="probe_groups",
            like_table="auth_group",
            columns=["name"],
            rows=[("taken",), ("fresh",)],
        )
        inserted = insert_ignore_from_temp(
            connection=connection,
            table="auth_group",
            temp_table="probe_groups",
            columns=["name"],
            returning="name",
        )
    assert inserted == ["fresh"]
    assert Group.objects.count() == 2


def test_delete_with_dependants_takes_at_most_the_limit_and_their_dependants() -> None:
    groups = [Group.objects.create(name=f"g{n}") for n in range(5)]
    users = [User.objects.create(username=f"u{n}") for n in range(3)]
    # A dependant through a join table: each group has one member row.
    membership = User.groups.through
    for group, user in zip(groups, users, strict=False):
        membership.objects.create(group=group, user=user)
    with transaction.atomic():
        rows, dependants = rows_delete_with_dependants(
            queryset=Group.objects.filter(name__in=["g0", "g1", "g3"]),
            limit=2,
            dependants=[(membership, "group_id")],
        )
    assert rows == 2
    left = set(Group.objects.values_list("name", flat=True))
    assert len(left) == 3 and {"g2", "g4"} <= left
    assert dependants == 2
    assert membership.objects.count() == 1


def test_delete_with_dependants_of_nothing_deletes_nothing() -> None:
    Group.objects.create(name="kept")
    with transaction.atomic():
        assert rows_delete_with_dependants(
            queryset=Group.objects.filter(name="missing"),
            limit=10,
            dependants=[],
        ) == (0, 0)
    assert Group.objects.count() == 1
