"""The OpenAPI document validates and lists every endpoint; the docs page loads its assets from the project."""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

import pytest
import requests
from django.core.management import call_command
from openapi_spec_validator import validate

from tests.core.api_fixtures import *  # noqa: F403 (the fixtures)
from tests.factories import user_create

EVERY_ENDPOINT = {
    ("/api/v1/users/", "get"),
    ("/api/v1/users/{user_id}/", "get"),
    ("/api/v1/users/{user_id}/notifications/", "get"),
    ("/api/v1/users/{user_id}/preferences/", "get"),
    ("/api/v1/users/{user_id}/preferences/", "put"),
    ("/api/v1/users/{user_id}/preferences/", "patch"),
    ("/api/v1/notifications/{notification_id}/", "get"),
    ("/api/v1/notifications/{notification_id}/cancel/", "post"),
    ("/api/v1/notifications/{notification_id}/requeue/", "post"),
}


@pytest.fixture
def document(api_client) -> dict:
    response = api_client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


@pytest.mark.django_db
def test_the_document_is_valid_openapi_3(document):
    assert document["openapi"].startswith("3.")
    validate(document)


@pytest.mark.django_db
def test_the_document_lists_every_endpoint_and_nothing_else(document):
    listed = {
        (path, method)
        for path, operations in document["paths"].items()
        for method in operations
        if method in {"get", "put", "patch", "post", "delete"}
    }
    assert listed == EVERY_ENDPOINT


@pytest.mark.django_db
def test_every_operation_asks_for_a_key_or_a_session(document):
    assert document["components"]["securitySchemes"]["ApiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "`Api-Key <key>`; create a key with `manage.py create_api_key NAME`.",
    }
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert {"ApiKey": []} in operation["security"], (path, method)


@pytest.mark.django_db
def test_the_history_documents_its_filters_pages_and_headers(document):
    operation = document["paths"]["/api/v1/users/{user_id}/notifications/"]["get"]
    names = {parameter["name"] for parameter in operation["parameters"]}
    assert {"status", "date_from", "date_to", "page", "page_size", "cursor"} <= names
    ok = operation["responses"]["200"]
    assert ok["content"]["application/json"]["schema"]["type"] == "array"
    assert set(ok["headers"]) == {"Link", "X-Total-Count"}


@pytest.mark.django_db
def test_the_schema_generates_without_a_warning(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "s.yaml"))


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_docs_page_loads_every_asset_from_the_project(live_server):
    page = requests.get(f"{live_server.url}/api/docs/", timeout=10)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")

    assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css|png))"', page.text)
    assert any(asset.endswith("swagger-ui-bundle.js") for asset in assets), assets
    assert any(asset.endswith("swagger-ui.css") for asset in assets), assets
    for asset in assets:
        url = urljoin(page.url, asset)
        assert urlsplit(url).netloc == urlsplit(live_server.url).netloc, f"not local: {asset}"
        loaded = requests.get(url, timeout=10)
        assert loaded.status_code == 200, asset
        assert loaded.content
    assert "/api/schema/" in page.text
    assert requests.get(f"{live_server.url}/api/schema/", timeout=10).status_code == 200


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_api_over_real_http(live_server, api_key):
    user_create(user_id="1", name="Alice Smith")
    headers = {"Authorization": f"Api-Key {api_key[1]}"}

    anonymous = requests.get(f"{live_server.url}/api/v1/users/", timeout=10)
    users = requests.get(f"{live_server.url}/api/v1/users/", headers=headers, timeout=10)
    one = requests.get(f"{live_server.url}/api/v1/users/1/", headers=headers, timeout=10)

    assert (anonymous.status_code, anonymous.headers["WWW-Authenticate"]) == (401, "Api-Key")
    assert anonymous.json() == {"detail": "Authentication credentials were not provided."}
    assert (users.status_code, users.headers["X-Total-Count"]) == (200, "1")
    assert [row["name"] for row in users.json()] == ["Alice Smith"]
    assert one.json()["preferences"]["notifications_enabled"] is True
