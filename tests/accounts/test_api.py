"""GET /api/v1/users/ and /api/v1/users/<id>/: the lookup's behaviour, the database's values."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from accounts.lookup import user_as_dict
from accounts.models import CSV_FIELDS, User
from tests.core.api_fixtures import *  # noqa: F403 (the fixtures)
from tests.core.api_fixtures import body
from tests.factories import user_create

pytestmark = pytest.mark.django_db

NINE = list(CSV_FIELDS)


@pytest.fixture
def users() -> list[User]:
    created = [
        user_create(
            user_id="1",
            name="Alice Smith",
            email="alice@example.com",
            signup_date=datetime.date(2021, 3, 4),
            age=41,
            height_cm=Decimal("165"),
            weight_kg=Decimal("60.5"),
            activity_level="High",
            health_goals="Endurance",
            timezone="Europe/Paris",
            notifications_enabled=False,
            muted_categories=["tip"],
            send_time=datetime.time(7, 30),
        ),
        user_create(user_id="2", name="Bob Jones"),
        user_create(user_id="3", name="Zoë Ångström"),
    ]
    for user in created:
        user.refresh_from_db()
    return created


def expected_row(user: User) -> dict:
    """The nine fields as the database holds them, in the CSV's plain types."""
    return {
        "user_id": user.user_id,
        "name": user.name,
        "email": user.email,
        "signup_date": user.signup_date.isoformat(),
        "age": user.age,
        "height_cm": int(user.height_cm)
        if user.height_cm == user.height_cm.to_integral_value()
        else float(user.height_cm),
        "weight_kg": int(user.weight_kg)
        if user.weight_kg == user.weight_kg.to_integral_value()
        else float(user.weight_kg),
        "activity_level": user.activity_level,
        "health_goals": user.health_goals,
    }


def test_the_list_is_a_plain_array_equal_to_the_database_field_by_field(api_client, users):
    response = api_client.get("/api/v1/users/")

    assert response.status_code == 200
    assert response["X-Total-Count"] == "3"
    rows = body(response)
    assert [list(row) for row in rows] == [NINE] * 3
    assert rows == [expected_row(user) for user in users]
    assert rows[0]["height_cm"] == 165 and rows[0]["weight_kg"] == 60.5


def test_the_list_is_what_the_legacy_lookup_and_the_users_command_answer(api_client, users):
    v1 = body(api_client.get("/api/v1/users/"))

    assert v1 == body(api_client.get("/users/"))
    assert v1 == [user_as_dict(user) for user in users]


def test_name_and_id_filter_as_the_legacy_lookup(api_client, users):
    assert [row["user_id"] for row in body(api_client.get("/api/v1/users/?name=zoË"))] == ["3"]
    assert [row["user_id"] for row in body(api_client.get("/api/v1/users/?id=2"))] == ["2"]
    assert body(api_client.get("/api/v1/users/", {"id": ""})) == []


def test_pages_link_both_ways_with_the_total(api_client, users):
    response = api_client.get("/api/v1/users/", {"page": "2", "page_size": "1"})

    assert [row["user_id"] for row in body(response)] == ["2"]
    assert response["X-Total-Count"] == "3"
    assert response["Link"] == (
        '<http://testserver/api/v1/users/?page=3&page_size=1>; rel="next", '
        '<http://testserver/api/v1/users/?page=1&page_size=1>; rel="prev"'
    )


@pytest.mark.parametrize(
    ("query", "errors"),
    [
        ({"page": "abc"}, {"page": ["must be a whole number, got 'abc'"]}),
        ({"page_size": "0"}, {"page_size": ["must be at least 1, got 0"]}),
        ({"page_size": "501"}, {"page_size": ["must be at most 500"]}),
        ({"page": "9", "page_size": "2"}, {"page": ["9 is beyond the last page (2)"]}),
        ({"name": "a\x00"}, {"name": ["must not contain a NUL character"]}),
    ],
)
def test_a_bad_parameter_is_a_400_with_field_errors(api_client, users, query, errors):
    response = api_client.get("/api/v1/users/", query)

    assert response.status_code == 400
    assert body(response) == errors


def test_one_user_carries_the_zone_and_the_preferences(api_client, users):
    alice = users[0]

    response = api_client.get("/api/v1/users/1/")

    assert response.status_code == 200
    assert body(response) == {
        **expected_row(alice),
        "timezone": alice.timezone,
        "preferences": {
            "notifications_enabled": alice.notifications_enabled,
            "muted_categories": alice.muted_categories,
            "send_time": alice.send_time.strftime("%H:%M"),
        },
    }
    assert body(response)["preferences"] == {
        "notifications_enabled": False,
        "muted_categories": ["tip"],
        "send_time": "07:30",
    }


def test_a_user_with_default_preferences(api_client, users):
    data = body(api_client.get("/api/v1/users/2/"))

    assert data["timezone"] == ""
    assert data["preferences"] == {
        "notifications_enabled": True,
        "muted_categories": [],
        "send_time": None,
    }


def test_the_legacy_detail_keeps_the_nine_fields(api_client, users):
    assert list(body(api_client.get("/users/1/"))) == NINE


def test_an_unknown_user_is_a_404_with_a_detail(api_client, users):
    response = api_client.get("/api/v1/users/42/")

    assert response.status_code == 404
    assert body(response) == {"detail": "user '42' not found"}


def test_a_user_id_containing_a_slash_is_found(api_client):
    user_create(user_id="a/b", name="Slashed")

    assert body(api_client.get("/api/v1/users/a/b/"))["name"] == "Slashed"
