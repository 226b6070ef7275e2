"""Standard Webhooks signing: the key rules of a secret and the signature value."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from delivery.transport.signing import SigningSecretError, signing_key, webhook_signature


def test_a_whsec_secret_is_base64_decoded():
    assert signing_key("whsec_" + base64.b64encode(b"\x00\x01key").decode()) == b"\x00\x01key"


def test_another_secret_is_used_as_raw_bytes():
    assert signing_key("plain secret") == b"plain secret"


def test_the_signature_is_v1_base64_hmac_sha256_of_id_timestamp_body():
    expected = base64.b64encode(
        hmac.new(b"plain", b"msg_1.1700000000.{}", hashlib.sha256).digest()
    ).decode()

    assert (
        webhook_signature(secret="plain", message_id="msg_1", timestamp=1700000000, body=b"{}")
        == "v1," + expected
    )


def test_the_spec_example_verifies():
    # The example of the Standard Webhooks specification's reference libraries.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    signature = webhook_signature(
        secret=secret, message_id="msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp=1614265330, body=body
    )
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


@pytest.mark.parametrize("secret", ["whsec_abc", "whsec_", "whsec_not base64!", "whsec_YW=Jj"])
def test_a_whsec_secret_that_is_not_base64_is_refused(secret):
    with pytest.raises(SigningSecretError, match="whsec_"):
        signing_key(secret)
