"""The wire format of one attempt: the JSON body and the headers, built here and nowhere else.

``PAYLOAD_FIELDS`` is the one definition of the body: each wire field with how a row
gives its value. Every transport sends what ``payload_body`` encodes, and the mock
endpoint refuses a body whose fields differ from these names.

Instants go on the wire as ISO 8601 in UTC with a ``Z`` (``in_utc``, ``ENCODING``), to the
second: a receiver in any language parses them without knowing our zone.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from operator import attrgetter
from typing import Any

import orjson

from delivery.transport.base import OutgoingNotification
from delivery.transport.signing import signature_headers

# How orjson writes the values it knows: a UUID in its canonical form, a date as
# YYYY-MM-DD, an aware instant in UTC as YYYY-MM-DDTHH:MM:SSZ (to the second). A body
# per attempt is built on the event loop, so its values go to orjson as they are,
# never formatted into text first.
ENCODING = orjson.OPT_UTC_Z | orjson.OPT_OMIT_MICROSECONDS

# The user object inside the body: wire name → the user's attribute.
USER_FIELDS: dict[str, Callable[[Any], Any]] = {
    "id": attrgetter("user_id"),
    "name": attrgetter("name"),
    "email": attrgetter("email"),
}


def in_utc(value: datetime.datetime | None) -> datetime.datetime | None:
    """An aware instant in UTC (which ``ENCODING`` writes with a ``Z``); None stays None."""
    return None if value is None else value.astimezone(datetime.UTC)


def _user_payload(notification: OutgoingNotification) -> dict[str, Any]:
    user = notification.user
    return {name: value(user) for name, value in USER_FIELDS.items()}


# The body: wire name → its value for a notification row (its user loaded), as
# ``ENCODING`` writes it.
PAYLOAD_FIELDS: dict[str, Callable[[OutgoingNotification], Any]] = {
    "id": attrgetter("id"),
    "date": attrgetter("date"),
    "category": attrgetter("category"),
    "title": attrgetter("title"),
    "message": attrgetter("body"),
    "generated_by": attrgetter("generated_by"),
    # The delivery window: the receiver may drop a message it gets after expires_at.
    "send_at": lambda notification: in_utc(notification.send_at),
    "expires_at": lambda notification: in_utc(notification.expires_at),
    "user": _user_payload,
}


def payload_body(notification: OutgoingNotification) -> bytes:
    """The exact bytes POSTed: compact JSON, non-ASCII text as UTF-8.

    ``orjson`` writes what ``json.dumps(…, ensure_ascii=False, separators=(",", ":"))``
    would of the same object in text, encoded, in a tenth of the time.
    """
    return orjson.dumps(
        {name: value(notification) for name, value in PAYLOAD_FIELDS.items()}, option=ENCODING
    )


def notification_payload(notification: OutgoingNotification) -> dict[str, Any]:
    """The JSON object sent for a notification, as a receiver decodes it (its ``user`` loaded)."""
    return orjson.loads(payload_body(notification))


def request_headers(*, notification_id: str, body: bytes, secret: str) -> dict[str, str]:
    """Headers of one attempt; the signature headers only when a secret is set."""
    headers = {"Content-Type": "application/json", "Idempotency-Key": notification_id}
    if secret:
        headers |= signature_headers(secret=secret, message_id=notification_id, body=body)
    return headers
