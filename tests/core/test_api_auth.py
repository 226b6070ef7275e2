"""Who may call the API: a key or a staff session on every endpoint; anyone else gets 401/403 JSON."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client, override_settings
from rest_framework_api_key.models import APIKey

from outbox.models import DailyNotification
from tests.core.api_fixtures import *  # noqa: F403 (the fixtures)
from tests.core.api_fixtures import body, key_client
from tests.factories import notification_create, user_create

pytestmark = pytest.mark.django_db

Status = DailyNotification.Status


@pytest.fixture
def notification() -> DailyNotification:
    return notification_create(user=user_create(user_id="1"), status=Status.PENDING)


# Every endpoint of /api/v1/, with a request a valid client may make.
ENDPOINTS = [
    ("get", "/api/v1/users/", None),
    ("get", "/api/v1/users/1/", None),
    ("get", "/api/v1/users/1/notifications/", None),
    ("get", "/api/v1/users/1/preferences/", None),
    (
        "put",
        "/api/v1/users/1/preferences/",
        {"notifications_enabled": True, "muted_categories": [], "send_time": None, "timezone": ""},
    ),
    ("patch", "/api/v1/users/1/preferences/", {"send_time": "07:30"}),
    ("get", "/api/v1/notifications/{id}/", None),
    ("post", "/api/v1/notifications/{id}/cancel/", None),
    ("post", "/api/v1/notifications/{id}/requeue/", None),
]
# The requeue of a pending row is refused on its merits, after authentication.
ALLOWED = {200, 409}


def call(client: Client, method: str, url: str, data, notification: DailyNotification):
    kwargs = {"content_type": "application/json"} if data is not None else {}
    return getattr(client, method)(url.format(id=notification.id), data, **kwargs)


@pytest.mark.parametrize(("method", "url", "data"), ENDPOINTS)
def test_anonymous_is_401_json_naming_the_scheme(notification, method, url, data):
    response = call(Client(), method, url, data, notification)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Api-Key"
    assert body(response) == {"detail": "Authentication credentials were not provided."}


@pytest.mark.parametrize(("method", "url", "data"), ENDPOINTS)
@pytest.mark.parametrize("key_kind", ["revoked", "expired", "unknown", "garbage"])
def test_a_key_that_is_not_usable_is_401_json(
    notification, revoked_key, expired_key, method, url, data, key_kind
):
    key = {
        "revoked": revoked_key,
        "expired": expired_key,
        "unknown": "AbCdEfGh.not-a-key-of-ours",
        "garbage": "x\x00y",
    }[key_kind]

    response = call(key_client(key), method, url, data, notification)

    assert response.status_code == 401
    assert body(response) == {"detail": "API key is unknown, revoked or expired."}


def test_a_revoked_or_expired_key_row_is_still_there_but_refused(revoked_key, expired_key):
    assert APIKey.objects.count() == 2
    for key in (revoked_key, expired_key):
        assert key_client(key).get("/api/v1/users/").status_code == 401


@pytest.mark.parametrize(("method", "url", "data"), ENDPOINTS)
def test_a_usable_key_is_let_in(notification, api_client, method, url, data):
    assert call(api_client, method, url, data, notification).status_code in ALLOWED


@pytest.mark.parametrize(("method", "url", "data"), ENDPOINTS)
def test_a_staff_session_is_let_in(notification, staff_client, method, url, data):
    assert call(staff_client, method, url, data, notification).status_code in ALLOWED


def test_a_session_that_is_not_staff_is_403_json(notification, django_user_model):
    client = Client()
    client.force_login(django_user_model.objects.create_user("visitor", password="x"))

    response = client.get("/api/v1/users/")

    assert response.status_code == 403
    assert body(response) == {"detail": "You do not have permission to perform this action."}


def test_a_staff_session_must_send_the_csrf_token_to_change_anything(
    notification, django_user_model
):
    staff = django_user_model.objects.create_user("operator", password="x", is_staff=True)
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff)

    response = client.post(f"/api/v1/notifications/{notification.id}/cancel/")

    assert response.status_code == 403
    assert body(response)["detail"].startswith("CSRF Failed")
    notification.refresh_from_db()
    assert notification.status == Status.PENDING


def test_the_legacy_lookup_is_open_in_development(notification):
    assert Client().get("/users/").status_code == 200
    assert Client().get("/users/1/").status_code == 200


@override_settings(API_DEVELOPMENT_OPEN=False)
@pytest.mark.parametrize("url", ["/users/", "/users/1/", "/api/schema/", "/api/docs/"])
def test_without_development_openness_the_legacy_lookup_and_the_docs_need_a_client(
    notification, api_client, staff_client, url
):
    response = Client().get(url)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Api-Key"
    expected = "Authentication credentials were not provided."
    assert body(response) == ({"detail": expected} if "/api/" in url else {"error": expected})
    assert api_client.get(url).status_code == 200
    assert staff_client.get(url).status_code == 200


def test_create_api_key_prints_the_key_alone_on_the_last_line(capsys):
    call_command("create_api_key", "health-app-backend")

    lines = capsys.readouterr().out.splitlines()
    key = lines[-1]
    row = APIKey.objects.get()
    assert row.name == "health-app-backend"
    assert key.startswith(f"{row.prefix}.") and " " not in key
    assert key not in row.hashed_key and row.hashed_key.startswith("sha512$$")
    assert key not in "\n".join(lines[:-1])
    assert key_client(key).get("/api/v1/users/").status_code == 200


def test_create_api_key_can_give_an_expiry(capsys):
    call_command("create_api_key", "short-lived", "--expires-in-days", "7")

    assert APIKey.objects.get().expiry_date is not None
    assert "expires" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("name", "error"),
    [("  ", "the key needs a name"), ("x" * 51, "the name must be at most 50 characters")],
)
def test_create_api_key_refuses_a_bad_name_in_one_line(name, error):
    with pytest.raises(CommandError, match=error):
        call_command("create_api_key", name)
    assert not APIKey.objects.exists()


def test_staff_can_browse_the_api_in_a_browser(notification, staff_client):
    response = staff_client.get("/api/v1/users/1/", headers={"Accept": "text/html"})

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert b"Django REST framework" in response.content
