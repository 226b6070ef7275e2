"""Errors under /api/ and on the legacy lookup are JSON, with DEBUG on or off: no page, no traceback."""

from __future__ import annotations

import pytest
from django.test import Client

from core.api.authentication import api_key_create
from outbox.models import DailyNotification
from tests.core.api_fixtures import *  # noqa: F403 (the fixtures)
from tests.core.api_fixtures import key_client
from tests.factories import notification_create, user_create

pytestmark = pytest.mark.django_db

BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


@pytest.fixture(params=[False, True], ids=["debug-off", "debug-on"])
def debug(request, settings) -> bool:
    settings.DEBUG = request.param
    return request.param


@pytest.fixture(params=[{}, BROWSER], ids=["api-client", "browser"])
def accept(request) -> dict:
    return request.param


@pytest.fixture
def user():
    return user_create(user_id="1")


def assert_json_error(response, status: int, expected: dict) -> None:
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    assert response.json() == expected
    assert b"Traceback" not in response.content and b"<html" not in response.content.lower()


def non_staff_client(django_user_model) -> Client:
    client = Client()
    client.force_login(django_user_model.objects.create_user("visitor", password="x"))
    return client


def test_400(debug, accept, api_client, user):
    response = api_client.get("/api/v1/users/", {"page": "x"}, headers=accept)
    assert_json_error(response, 400, {"page": ["must be a whole number, got 'x'"]})

    response = api_client.get("/users/", {"page": "x"}, headers=accept)
    assert_json_error(response, 400, {"error": "page must be a whole number, got 'x'"})


def test_401(debug, accept, settings, user):
    message = "Authentication credentials were not provided."
    response = Client().get("/api/v1/users/", headers=accept)
    assert_json_error(response, 401, {"detail": message})
    assert response["WWW-Authenticate"] == "Api-Key"

    settings.API_DEVELOPMENT_OPEN = False
    response = Client().get("/users/", headers=accept)
    assert_json_error(response, 401, {"error": message})
    assert response["WWW-Authenticate"] == "Api-Key"


def test_403(debug, accept, settings, user, django_user_model):
    message = "You do not have permission to perform this action."
    client = non_staff_client(django_user_model)
    assert_json_error(client.get("/api/v1/users/", headers=accept), 403, {"detail": message})

    settings.API_DEVELOPMENT_OPEN = False
    assert_json_error(client.get("/users/1/", headers=accept), 403, {"error": message})


def test_404(debug, accept, api_client, user):
    response = api_client.get("/api/v1/users/42/", headers=accept)
    assert_json_error(response, 404, {"detail": "user '42' not found"})

    response = api_client.get("/users/42/", headers=accept)
    assert_json_error(response, 404, {"error": "user '42' not found"})


@pytest.mark.parametrize("url", ["/api/v1/nothing-here/", "/api/", "/api/v2/users/"])
def test_404_for_a_url_no_view_answers(debug, accept, url):
    response = Client().get(url, headers=accept)

    assert_json_error(response, 404, {"detail": "Not Found"})


def test_405(debug, accept, api_client, user):
    response = api_client.delete("/api/v1/users/", headers=accept)
    assert_json_error(response, 405, {"detail": 'Method "DELETE" not allowed.'})
    assert response["Allow"] == "GET, HEAD, OPTIONS"

    response = api_client.post("/users/1/", headers=accept)
    assert_json_error(response, 405, {"error": 'Method "POST" not allowed.'})


def test_409(debug, accept, api_client):
    row = notification_create(status=DailyNotification.Status.DELIVERED)

    response = api_client.post(f"/api/v1/notifications/{row.id}/cancel/", headers=accept)

    assert_json_error(
        response,
        409,
        {
            "detail": "cannot cancel a delivered notification: only a pending one",
            "status": "delivered",
        },
    )


def test_429_with_retry_after(debug, accept, settings, api_key, user):
    settings.API_THROTTLE_RATE = "2/minute"
    client = key_client(api_key[1])
    assert [client.get("/api/v1/users/").status_code for _ in range(2)] == [200, 200]

    response = client.get("/api/v1/users/", headers=accept)

    assert_json_error(
        response, 429, {"detail": "Request was throttled. Expected available in 60 seconds."}
    )
    assert 1 <= int(response["Retry-After"]) <= 60
    legacy = client.get("/users/", headers=accept)
    assert legacy.status_code == 429 and legacy.json()["error"].startswith("Request was throttled")


def test_the_throttle_counts_each_key_apart(settings, api_key, user):
    settings.API_THROTTLE_RATE = "1/minute"
    first, second = key_client(api_key[1]), key_client(api_key_create(name="other")[1])

    assert first.get("/api/v1/users/").status_code == 200
    assert first.get("/api/v1/users/").status_code == 429
    assert second.get("/api/v1/users/").status_code == 200


def test_the_default_rate_lets_a_burst_of_a_hundred_through_then_says_when(api_client, user):
    statuses = [api_client.get("/api/v1/users/1/").status_code for _ in range(101)]

    # 100 per second: the 101st within the same second is refused (a slow run may cross a second).
    assert statuses[:100] == [200] * 100
    assert statuses[100] in (200, 429)


def test_500(debug, accept, api_client, user, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("a bug with a secret in its message")

    monkeypatch.setattr("accounts.api.user_list", broken)
    api_client.raise_request_exception = False

    response = api_client.get("/api/v1/users/", headers=accept)
    assert_json_error(response, 500, {"detail": "Internal Server Error"})
    assert b"secret" not in response.content

    response = api_client.get("/users/", headers=accept)
    assert_json_error(response, 500, {"error": "Internal Server Error"})
    assert b"secret" not in response.content


def test_other_pages_keep_their_html(debug):
    response = Client().get("/admin/login/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
