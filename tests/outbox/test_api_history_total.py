"""The history's X-Total-Count: counted once per user and filters, reused for API_COUNT_CACHE_SECONDS."""

from __future__ import annotations

import datetime
import time

import pytest
from django.conf import settings
from django.core.cache import caches
from django.db import connection
from django.test.utils import CaptureQueriesContext

from outbox.models import DailyNotification
from tests.core.api_fixtures import *  # noqa: F403 (the fixtures)
from tests.core.api_fixtures import body
from tests.factories import notification_create, user_create
from tests.outbox.test_api_history import FIRST_DAY, history, links

pytestmark = pytest.mark.django_db

URL = "/api/v1/users/42/notifications/"
Status = DailyNotification.Status


@pytest.fixture
def user():
    return user_create(user_id="42")


@pytest.fixture
def ttl(settings) -> int:
    settings.API_COUNT_CACHE_SECONDS = 60
    return 60


def counts(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries if "COUNT(" in q["sql"]]


def total(api_client, **params) -> str:
    response = api_client.get(URL, {"page_size": 2, **params})
    assert response.status_code == 200, response.content
    return response["X-Total-Count"]


def add_day(user, days_before_first: int = 1) -> None:
    notification_create(user=user, date=FIRST_DAY - datetime.timedelta(days=days_before_first))


def test_the_first_request_counts_the_total(api_client, user, ttl):
    history(user, 5)

    with CaptureQueriesContext(connection) as queries:
        assert total(api_client) == "5"

    assert len(counts(queries)) == 1


def test_a_row_added_within_the_ttl_is_counted_only_after_it(api_client, user, settings):
    settings.API_COUNT_CACHE_SECONDS = 1
    history(user, 5)
    assert total(api_client) == "5"

    add_day(user)
    assert total(api_client) == "5"
    time.sleep(1.1)

    assert total(api_client) == "6"


def test_a_ttl_of_zero_counts_every_request(api_client, user, settings):
    settings.API_COUNT_CACHE_SECONDS = 0
    history(user, 5)
    assert total(api_client) == "5"
    add_day(user)

    with CaptureQueriesContext(connection) as queries:
        assert total(api_client) == "6"

    assert len(counts(queries)) == 1


def test_each_user_and_filter_has_its_own_total(api_client, user, ttl):
    history(user, 30)
    other = user_create(user_id="7")
    history(other, 3)

    assert total(api_client) == "30"
    assert total(api_client, status=Status.PENDING) == "5"
    assert total(api_client, status=Status.FAILED) == "5"
    assert total(api_client, date_from="2024-01-05") == "26"
    assert total(api_client, date_to="2024-01-05") == "5"
    assert total(api_client, date_from="2024-01-03", date_to="2024-01-10") == "8"
    assert (
        api_client.get("/api/v1/users/7/notifications/", {"page_size": 2})["X-Total-Count"] == "3"
    )


def test_the_same_filters_in_another_order_or_spelling_share_one_count(api_client, user, ttl):
    history(user, 30)
    assert total(api_client, status="pending", date_from="2024-01-01") == "5"
    add_day(user, 7)

    with CaptureQueriesContext(connection) as queries:
        response = api_client.get(f"{URL}?page_size=3&date_from=2024-1-1&status=pending&page=1")

    assert response["X-Total-Count"] == "5"
    assert not counts(queries)


@pytest.mark.parametrize("follow", ["link", "page number"])
def test_page_2_reuses_page_1s_count(api_client, user, ttl, django_assert_num_queries, follow):
    history(user, 30)
    with CaptureQueriesContext(connection) as queries:
        first = api_client.get(URL, {"page_size": 2, "status": Status.PENDING, "page": 1})
    assert len(counts(queries)) == 1
    url = links(first)["next"] if follow == "link" else f"{URL}?page_size=2&status=pending&page=2"

    with django_assert_num_queries(len(queries) - 1):
        second = api_client.get(url)

    assert first["X-Total-Count"] == second["X-Total-Count"] == "5"
    assert len(body(second)) == 2


def test_a_lagging_total_never_hides_a_page(api_client, user, ttl):
    history(user, 6)
    first = api_client.get(URL, {"page_size": 2})
    assert first["X-Total-Count"] == "6"
    add_day(user, 1)
    add_day(user, 2)

    second = api_client.get(links(first)["next"])
    third = api_client.get(links(second)["next"])
    fourth = api_client.get(links(third)["next"])

    assert second["X-Total-Count"] == "6"
    # Page 3 shows a row after the sixth: the cached total is contradicted and counted again.
    assert third["X-Total-Count"] == "8"
    assert [item["date"] for item in body(fourth)] == ["2023-12-31", "2023-12-30"]
    assert "next" not in links(fourth)


def test_a_last_page_by_number_gives_its_exact_total_over_a_cached_one(api_client, user, ttl):
    history(user, 4)
    assert total(api_client) == "4"
    add_day(user)

    assert total(api_client, page=3) == "5"
    beyond = api_client.get(URL, {"page_size": 2, "page": 4})
    assert beyond.status_code == 400


def test_the_users_list_counts_every_request(api_client, ttl):
    for user_id in ("1", "2", "3"):
        user_create(user_id=user_id)
    assert api_client.get("/api/v1/users/", {"page_size": 1})["X-Total-Count"] == "3"

    user_create(user_id="4")

    assert api_client.get("/api/v1/users/", {"page_size": 1})["X-Total-Count"] == "4"


def test_the_totals_have_a_cache_of_their_own_beside_the_throttles(api_client, user, ttl):
    history(user, 6)
    assert total(api_client) == "6"
    add_day(user)

    caches["default"].clear()
    assert total(api_client, page=2) == "6"
    caches[settings.API_COUNT_CACHE].clear()

    assert total(api_client, page=2) == "7"
