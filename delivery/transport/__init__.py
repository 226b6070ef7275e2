"""Transports: one notification row → one HTTP POST in the design's wire format.

``base`` is the interface and the result, ``payload`` the body and headers,
``signing`` the Standard Webhooks signature, ``requests`` the default implementation.
"""

from __future__ import annotations

from delivery.transport.base import (
    RESPONSE_EXCERPT_CHARS,
    RESPONSE_READ_BYTES,
    SendResult,
    Transport,
)
from delivery.transport.payload import (
    PAYLOAD_FIELDS,
    USER_FIELDS,
    notification_payload,
    payload_body,
    request_headers,
)
from delivery.transport.requests import RequestsTransport
from delivery.transport.signing import SigningSecretError, signing_key, webhook_signature

__all__ = [
    "PAYLOAD_FIELDS",
    "RESPONSE_EXCERPT_CHARS",
    "RESPONSE_READ_BYTES",
    "USER_FIELDS",
    "RequestsTransport",
    "SendResult",
    "SigningSecretError",
    "Transport",
    "notification_payload",
    "payload_body",
    "request_headers",
    "signing_key",
    "webhook_signature",
]
