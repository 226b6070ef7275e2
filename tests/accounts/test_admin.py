"""The app user admin: the rotation slot is shown read-only and given on creation."""

from __future__ import annotations

import datetime

import pytest

from accounts.models import User
from tests.factories import user_create

pytestmark = pytest.mark.django_db


def test_the_change_page_shows_the_rotation_slot_read_only(admin_client):
    user_create(user_id="7", rotation_slot=2)

    response = admin_client.get("/admin/accounts/user/7/change/")

    assert response.status_code == 200
    assert "rotation_slot" in response.context["adminform"].readonly_fields
    assert "rotation_slot" not in response.context["adminform"].form.fields


def test_a_user_added_in_the_admin_gets_the_next_slot(admin_client):
    user_create(user_id="1")
    user_create(user_id="2")

    response = admin_client.post(
        "/admin/accounts/user/add/",
        {
            "user_id": "3",
            "name": "Added",
            "email": "added@example.com",
            "signup_date": "2021-01-01",
            "age": "30",
            "height_cm": "170",
            "weight_kg": "70",
            "activity_level": "Low",
            "health_goals": "x",
            "timezone": "",
        },
    )

    assert response.status_code == 302
    assert User.objects.get(user_id="3").rotation_slot == 2


# --- preferences -----------------------------------------------------------------

PROFILE = {
    "user_id": "7",
    "name": "Pat",
    "email": "pat@example.com",
    "signup_date": "2021-01-01",
    "age": "30",
    "height_cm": "170",
    "weight_kg": "70",
    "activity_level": "Low",
    "health_goals": "x",
}


def change(admin_client, **preferences):
    """POST the change form of user 7 with its profile and ``preferences``."""
    data = {**PROFILE, "timezone": "", "send_time": "", **preferences}
    return admin_client.post("/admin/accounts/user/7/change/", data)


@pytest.fixture
def pat():
    return user_create(**{key: value for key, value in PROFILE.items() if key == "user_id"})


def test_the_preferences_are_edited_and_saved(admin_client, pat):
    response = change(
        admin_client,
        notifications_enabled="",  # an unticked box sends nothing
        muted_categories=["tip", "reminder"],
        timezone="America/Los_Angeles",
        send_time="07:15",
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    pat.refresh_from_db()
    assert pat.notifications_enabled is False
    # Stored in the categories' own order, whatever order they were ticked in.
    assert pat.muted_categories == ["reminder", "tip"]
    assert pat.timezone == "America/Los_Angeles"
    assert pat.send_time == datetime.time(7, 15)


def test_empty_preferences_mean_the_defaults(admin_client, pat):
    response = change(admin_client, notifications_enabled="on")

    assert response.status_code == 302
    pat.refresh_from_db()
    assert (pat.notifications_enabled, pat.muted_categories, pat.timezone, pat.send_time) == (
        True,
        [],
        "",
        None,
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("muted_categories", ["gossip"], "Select a valid choice. gossip is not one of"),
        ("muted_categories", ["tip", "tip"], "tip listed more than once"),
        ("timezone", "Mars/Olympus", "'Mars/Olympus' is not an IANA time zone name"),
        ("timezone", "Europe", "'Europe' is not an IANA time zone name"),
        ("send_time", "25:00", "Enter a valid time"),
        ("send_time", "8am", "Enter a valid time"),
    ],
)
def test_a_bad_preference_is_a_field_error_and_nothing_is_saved(
    admin_client, pat, field, value, message
):
    response = change(admin_client, **{field: value})

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == [field]
    assert message in errors[field][0]
    pat.refresh_from_db()
    assert (pat.muted_categories, pat.timezone, pat.send_time) == ([], "", None)


def test_the_change_page_shows_the_current_preferences(admin_client):
    user_create(user_id="7", muted_categories=["insight"], send_time=datetime.time(6, 5))

    response = admin_client.get("/admin/accounts/user/7/change/")

    form = response.context["adminform"].form
    assert form["muted_categories"].value() == ["insight"]
    assert 'value="06:05"' in str(form["send_time"])


def test_the_list_filters_by_notifications_enabled(admin_client):
    user_create(user_id="1", notifications_enabled=False)
    user_create(user_id="2")

    response = admin_client.get("/admin/accounts/user/?notifications_enabled__exact=0")

    assert [user.user_id for user in response.context["cl"].result_list] == ["1"]
