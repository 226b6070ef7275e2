"""GET /api/v1/users/<id>/notifications/: newest first, filters, keyset pages along the Link header."""

from __future__ import annotations

import datetime
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from outbox.models import DailyNotification
from tests.core.api_fixtures import *  # noqa: F403 (the fixtures)
from tests.core.api_fixtures import body
from tests.factories import notification_create, user_create

pytestmark = pytest.mark.django_db

Status = DailyNotification.Status
FIRST_DAY = datetime.date(2024, 1, 1)
FIELDS = [
    "id",
    "date",
    "category",
    "title",
    "message",
    "status",
    "attempts",
    "generated_by",
    "send_at",
    "expires_at",
    "delivered_at",
    "last_error",
]
STATUSES = list(Status.values)


def links(response) -> dict[str, str]:
    found = {}
    for part in filter(None, response.get("Link", "").split(", ")):
        url, rel = part.split("; ")
        found[rel.removeprefix('rel="').removesuffix('"')] = url.strip("<>")
    return found


def iso(value: datetime.datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def history(user, days: int) -> list[DailyNotification]:
    """``days`` rows for ``user`` from FIRST_DAY on, statuses in turn, inserted in one statement."""
    now = timezone.now()
    rows = [
        DailyNotification(
            user=user,
            date=FIRST_DAY + datetime.timedelta(days=day),
            category=DailyNotification.Category.values[day % 3],
            title=f"Title {day}",
            body=f"Body {day}",
            generated_by="offline",
            status=STATUSES[day % len(STATUSES)],
            send_at=now,
        )
        for day in range(days)
    ]
    return DailyNotification.objects.bulk_create(rows)


@pytest.fixture
def user():
    return user_create(user_id="42")


def test_each_row_equals_the_database_field_by_field(api_client, user):
    row = notification_create(
        user=user,
        status=Status.DELIVERED,
        attempts=2,
        generated_by="openai:gpt-4o-mini",
        send_at=timezone.now() - datetime.timedelta(hours=2),
        expires_at=timezone.now() + datetime.timedelta(hours=10),
        delivered_at=timezone.now(),
        last_error="HTTP 503",
    )
    row.refresh_from_db()

    response = api_client.get("/api/v1/users/42/notifications/")

    assert response.status_code == 200
    assert response["X-Total-Count"] == "1"
    (item,) = body(response)
    assert list(item) == FIELDS
    assert item == {
        "id": str(row.id),
        "date": row.date.isoformat(),
        "category": row.category,
        "title": row.title,
        "message": row.body,
        "status": row.status,
        "attempts": row.attempts,
        "generated_by": row.generated_by,
        "send_at": iso(row.send_at),
        "expires_at": iso(row.expires_at),
        "delivered_at": iso(row.delivered_at),
        "last_error": row.last_error,
    }


def test_newest_date_first_and_only_this_users_rows(api_client, user):
    history(user, 5)
    history(user_create(user_id="other"), 5)

    dates = [item["date"] for item in body(api_client.get("/api/v1/users/42/notifications/"))]

    assert dates == [(FIRST_DAY + datetime.timedelta(days=d)).isoformat() for d in range(4, -1, -1)]


@pytest.mark.parametrize(
    ("query", "expected_days"),
    [
        ({"status": "failed"}, [d for d in range(30) if STATUSES[d % 6] == "failed"]),
        ({"date_from": "2024-01-25"}, list(range(24, 30))),
        ({"date_to": "2024-01-03"}, [0, 1, 2]),
        ({"date_from": "2024-01-10", "date_to": "2024-01-12"}, [9, 10, 11]),
        ({"status": "pending", "date_from": "2024-01-10", "date_to": "2024-01-20"}, [12, 18]),
        ({"date_from": "2024-01-12", "date_to": "2024-01-12"}, [11]),
        ({"date_from": "2030-01-01"}, []),
    ],
)
def test_filters_by_status_and_inclusive_dates(api_client, user, query, expected_days):
    history(user, 30)

    response = api_client.get("/api/v1/users/42/notifications/", {**query, "page_size": "100"})

    assert response.status_code == 200
    expected = [(FIRST_DAY + datetime.timedelta(days=d)).isoformat() for d in expected_days]
    assert [item["date"] for item in body(response)] == expected[::-1]
    assert response["X-Total-Count"] == str(len(expected))


@pytest.mark.parametrize(
    ("query", "errors"),
    [
        ({"status": "lost"}, {"status": ['"lost" is not a valid choice.']}),
        (
            {"date_from": "2024-13-01"},
            {"date_from": ["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."]},
        ),
        (
            {"date_from": "2024-02-01", "date_to": "2024-01-01"},
            {"date_to": ["must not be before date_from"]},
        ),
        (
            {"cursor": "sideways:2024-01-01"},
            {"cursor": ["is not one this API wrote; follow the Link header"]},
        ),
        (
            {"cursor": "after:yesterday"},
            {"cursor": ["is not one this API wrote; follow the Link header"]},
        ),
        ({"page": "0"}, {"page": ["must be at least 1, got 0"]}),
    ],
)
def test_a_bad_filter_is_a_400_with_field_errors(api_client, user, query, errors):
    history(user, 3)

    response = api_client.get("/api/v1/users/42/notifications/", query)

    assert response.status_code == 400
    assert body(response) == errors


def test_an_unknown_user_is_a_404(api_client):
    response = api_client.get("/api/v1/users/nobody/notifications/")

    assert response.status_code == 404
    assert body(response) == {"detail": "user 'nobody' not found"}


@pytest.mark.parametrize("status", [None, "pending"])
def test_following_next_walks_1000_rows_in_order_exactly_once(api_client, user, status):
    history(user, 1000)
    rows = DailyNotification.objects.filter(user=user).order_by("-date")
    url = "/api/v1/users/42/notifications/?page_size=50&date_from=2024-01-01"
    if status:
        rows = rows.filter(status=status)
        url += f"&status={status}"
    expected = [row.date.isoformat() for row in rows]
    seen, pages = [], 0

    while url:
        response = api_client.get(url)
        assert response.status_code == 200
        assert response["X-Total-Count"] == str(len(expected))
        seen += [item["date"] for item in body(response)]
        pages += 1
        url = links(response).get("next")

    assert pages == -(-len(expected) // 50)
    assert seen == expected
    assert len(set(seen)) == len(seen)


def test_a_cursor_page_equals_the_same_page_by_number(api_client, user):
    history(user, 1000)
    by_number = api_client.get("/api/v1/users/42/notifications/", {"page": 7, "page_size": 20})
    previous = api_client.get("/api/v1/users/42/notifications/", {"page": 6, "page_size": 20})

    by_cursor = api_client.get(links(previous)["next"])

    assert body(by_cursor) == body(by_number)
    assert links(by_cursor) == links(by_number)
    assert parse_qs(urlsplit(links(by_cursor)["next"]).query) == {
        "page": ["8"],
        "page_size": ["20"],
        "cursor": [f"after:{body(by_number)[-1]['date']}"],
    }


def test_following_prev_walks_back_to_the_first_page(api_client, user):
    history(user, 1000)
    first = body(api_client.get("/api/v1/users/42/notifications/", {"page_size": 100}))
    last = api_client.get("/api/v1/users/42/notifications/", {"page": 10, "page_size": 100})
    url, pages = links(last)["prev"], []

    while url:
        response = api_client.get(url)
        pages.append(body(response))
        url = links(response).get("prev")

    assert len(pages) == 9
    assert pages[-1] == first
    assert "prev" not in links(response)


def test_a_cursor_seeks_by_the_index_without_an_offset(api_client, user):
    history(user, 1000)
    previous = api_client.get("/api/v1/users/42/notifications/", {"page": 999, "page_size": 1})
    assert links(previous)["next"].count("cursor=after")

    with CaptureQueriesContext(connection) as queries:
        response = api_client.get(links(previous)["next"])

    (page_query,) = [
        q["sql"] for q in queries if 'ORDER BY "outbox_dailynotification"."date" DESC' in q["sql"]
    ]
    assert "OFFSET" not in page_query
    assert '"outbox_dailynotification"."date" <' in page_query
    assert [item["date"] for item in body(response)] == [FIRST_DAY.isoformat()]
    assert "next" not in links(response)


def test_a_known_user_with_no_rows_has_an_empty_history(api_client, user):
    response = api_client.get("/api/v1/users/42/notifications/")

    assert (response.status_code, body(response), response["X-Total-Count"]) == (200, [], "0")


def test_a_short_last_page_gives_its_total_without_a_count(api_client, user):
    history(user, 120)

    with CaptureQueriesContext(connection) as queries:
        response = api_client.get("/api/v1/users/42/notifications/", {"page": 3, "page_size": 50})

    assert len(body(response)) == 20 and response["X-Total-Count"] == "120"
    assert not [q for q in queries if "COUNT(" in q["sql"]]
    full = api_client.get("/api/v1/users/42/notifications/", {"page": 2, "page_size": 50})
    assert full["X-Total-Count"] == "120"


def test_instants_are_written_in_utc_whatever_the_sites_zone(api_client, user, settings):
    settings.TIME_ZONE = "Asia/Kolkata"
    notification_create(
        user=user, send_at=datetime.datetime(2026, 11, 22, 2, 30, tzinfo=datetime.UTC)
    )

    (item,) = body(api_client.get("/api/v1/users/42/notifications/"))

    assert item["send_at"] == "2026-11-22T02:30:00Z"
