"""User.rotation_slot: given round-robin at creation, by the model, load_users and the migration."""

from __future__ import annotations

import datetime
import importlib
from collections import Counter
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.db import connection

from accounts.csv_import import duplicates, users_load_csv
from accounts.models import User
from tests.factories import user_build, users_create

pytestmark = pytest.mark.django_db

HEADER = "user_id,name,email,signup_date,age,height_cm,weight_kg,activity_level,health_goals"
migration = importlib.import_module("accounts.migrations.0002_user_rotation_slot")


def row(user_id: str, age: int = 30) -> str:
    return f"{user_id},User {user_id},u{user_id}@example.com,2021-01-01,{age},170,70,Low,x"


def csv_file(tmp_path: Path, *lines: str, name: str = "users.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    return path


def slots() -> dict[str, int]:
    return dict(User.objects.values_list("user_id", "rotation_slot"))


def balanced(counts: Counter) -> bool:
    return set(counts) <= {0, 1, 2} and max(counts.values()) - min(counts[s] for s in range(3)) <= 1


@pytest.mark.parametrize("count", [1, 2, 3, 10, 31])
def test_loading_users_balances_their_slots(tmp_path, count):
    # Ids chosen so that no scheme derived from the id itself could balance them.
    ids = [f"{number * 3:08d}" for number in range(count)]

    users_load_csv(path=csv_file(tmp_path, *map(row, ids)), chunk_size=4)

    assert balanced(Counter(slots().values()))
    assert [slots()[user_id] for user_id in ids] == [number % 3 for number in range(count)]


def test_a_reload_keeps_every_slot(tmp_path):
    ids = [str(number) for number in range(7)]
    users_load_csv(path=csv_file(tmp_path, *map(row, ids)))
    before = slots()

    # Reversed and changed: every row is an update, in another order.
    report = users_load_csv(path=csv_file(tmp_path, *[row(i, age=40) for i in reversed(ids)]))

    assert report.updated == 7
    assert slots() == before


def test_a_load_adding_users_continues_the_round_robin(tmp_path):
    users_load_csv(path=csv_file(tmp_path, *map(row, ["a", "b", "c", "d"])))

    users_load_csv(path=csv_file(tmp_path, *map(row, ["a", "b", "c", "d", "e", "f", "g", "h"])))

    assert [slots()[user_id] for user_id in "efgh"] == [1, 2, 0, 1]
    assert Counter(slots().values()) == {0: 3, 1: 3, 2: 2}


def test_the_round_robin_counts_created_users_only_and_spans_chunks(tmp_path):
    users_load_csv(path=csv_file(tmp_path, row("old")))

    users_load_csv(path=csv_file(tmp_path, row("n1"), row("old", age=50), row("n2"), row("n3")))

    assert [slots()[user_id] for user_id in ("old", "n1", "n2", "n3")] == [0, 1, 2, 0]


def test_deferred_rows_continue_the_round_robin(tmp_path, monkeypatch):
    # Every row deferred as a possible duplicate, so all of them load in the second pass.
    monkeypatch.setattr(duplicates.IdFilter, "seen_or_add", lambda self, key: True)

    users_load_csv(path=csv_file(tmp_path, *map(row, "abcde")), chunk_size=2)

    assert [slots()[user_id] for user_id in "abcde"] == [0, 1, 2, 0, 1]


def test_a_user_created_alone_gets_the_count_of_users_modulo_three():
    created = [
        User.objects.create(
            user_id=f"solo{number}",
            name="Solo",
            email="solo@example.com",
            signup_date=datetime.date(2021, 1, 1),
            age=30,
            height_cm=Decimal("170"),
            weight_kg=Decimal("70"),
            activity_level="Low",
            health_goals="x",
        )
        for number in range(4)
    ]

    assert [user.rotation_slot for user in created] == [0, 1, 2, 0]


def test_the_factory_numbers_slots_without_a_query(django_assert_num_queries):
    with django_assert_num_queries(0):
        built = [user_build() for _ in range(3)]

    assert sorted(user.rotation_slot for user in built) == [0, 1, 2]


@pytest.mark.parametrize(
    "balance",
    [
        lambda: migration.slots_balance_in_one_update(User, connection),
        lambda: migration.slots_balance_in_chunks(User),
        lambda: migration.slots_balance(apps, SimpleNamespace(connection=connection)),
    ],
    ids=["one-update", "chunks", "chosen-for-this-database"],
)
def test_the_migration_balances_existing_users_in_id_order(balance, monkeypatch):
    monkeypatch.setattr(migration, "CHUNK", 3)
    users_create(8)
    User.objects.update(rotation_slot=0)

    balance()

    ordered = User.objects.order_by("user_id").values_list("rotation_slot", flat=True)
    assert list(ordered) == [0, 1, 2, 0, 1, 2, 0, 1]
