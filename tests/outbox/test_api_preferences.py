"""GET/PUT/PATCH /api/v1/users/<id>/preferences/: validation, and the pending rows a change cancels."""

from __future__ import annotations

import datetime
import json

import pytest

from accounts.models import User
from outbox.models import DailyNotification
from tests.core.api_fixtures import *  # noqa: F403 (the fixtures)
from tests.core.api_fixtures import body
from tests.factories import notification_create, user_create

pytestmark = pytest.mark.django_db

Status = DailyNotification.Status
Category = DailyNotification.Category
URL = "/api/v1/users/7/preferences/"
# 08:00 in Eastern Arabic digits: a regex's \d and int() would take it.
EASTERN_ARABIC = "\u0660\u0668:\u0660\u0660"
VALID = {
    "notifications_enabled": True,
    "muted_categories": ["tip"],
    "send_time": "06:45",
    "timezone": "America/New_York",
}


@pytest.fixture
def user() -> User:
    return user_create(user_id="7", timezone="Europe/Paris", send_time=datetime.time(9, 15))


def put(client, data, url=URL):
    return client.put(url, json.dumps(data), content_type="application/json")


def patch(client, data, url=URL):
    return client.patch(url, json.dumps(data), content_type="application/json")


def stored(user: User) -> dict:
    user.refresh_from_db()
    return {
        "notifications_enabled": user.notifications_enabled,
        "muted_categories": user.muted_categories,
        "send_time": user.send_time,
        "timezone": user.timezone,
    }


def test_get_answers_the_stored_preferences(api_client, user):
    response = api_client.get(URL)

    assert response.status_code == 200
    assert body(response) == {
        "notifications_enabled": True,
        "muted_categories": [],
        "send_time": "09:15",
        "timezone": "Europe/Paris",
    }


def test_put_replaces_every_field_and_answers_them(api_client, user):
    response = put(api_client, VALID)

    assert response.status_code == 200
    assert body(response) == VALID
    assert stored(user) == {**VALID, "send_time": datetime.time(6, 45)}


def test_put_needs_every_field(api_client, user):
    response = put(api_client, {"notifications_enabled": False})

    assert response.status_code == 400
    assert body(response) == {
        "muted_categories": ["This field is required."],
        "send_time": ["This field is required."],
        "timezone": ["This field is required."],
    }
    assert stored(user)["notifications_enabled"] is True


def test_patch_changes_only_what_it_names(api_client, user):
    response = patch(api_client, {"send_time": None})

    assert response.status_code == 200
    assert stored(user) == {
        "notifications_enabled": True,
        "muted_categories": [],
        "send_time": None,
        "timezone": "Europe/Paris",
    }


def test_muted_categories_are_stored_once_each_in_a_fixed_order(api_client, user):
    patch(api_client, {"muted_categories": ["tip", "reminder", "tip"]})

    assert stored(user)["muted_categories"] == ["reminder", "tip"]


def test_an_empty_zone_means_the_sites(api_client, user):
    assert patch(api_client, {"timezone": ""}).status_code == 200
    assert stored(user)["timezone"] == ""


@pytest.mark.parametrize(
    ("data", "errors"),
    [
        (
            {"muted_categories": ["news"]},
            {"muted_categories": {"0": ['"news" is not a valid choice.']}},
        ),
        (
            {"muted_categories": ["tip", "Tip"]},
            {"muted_categories": {"1": ['"Tip" is not a valid choice.']}},
        ),
        (
            {"muted_categories": "tip"},
            {"muted_categories": ['Expected a list of items but got type "str".']},
        ),
        ({"send_time": "8:00"}, {"send_time": ["must be a time as \"HH:MM\", got '8:00'"]}),
        ({"send_time": "24:00"}, {"send_time": ["must be a time as \"HH:MM\", got '24:00'"]}),
        ({"send_time": "08:60"}, {"send_time": ["must be a time as \"HH:MM\", got '08:60'"]}),
        ({"send_time": "08:00:00"}, {"send_time": ["must be a time as \"HH:MM\", got '08:00:00'"]}),
        ({"send_time": "0800"}, {"send_time": ["must be a time as \"HH:MM\", got '0800'"]}),
        ({"send_time": 800}, {"send_time": ['must be a time as "HH:MM", got 800']}),
        (
            {"send_time": EASTERN_ARABIC},
            {"send_time": [f'must be a time as "HH:MM", got {EASTERN_ARABIC!r}']},
        ),
        (
            {"timezone": "Mars/Olympus"},
            {"timezone": ["must be an IANA time zone name, got 'Mars/Olympus'"]},
        ),
        ({"timezone": "Europe"}, {"timezone": ["must be an IANA time zone name, got 'Europe'"]}),
        (
            {"timezone": "../etc/passwd"},
            {"timezone": ["must be an IANA time zone name, got '../etc/passwd'"]},
        ),
        ({"timezone": "UTC "}, {"timezone": ["must be an IANA time zone name, got 'UTC '"]}),
        (
            {"timezone": "Europe/Paris\x00"},
            {"timezone": ["must be an IANA time zone name, got 'Europe/Paris\\x00'"]},
        ),
        (
            {"timezone": "x" * 65},
            {"timezone": [f"must be an IANA time zone name, got '{'x' * 65}'"]},
        ),
        ({"timezone": None}, {"timezone": ["This field may not be null."]}),
        (
            {"notifications_enabled": "maybe"},
            {"notifications_enabled": ["Must be a valid boolean."]},
        ),
        (
            {"notifications_enabled": None},
            {"notifications_enabled": ["This field may not be null."]},
        ),
        (["tip"], {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}),
    ],
)
def test_a_bad_value_is_a_400_with_field_errors_and_changes_nothing(api_client, user, data, errors):
    pending = notification_create(user=user, category=Category.TIP, status=Status.PENDING)
    before = stored(user)

    response = patch(api_client, data)

    assert response.status_code == 400
    assert body(response) == errors
    assert stored(user) == before
    pending.refresh_from_db()
    assert pending.status == Status.PENDING


