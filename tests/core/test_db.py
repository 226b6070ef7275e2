"""core.db: the statements Django's backend spells, pinned, and what they do on a real table.

Runs on the suite's database (SQLite, and PostgreSQL with ``DATABASE_URL``). A Django
or psycopg upgrade that changes ``insert_statement``, ``on_conflict_suffix_sql``,
``prepare_threshold`` or the server-binding cursor fails here first.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from core.db import executemany_prepared, insert_ignore_sql, json_rows, json_rows_select, upsert_sql

pytestmark = pytest.mark.django_db

TABLE = "core_db_probe"

# What each backend's operations spell, pinned: (statement head, conflict suffix).
IGNORE = {
    "sqlite": ('INSERT OR IGNORE INTO "core_db_probe"', ""),
    "postgresql": ('INSERT INTO "core_db_probe"', "ON CONFLICT DO NOTHING"),
}
UPSERT_SUFFIX = 'ON CONFLICT("key") DO UPDATE SET "value" = EXCLUDED."value"'


@pytest.fixture
def probe() -> None:
    """A three-column table: a text key, a value the upsert sets, and one it must keep."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE {TABLE} (key varchar(16) PRIMARY KEY, value integer NOT NULL, "
            "kept integer NOT NULL)"
        )


def probe_rows() -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT key, value, kept FROM {TABLE} ORDER BY key")
        return [tuple(row) for row in cursor.fetchall()]


def test_insert_ignore_is_spelled_by_the_backend():
    head, suffix = IGNORE[connection.vendor]

    sql = insert_ignore_sql(connection=connection, table=TABLE, columns=["key", "value", "kept"])

    assert sql == f'{head} ("key", "value", "kept") VALUES (%s, %s, %s)' + (
        f" {suffix}" if suffix else ""
    )


def test_upsert_is_spelled_by_the_backend():
    sql = upsert_sql(
        connection=connection,
        table=TABLE,
        columns=["key", "value", "kept"],
        unique=["key"],
        update=["value"],
    )

    assert sql == (
        'INSERT INTO "core_db_probe" ("key", "value", "kept") VALUES (%s, %s, %s) ' + UPSERT_SUFFIX
    )


def test_insert_ignore_is_what_bulk_create_sends():
    head, suffix = IGNORE[connection.vendor]
    with CaptureQueriesContext(connection) as queries:
        Group.objects.bulk_create([Group(name="staff")], ignore_conflicts=True)

    (sent,) = [query["sql"] for query in queries.captured_queries]
    ours = insert_ignore_sql(connection=connection, table="auth_group", columns=["name"])
    assert sent.startswith(head.replace(TABLE, "auth_group") + ' ("name")')
    assert ours.startswith(head.replace(TABLE, "auth_group") + ' ("name")')
    assert sent.endswith(suffix)


def test_upsert_is_what_bulk_create_sends():
    with CaptureQueriesContext(connection) as queries:
        Group.objects.bulk_create(
            [Group(name="staff")],
            update_conflicts=True,
            unique_fields=["name"],
            update_fields=["name"],
        )

    (sent,) = [query["sql"] for query in queries.captured_queries]
    suffix = 'ON CONFLICT("name") DO UPDATE SET "name" = EXCLUDED."name"'
    ours = upsert_sql(
        connection=connection,
        table="auth_group",
        columns=["name"],
        unique=["name"],
        update=["name"],
    )
    assert sent.startswith('INSERT INTO "auth_group" ("name")')
    assert suffix in sent
    assert ours.endswith(suffix)


def test_insert_ignore_keeps_the_first_row_and_counts_only_rows_inserted(probe):
    sql = insert_ignore_sql(connection=connection, table=TABLE, columns=["key", "value", "kept"])

    with connection.cursor() as cursor:
        cursor.executemany(sql, [("a", 1, 1), ("b", 2, 2), ("a", 3, 3)])
        inserted = cursor.rowcount

    assert inserted == 2
    assert probe_rows() == [("a", 1, 1), ("b", 2, 2)]


def test_upsert_sets_only_the_update_columns_of_an_existing_row(probe):
    sql = upsert_sql(
        connection=connection,
        table=TABLE,
        columns=["key", "value", "kept"],
        unique=["key"],
        update=["value"],
    )
    executemany_prepared(connection=connection, sql=sql, rows=[("a", 1, 1)])

    executemany_prepared(connection=connection, sql=sql, rows=[("a", 5, 9), ("b", 2, 2)])

    assert probe_rows() == [("a", 5, 1), ("b", 2, 2)]


def test_executemany_prepared_runs_in_the_current_transaction(probe):
    sql = insert_ignore_sql(connection=connection, table=TABLE, columns=["key", "value", "kept"])

    with pytest.raises(RuntimeError), transaction.atomic():
        executemany_prepared(connection=connection, sql=sql, rows=[("a", 1, 1)])
        assert probe_rows() == [("a", 1, 1)]
        raise RuntimeError("roll back")

    assert probe_rows() == []


def test_executemany_prepared_raises_django_errors(probe):
    sql = f"INSERT INTO {TABLE} (key, value, kept) VALUES (%s, %s, %s)"

    with pytest.raises(IntegrityError), transaction.atomic():
        executemany_prepared(connection=connection, sql=sql, rows=[("a", 1, 1), ("a", 2, 2)])


@pytest.mark.postgres_only
def test_executemany_prepared_prepares_on_the_server_and_restores_the_threshold(probe):
    connection.ensure_connection()
    threshold = connection.connection.prepare_threshold
    sql = insert_ignore_sql(connection=connection, table=TABLE, columns=["key", "value", "kept"])

    executemany_prepared(connection=connection, sql=sql, rows=[("a", 1, 1), ("b", 2, 2)])

    assert connection.connection.prepare_threshold == threshold
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        statements = [row[0] for row in cursor.fetchall()]
    assert [statement for statement in statements if TABLE in statement] == [
        sql.replace("%s", "$1", 1).replace("%s", "$2", 1).replace("%s", "$3", 1)
    ]


@pytest.mark.django_db
def test_one_of_finds_exactly_the_given_values_however_they_are_spelled() -> None:
    from accounts.models import User
    from core.db import one_of
    from tests.factories import user_build

    awkward = ['a"b', "c,d", "{e}", "f'g", "h\\i", "NULL", " j ", "ü"]
    User.objects.bulk_create(user_build(user_id=user_id) for user_id in [*awkward, "other"])
    wanted = [*awkward, "missing"]
    with CaptureQueriesContext(connection) as queries:
        found = set(
            User.objects.filter(one_of(model=User, field="user_id", values=wanted)).values_list(
                "pk", flat=True
            )
        )
    assert found == set(awkward)
    assert not User.objects.filter(one_of(model=User, field="user_id", values=[])).exists()
    # One array parameter on PostgreSQL, not a list spelled out.
    if connection.vendor == "postgresql":
        assert "= ANY(" in queries[0]["sql"] and " IN (" not in queries[0]["sql"]


def test_json_rows_select_gives_back_each_value_as_it_was_bound() -> None:
    if connection.vendor != "sqlite":
        pytest.skip("json_each is SQLite's")
    rows = [("a", 1, None, '😀 " \\ \n', 2.5), ("123", -7, "null", "[1]", 0.0)]

    with connection.cursor() as cursor:
        cursor.execute(json_rows_select(width=5), [json_rows(rows)])
        assert cursor.fetchall() == rows
