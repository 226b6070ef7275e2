"""core.db's COPY helpers and the batched delete, on a real table of the suite's database."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from django.db import IntegrityError, connection, transaction

from core.db import (
    copy_supported,
    insert_ignore_from_temp,
    rows_copy,
    rows_delete_with_dependants,
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