def test_a_body_that_is_not_json_is_a_400(api_client, user):
    response = api_client.patch(URL, "{nope", content_type="application/json")

    assert response.status_code == 400
    assert body(response)["detail"].startswith("JSON parse error")


def test_an_unknown_user_is_a_404(api_client):
    assert (
        patch(api_client, {"send_time": None}, url="/api/v1/users/8/preferences/").status_code
        == 404
    )


@pytest.fixture
def rows(user) -> dict[str, DailyNotification]:
    """The user's rows: pending in each category, and a tip in every other status; another user's."""
    day = iter(range(1, 100))

    def row(**fields):
        return notification_create(user=user, date=datetime.date(2026, 11, next(day)), **fields)

    made = {f"pending_{c}": row(category=c, status=Status.PENDING) for c in Category.values}
    for status in set(Status.values) - {Status.PENDING}:
        made[f"{status}_tip"] = row(category=Category.TIP, status=status)
    made["other_user"] = notification_create(category=Category.TIP, status=Status.PENDING)
    return made


def statuses(rows: dict[str, DailyNotification]) -> dict[str, str]:
    return {
        name: DailyNotification.objects.values_list("status", flat=True).get(pk=row.pk)
        for name, row in rows.items()
    }


def test_disabling_cancels_every_pending_row_of_the_user_and_nothing_else(api_client, user, rows):
    before = statuses(rows)

    patch(api_client, {"notifications_enabled": False})

    after = statuses(rows)
    assert {name for name in rows if after[name] != before[name]} == {
        "pending_reminder",
        "pending_insight",
        "pending_tip",
    }
    assert {after[name] for name in ("pending_reminder", "pending_insight", "pending_tip")} == {
        "cancelled"
    }


def test_muting_a_category_cancels_that_categorys_pending_rows_only(api_client, user, rows):
    before = statuses(rows)

    patch(api_client, {"muted_categories": ["tip"]})

    after = statuses(rows)
    assert {name for name in rows if after[name] != before[name]} == {"pending_tip"}
    assert after["pending_tip"] == "cancelled"


def test_a_change_that_excludes_nothing_cancels_nothing(api_client, user, rows):
    before = statuses(rows)

    assert patch(api_client, {"send_time": "07:00", "timezone": "Asia/Tokyo"}).status_code == 200

    assert statuses(rows) == before


def test_the_change_and_the_cancellations_are_one_transaction(api_client, user, rows, monkeypatch):
    def fail(**kwargs):
        raise RuntimeError("the cancellation failed")

    monkeypatch.setattr("outbox.preferences.notifications_cancel", fail)
    api_client.raise_request_exception = False

    response = patch(api_client, {"notifications_enabled": False})

    assert response.status_code == 500
    assert stored(user)["notifications_enabled"] is True


def test_the_change_is_logged_with_the_key_name_and_no_values(api_client, user, rows, caplog):
    caplog.set_level("INFO", logger="outbox")

    patch(api_client, {"muted_categories": ["tip"], "timezone": "Asia/Tokyo"})

    (line,) = [
        r.getMessage() for r in caplog.records if "outbox.preferences_updated" in r.getMessage()
    ]
    assert line == (
        "action=outbox.preferences_updated user=7 fields=muted_categories,timezone "
        "cancelled=1 by=key:health-app-backend"
    )
