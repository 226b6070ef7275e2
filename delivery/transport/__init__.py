"""Transports: one notification row → one HTTP POST in the design's wire format.

``base`` is the interface and the result, ``payload`` the body and headers,
``signing`` the Standard Webhooks signature; ``aiohttp`` (the default, on the event
loop of ``loop``) and ``requests`` (a thread per attempt in flight) implement it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from delivery.transport.aiohttp import AiohttpTransport
from delivery.transport.base import (
    RESPONSE_EXCERPT_CHARS,
    RESPONSE_READ_BYTES,
    OutgoingNotification,
    SendResult,
    Transport,
)
from delivery.transport.loop import AsyncTransport, LoopThread
from delivery.transport.payload import (
    PAYLOAD_FIELDS,
    USER_FIELDS,
    notification_payload,
    payload_body,
    request_headers,
)
from delivery.transport.requests import RequestsTransport
from delivery.transport.signing import SigningSecretError, signing_key, webhook_signature

if TYPE_CHECKING:
    from delivery.conf import DeliverySettings


def transport_build(*, config: DeliverySettings, concurrency: int) -> Transport:
    """The transport ``config.transport`` names, sized for ``concurrency`` attempts at once."""
    if config.transport == "requests":
        return RequestsTransport(config=config)
    return AiohttpTransport(config=config, pool_size=concurrency)


__all__ = [
    "PAYLOAD_FIELDS",
    "RESPONSE_EXCERPT_CHARS",
    "RESPONSE_READ_BYTES",
    "USER_FIELDS",
    "AiohttpTransport",
    "AsyncTransport",
    "LoopThread",
    "OutgoingNotification",
    "RequestsTransport",
    "SendResult",
    "SigningSecretError",
    "Transport",
    "notification_payload",
    "payload_body",
    "request_headers",
    "signing_key",
    "transport_build",
    "webhook_signature",
]
