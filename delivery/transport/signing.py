"""Standard Webhooks signing: the one place a ``whsec_`` secret is decoded and a body signed.

The sender (every transport) and the mock endpoint's verifier both take the key from
``signing_key``, so the two can never disagree on what a secret means.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time

WHSEC_PREFIX = "whsec_"


class SigningSecretError(ValueError):
    """A ``whsec_`` secret whose key part is not non-empty base64."""


def signing_key(secret: str) -> bytes:
    """The HMAC key of a secret: base64-decoded after a ``whsec_`` prefix (as the spec), else raw bytes.

    Raises SigningSecretError when a ``whsec_`` secret is not valid base64 or is empty.
    """
    if not secret.startswith(WHSEC_PREFIX):
        return secret.encode()
    try:
        key = base64.b64decode(secret.removeprefix(WHSEC_PREFIX), validate=True)
    except binascii.Error:
        key = b""
    if not key:
        raise SigningSecretError("a whsec_ secret must be followed by a non-empty base64 key")
    return key


def webhook_signature(*, secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The Standard Webhooks ``webhook-signature`` value: ``v1,`` + base64 HMAC-SHA256."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(signing_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_headers(*, secret: str, message_id: str, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers signing ``body`` now."""
    timestamp = int(time.time())
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": webhook_signature(
            secret=secret, message_id=message_id, timestamp=timestamp, body=body
        ),
    }
