"""The mock endpoint over real HTTP: validation, signatures, duplicate counting, faults."""

from __future__ import annotations

import json
import time
import uuid

import pytest
import requests
from django.core.management import call_command
from django.core.management.base import CommandError

from delivery.transport import PAYLOAD_FIELDS, notification_payload, request_headers
from devtools.mock_endpoint import InvalidRequest, MockEndpointApp, body_validate
from tests.delivery.transport_contract import notification_build

SECRET = "whsec_c2VjcmV0LWJ5dGVzLWZvci10aGUtdGVzdHMtMTIzNDU2"


def valid_body(**overrides) -> dict:
    body = {
        "id": str(uuid.uuid4()),
        "date": "2026-11-22",
        "category": "tip",
        "title": "Drink water",
        "message": "A glass before each meal.",
        "generated_by": "offline",
        "send_at": "2026-11-22T08:00:00Z",
        "expires_at": "2026-11-22T21:00:00Z",
        "user": {"id": "1", "name": "Alice Smith", "email": "alice@example.com"},
    }
    body.update(overrides)
    return body


def post(url: str, body: dict, *, secret: str = "", key: str | None = None) -> requests.Response:
    raw = json.dumps(body).encode()
    headers = request_headers(notification_id=key or body.get("id", ""), body=raw, secret=secret)
    return requests.post(url, data=raw, headers=headers, timeout=5)


def test_a_valid_notification_is_accepted_and_recorded(endpoint):
    body = valid_body()

    assert post(endpoint.url, body).status_code == 200

    report = requests.get(endpoint.url, timeout=5).json()
    assert (report["count"], report["unique"], report["duplicates"]) == (1, 1, 0)
    assert report["received"][0]["body"] == body


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({k: v for k, v in valid_body().items() if k != "title"}, "missing ['title']"),
        (valid_body(extra=1), "unexpected ['extra']"),
        (valid_body(id="not-a-uuid"), "id is not a UUID"),
        (valid_body(date="22/11/2026"), "date"),
        (valid_body(category="spam"), "category"),
        (valid_body(category=["tip"]), "category"),
        (valid_body(category={"tip": 1}), "category"),
        (valid_body(category=None), "category"),
        (valid_body(message=""), "message"),
        (valid_body(send_at=None), "send_at must be an ISO 8601 UTC instant"),
        (valid_body(send_at="2026-11-22T08:00:00"), "send_at"),  # no zone
        (valid_body(send_at="2026-11-22T08:00:00+01:00"), "send_at"),  # not UTC
        (valid_body(send_at="2026-11-22 08:00Z"), "send_at"),
        (valid_body(send_at="tomorrow Z"), "send_at"),
        (valid_body(send_at=1764000000), "send_at"),
        (valid_body(expires_at="2026-11-22"), "expires_at must be an ISO 8601 UTC instant"),
        (valid_body(expires_at="2026-11-22T08:00:00Z"), "expires_at must be after send_at"),
        (valid_body(user={"id": "1", "name": "A"}), "user must be an object"),
        ([1, 2], "not a JSON object"),
    ],
)
def test_a_body_off_the_wire_format_is_refused_with_a_reason(endpoint, body, reason):
    raw = json.dumps(body).encode()
    response = requests.post(
        endpoint.url, data=raw, headers={"Idempotency-Key": str(uuid.uuid4())}, timeout=5
    )

    assert response.status_code == 400
    assert reason in response.json()["error"]


@pytest.mark.parametrize("name", list(PAYLOAD_FIELDS))
def test_every_field_the_sender_defines_is_required(name):
    # The mock reads its field list from delivery's payload module: one definition.
    body = notification_payload(notification_build())
    key = body["id"]
    del body[name]

    with pytest.raises(InvalidRequest, match=rf"missing \['{name}'\]"):
        body_validate(json.dumps(body).encode(), idempotency_key=key)


def test_what_the_sender_builds_is_valid():
    body = notification_payload(notification_build())

    assert body_validate(json.dumps(body).encode(), idempotency_key=body["id"]) == body


def test_what_the_sender_builds_without_expiry_is_valid():
    body = notification_payload(notification_build(expires_at=None))

    assert body["expires_at"] is None
    assert body_validate(json.dumps(body).encode(), idempotency_key=body["id"]) == body


def test_a_window_with_no_end_is_accepted(endpoint):
    assert post(endpoint.url, valid_body(expires_at=None)).status_code == 200


