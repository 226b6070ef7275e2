"""The app user admin: the rotation slot is shown read-only and given on creation."""

from __future__ import annotations

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
