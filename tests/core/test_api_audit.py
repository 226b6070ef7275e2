"""One audit line per API request: who, method, path, status, duration; never a key or a profile value."""

from __future__ import annotations

import datetime
import json
import logging
import re
from decimal import Decimal

import pytest
from django.test import Client

from tests.core.api_fixtures import *  # noqa: F403 (the fixtures)
from tests.core.api_fixtures import key_client
from tests.factories import user_create

pytestmark = pytest.mark.django_db

LINE = re.compile(
    r'action=core\.api_request client="(?P<client>[^"]*)" method=(?P<method>[A-Z]+) '
    r"path=(?P<path>\S+) status=(?P<status>\d{3}) duration_ms=(?P<duration>\d+(\.\d+)?)"
)


@pytest.fixture
def alice():
    return user_create(
        user_id="1",
        name="Alice Wonderland",
        email="alice.private@example.com",
        signup_date=datetime.date(2020, 2, 29),
        age=87,
        height_cm=Decimal("171.3"),
        weight_kg=Decimal("58.7"),
        activity_level="Sedentary",
        health_goals="Lower blood pressure",
        timezone="Pacific/Chatham",
    )


def audit_lines(caplog) -> list[dict[str, str]]:
    return [
        LINE.fullmatch(record.getMessage()).groupdict()
        for record in caplog.records
        if record.getMessage().startswith("action=core.api_request")
    ]


def test_each_request_has_one_line_naming_the_key(api_client, alice, caplog):
    caplog.set_level(logging.INFO, logger="core")

    api_client.get("/api/v1/users/", {"name": "Wonder"})
    api_client.get("/api/v1/users/1/")
    api_client.get("/api/v1/users/404/")

    lines = audit_lines(caplog)
    assert [(line["client"], line["method"], line["path"], line["status"]) for line in lines] == [
        ("key:health-app-backend", "GET", "/api/v1/users/", "200"),
        ("key:health-app-backend", "GET", "/api/v1/users/1/", "200"),
        ("key:health-app-backend", "GET", "/api/v1/users/404/", "404"),
    ]
    assert all(float(line["duration"]) >= 0 for line in lines)


def test_a_staff_session_anonymous_and_legacy_requests_are_lines_too(staff_client, caplog):
    caplog.set_level(logging.INFO, logger="core")

    staff_client.get("/api/v1/users/")
    Client().get("/api/v1/users/")
    Client().get("/users/")
    Client().get("/api/nowhere")
    Client().get("/healthz")

    assert [(line["client"], line["path"], line["status"]) for line in audit_lines(caplog)] == [
        ("staff:operator", "/api/v1/users/", "200"),
        ("anonymous", "/api/v1/users/", "401"),
        ("anonymous", "/users/", "200"),
        ("anonymous", "/api/nowhere", "404"),
    ]


def test_no_log_line_holds_a_key_or_a_profile_value(api_key, alice, caplog):
    caplog.set_level(logging.DEBUG)
    _, key = api_key
    client = key_client(key)
    wrong_key = key[:-4] + "abcd"

    client.get("/api/v1/users/", {"name": "Alice Wonderland"})
    client.get("/users/", {"id": "1"})
    client.get("/api/v1/users/1/")
    client.get("/api/v1/users/1/notifications/", {"status": "pending"})
    client.patch(
        "/api/v1/users/1/preferences/",
        json.dumps(
            {"muted_categories": ["insight"], "send_time": "05:55", "timezone": "Asia/Kathmandu"}
        ),
        content_type="application/json",
    )
    key_client(wrong_key).get("/api/v1/users/1/")

    text = "\n".join(record.getMessage() for record in caplog.records)
    assert len(audit_lines(caplog)) == 6
    secrets = [key, wrong_key, key.split(".", 1)[1]]
    profile = [
        "Alice",
        "Wonderland",
        "alice.private",
        "2020-02-29",
        "Sedentary",
        "blood pressure",
        "Pacific/Chatham",
        "Asia/Kathmandu",
        "05:55",
        "insight",
    ]
    # Numbers (age, height, weight) are left out: a duration could spell them by chance.
    leaked = [value for value in secrets + profile if value in text]
    assert leaked == []


def test_a_path_with_spaces_or_quotes_stays_one_token(api_client, caplog):
    caplog.set_level(logging.INFO, logger="core")

    api_client.get('/api/v1/users/a b"c/')

    (line,) = audit_lines(caplog)
    assert line["path"] == "/api/v1/users/a%20b%22c/"