def test_idempotency_key_must_match_the_id(endpoint):
    response = post(endpoint.url, valid_body(), key=str(uuid.uuid4()))

    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["error"]


def test_a_correct_signature_is_accepted(endpoint):
    endpoint.app.secret = SECRET

    assert post(endpoint.url, valid_body(), secret=SECRET).status_code == 200


@pytest.mark.parametrize("secret", ["", "whsec_b3RoZXItc2VjcmV0", "plain-other"])
def test_a_missing_or_wrong_signature_is_refused(endpoint, secret):
    endpoint.app.secret = SECRET

    response = post(endpoint.url, valid_body(), secret=secret)

    assert response.status_code == 401


def test_an_old_timestamp_is_refused(endpoint, monkeypatch):
    endpoint.app.secret = SECRET
    monkeypatch.setattr(time, "time", lambda: 1_000_000_000.0)
    body = valid_body()
    raw = json.dumps(body).encode()
    headers = request_headers(notification_id=body["id"], body=raw, secret=SECRET)
    monkeypatch.undo()

    response = requests.post(endpoint.url, data=raw, headers=headers, timeout=5)

    assert response.status_code == 401
    assert "timestamp" in response.json()["error"]


def test_duplicates_are_counted_by_idempotency_key(endpoint):
    body = valid_body()
    post(endpoint.url, body)
    post(endpoint.url, body)
    post(endpoint.url, valid_body())

    report = requests.get(endpoint.url, params={"summary": 1}, timeout=5).json()

    assert report == {"count": 3, "accepted": 3, "unique": 2, "duplicates": 1}


def test_a_refused_attempt_is_not_a_duplicate(endpoint):
    endpoint.app.faults.status = 503
    body = valid_body()
    post(endpoint.url, body)
    endpoint.app.faults.status = None
    post(endpoint.url, body)

    report = requests.get(endpoint.url, params={"summary": 1}, timeout=5).json()

    assert report == {"count": 2, "accepted": 1, "unique": 1, "duplicates": 0}


def test_delete_resets(endpoint):
    post(endpoint.url, valid_body())

    requests.delete(endpoint.url, timeout=5)

    assert requests.get(endpoint.url, timeout=5).json()["count"] == 0


def test_fixed_status_with_retry_after(endpoint):
    endpoint.app.faults.status = 429
    endpoint.app.faults.retry_after = "7"

    response = post(endpoint.url, valid_body())

    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"


def test_fail_rate_answers_503_for_about_that_fraction(endpoint):
    endpoint.app.faults.fail_rate = 0.5
    with requests.Session() as session:
        statuses = [
            session.post(
                endpoint.url,
                data=json.dumps(body := valid_body()),
                headers={"Idempotency-Key": body["id"]},
                timeout=5,
            ).status_code
            for _ in range(200)
        ]

    assert 60 < statuses.count(503) < 140
    assert set(statuses) == {200, 503}


def test_latency_is_added(endpoint):
    endpoint.app.faults.latency_ms = 200
    started = time.monotonic()

    post(endpoint.url, valid_body())

    assert time.monotonic() - started >= 0.2


def test_unknown_path_is_404(endpoint):
    assert (
        requests.get(endpoint.url.replace("/notifications", "/other"), timeout=5).status_code == 404
    )


@pytest.mark.slow
def test_the_command_serves_on_the_port_it_announces(manage_py):
    process = manage_py("mock_endpoint", "--port", "0", "--status", "202")
    line = process.stdout.readline()
    url = line.split()[-1]
    try:
        body = valid_body()
        assert post(url, body).status_code == 202
    finally:
        process.terminate()
        process.wait(10)


@pytest.mark.slow
def test_the_command_refuses_a_secret_that_is_not_base64(manage_py):
    # A real process: were the secret accepted, it would serve (and answer 500) for ever.
    process = manage_py("mock_endpoint", "--port", "0", "--secret", "whsec_abc")
    _out, err = process.communicate(timeout=20)

    assert process.returncode != 0
    assert "--secret" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("port", ["70000", "65536", "-1", "http"])
def test_the_command_refuses_a_port_out_of_range(port):
    with pytest.raises(CommandError, match="--port"):
        call_command("mock_endpoint", "--port", port)


def test_the_app_refuses_a_secret_that_is_not_base64():
    with pytest.raises(ValueError, match="whsec_"):
        MockEndpointApp(secret="whsec_abc")
