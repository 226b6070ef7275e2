"""The legacy lookup's semantics: exact id, case-insensitive substring of the name, unicode-safe."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from accounts.lookup import user_as_dict, user_get, user_list
from tests.factories import user_create

pytestmark = pytest.mark.django_db

NAMES = {
    "1": "Alice Smith",
    "2": "Bob Johnson",
    "3": "Zoë Ångström",
    "4": "Ärger Öztürk",
    "5": "Ali 100% Baba_",
}


@pytest.fixture
def people():
    for user_id, name in NAMES.items():
        user_create(user_id=user_id, name=name)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Alice Smith", ["1"]),  # whole name
        ("alice", ["1"]),  # lower case
        ("ALICE", ["1"]),  # upper case
        ("smi", ["1"]),  # partial, inside the name
        ("o", ["2", "3"]),  # several matches, in id order
        ("ali", ["1", "5"]),
        ("", ["1", "2", "3", "4", "5"]),  # empty matches everyone, as the legacy test did
        ("xyz", []),  # no match
        ("zoë", ["3"]),  # unicode, lower case query
        ("ZOË ÅNGSTRÖM", ["3"]),  # unicode, upper case query
        ("ä", ["4"]),  # non-ASCII letter, other case than stored
        ("ÖZTÜRK", ["4"]),
        ("%", ["5"]),  # LIKE wildcards are literal
        ("_", ["5"]),
        ("100% b", ["5"]),
    ],
)
def test_by_name_is_a_case_insensitive_substring(people, name, expected):
    assert [user.user_id for user in user_list(name=name)] == expected


@pytest.mark.parametrize(
    ("user_id", "expected"),
    [("1", ["1"]), ("01", []), (" 1", []), ("", []), ("6", [])],
)
def test_by_id_is_an_exact_match(people, user_id, expected):
    assert [user.user_id for user in user_list(user_id=user_id)] == expected


def test_id_and_name_together_must_both_match(people):
    assert [user.user_id for user in user_list(user_id="1", name="alice")] == ["1"]
    assert list(user_list(user_id="1", name="bob")) == []


def test_user_get_finds_the_exact_id(people):
    assert user_get(user_id="2").name == "Bob Johnson"


def test_user_get_returns_none_for_an_unknown_id(people):
    assert user_get(user_id="02") is None


def test_the_lookup_sees_new_rows_at_once(people):
    assert user_get(user_id="9") is None
    user_create(user_id="9")

    assert user_get(user_id="9") is not None


def test_user_as_dict_uses_the_csv_names_and_plain_types():
    user = user_create(
        user_id="7",
        name="Zoë",
        email="zoe@example.com",
        signup_date=datetime.date(2021, 3, 4),
        age=41,
        height_cm=Decimal("165"),
        weight_kg=Decimal("60.5"),
        activity_level="High",
        health_goals="Endurance",
    )
    user.refresh_from_db()

    assert user_as_dict(user) == {
        "user_id": "7",
        "name": "Zoë",
        "email": "zoe@example.com",
        "signup_date": "2021-03-04",
        "age": 41,
        "height_cm": 165,
        "weight_kg": 60.5,
        "activity_level": "High",
        "health_goals": "Endurance",
    }
