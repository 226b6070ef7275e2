"""The wire body's bytes: compact JSON with non-ASCII text as UTF-8, whatever the text holds."""

from __future__ import annotations

import datetime
import json

from hypothesis import given
from hypothesis import strategies as st

from delivery.transport import notification_payload, payload_body
from tests.delivery.transport_contract import notification_build
from tests.factories import user_build

# What the database can hold: any character but a lone surrogate (PostgreSQL also
# refuses NUL, SQLite does not).
TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=200)


def standard_encoding(payload: dict) -> bytes:
    """The body as the standard library writes the wire format: the reference."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


@given(title=TEXT, body=TEXT, name=TEXT, email=TEXT)
def test_the_body_is_the_standard_compact_utf8_json(title, body, name, email):
    notification = notification_build(
        title=title, body=body, user=user_build(name=name, email=email)
    )

    sent = payload_body(notification)

    assert sent == standard_encoding(notification_payload(notification))
    assert json.loads(sent)["message"] == body


def test_control_characters_quotes_and_line_separators_are_escaped_as_the_standard_does():
    text = 'tab\t nl\n cr\r nul\x00 unit\x1f quote" backslash\\ del\x7f ls\u2028 é 😀'
    notification = notification_build(title=text, body=text)

    sent = payload_body(notification)

    assert sent == standard_encoding(notification_payload(notification))
    assert b"\\u0000" in sent and b"\\u001f" in sent and "😀".encode() in sent


def test_a_window_with_no_end_is_null():
    notification = notification_build(
        send_at=datetime.datetime(2026, 11, 22, 7, 30, 5, 123456, tzinfo=datetime.UTC),
        expires_at=None,
    )

    decoded = json.loads(payload_body(notification))

    assert (decoded["send_at"], decoded["expires_at"]) == ("2026-11-22T07:30:05Z", None)
