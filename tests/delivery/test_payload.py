"""The wire body's bytes: compact JSON with non-ASCII text as UTF-8, whatever the text holds.

The reference is the wire format written out here by hand: each value as text the
way the design spells it, encoded by the standard library.
"""

from __future__ import annotations

import datetime
import json
import zoneinfo

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


def wire_instant(value: datetime.datetime | None) -> str | None:
    return None if value is None else value.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def reference_payload(notification) -> dict:
    user = notification.user
    return {
        "id": str(notification.id),
        "date": notification.date.isoformat(),
        "category": notification.category,
        "title": notification.title,
        "message": notification.body,
        "generated_by": notification.generated_by,
        "send_at": wire_instant(notification.send_at),
        "expires_at": wire_instant(notification.expires_at),
        "user": {"id": user.user_id, "name": user.name, "email": user.email},
    }


@given(title=TEXT, body=TEXT, name=TEXT, email=TEXT)
def test_the_body_is_the_standard_compact_utf8_json(title, body, name, email):
    notification = notification_build(
        title=title, body=body, user=user_build(name=name, email=email)
    )

    sent = payload_body(notification)

    assert sent == standard_encoding(reference_payload(notification))
    assert notification_payload(notification) == reference_payload(notification)


def test_control_characters_quotes_and_line_separators_are_escaped_as_the_standard_does():
    text = 'tab\t nl\n cr\r nul\x00 unit\x1f quote" backslash\\ del\x7f ls\u2028 é 😀'
    notification = notification_build(title=text, body=text)

    sent = payload_body(notification)

    assert sent == standard_encoding(reference_payload(notification))
    assert b"\\u0000" in sent and b"\\u001f" in sent and "😀".encode() in sent


def test_a_window_with_no_end_is_null():
    notification = notification_build(
        send_at=datetime.datetime(2026, 11, 22, 7, 30, 5, 123456, tzinfo=datetime.UTC),
        expires_at=None,
    )

    decoded = json.loads(payload_body(notification))

    assert (decoded["send_at"], decoded["expires_at"]) == ("2026-11-22T07:30:05Z", None)


@given(
    instant=st.datetimes(
        min_value=datetime.datetime(1970, 1, 2),
        max_value=datetime.datetime(9998, 12, 30),
        timezones=st.sampled_from(
            [datetime.UTC, zoneinfo.ZoneInfo("Europe/Paris"), zoneinfo.ZoneInfo("Asia/Kolkata")]
        ),
    )
)
def test_an_instant_in_any_zone_goes_in_utc_to_the_second(instant):
    notification = notification_build(send_at=instant, expires_at=instant)

    decoded = json.loads(payload_body(notification))

    assert decoded["send_at"] == decoded["expires_at"] == wire_instant(instant)
