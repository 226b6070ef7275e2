"""Fixtures for the API tests: keys (usable, revoked, expired), clients holding them, a staff client.

Import the fixtures a module needs by name (``from tests.core.api_fixtures import …``).
"""

from __future__ import annotations

import datetime
import json

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework_api_key.models import APIKey

from core.api.authentication import api_key_create


def key_client(key: str, **kwargs) -> Client:
    """A test client sending ``Authorization: Api-Key <key>`` on every request."""
    return Client(headers={"Authorization": f"Api-Key {key}"}, **kwargs)


@pytest.fixture
def api_key(db: None) -> tuple[APIKey, str]:
    """A usable key: its row and the key itself."""
    return api_key_create(name="health-app-backend")


@pytest.fixture
def api_client(api_key: tuple[APIKey, str]) -> Client:
    """A client holding a usable key."""
    return key_client(api_key[1])


@pytest.fixture
def revoked_key(db: None) -> str:
    row, key = api_key_create(name="revoked")
    row.revoked = True
    row.save()
    return key


@pytest.fixture
def expired_key(db: None) -> str:
    row, key = api_key_create(name="expired")
    APIKey.objects.filter(pk=row.pk).update(
        expiry_date=timezone.now() - datetime.timedelta(seconds=1)
    )
    return key


@pytest.fixture
def staff_client(db: None, django_user_model) -> Client:
    """A client with a staff session (the admin's login)."""
    staff = django_user_model.objects.create_user("operator", password="x", is_staff=True)
    client = Client()
    client.force_login(staff)
    return client


def body(response) -> object:
    """The response's JSON body, checking it is JSON."""
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    return json.loads(response.content)
