"""The delivery settings as one typed object, read from ``settings`` at call time.

Reading at call time (never at import) keeps ``override_settings`` working in tests
and lets one process pick up a changed setting between runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

from delivery.redact import url_redact
from delivery.transport.signing import SigningSecretError, signing_key

# An attempt may start up to 2 timeouts before its lease ends (it then ends a timeout
# before the lease does, which leaves the settle a timeout): a shorter lease leaves
# no room to send at all.
LEASE_TIMEOUTS = 3
# The HTTP clients a worker can send with (NOTIFICATIONS_TRANSPORT).
TRANSPORTS = ("aiohttp", "requests")


class DeliverySettingsError(Exception):
    """A delivery setting that cannot work (e.g. a URL that is not http or https)."""


def url_validate(url: str) -> None:
    """Raise DeliverySettingsError unless ``url`` is an http(s) URL with a host and a valid port.

    The message names the URL without its userinfo (it may hold a password).
    """
    try:
        parts = urlsplit(url)
        # .port raises ValueError for a port that is not a number or above 65535.
        parts.port  # noqa: B018
    except ValueError as error:
        raise DeliverySettingsError(
            f"NOTIFICATIONS_URL {url_redact(url)!r} is not a valid URL: {error}"
        ) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DeliverySettingsError(
            f"NOTIFICATIONS_URL must be an http:// or https:// URL, got {url_redact(url)!r}"
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class DeliverySettings:
    """What the worker, the transport and the retry policy need to know."""

    url: str
    signing_secret: str
    max_attempts: int
    backoff_seconds: float
    backoff_max_seconds: float
    lease_seconds: float
    timeout_seconds: float
    transport: str = TRANSPORTS[0]
    # Requests per second per worker process; None: no limit.
    max_rate: float | None = None
    breaker_failures: int = 20
    breaker_cooldown_seconds: float = 5.0

    @classmethod
    def from_settings(cls) -> DeliverySettings:
        """The current ``NOTIFICATIONS_*`` settings.

        Raises DeliverySettingsError on an unusable URL, a ``whsec_`` secret that is not
        base64, or a lease too short for the timeout.
        """
        url = settings.NOTIFICATIONS_URL
        url_validate(url)
        try:
            signing_key(settings.NOTIFICATIONS_SIGNING_SECRET)
        except SigningSecretError:
            raise DeliverySettingsError(
                "NOTIFICATIONS_SIGNING_SECRET starts with whsec_ but what follows is not "
                "a non-empty base64 key"
            ) from None
        lease = settings.NOTIFICATIONS_LEASE_SECONDS
        timeout = settings.NOTIFICATIONS_TIMEOUT_SECONDS
        if lease < LEASE_TIMEOUTS * timeout:
            raise DeliverySettingsError(
                f"NOTIFICATIONS_LEASE_SECONDS ({lease:g}) must be at least {LEASE_TIMEOUTS} "
                f"times NOTIFICATIONS_TIMEOUT_SECONDS ({timeout:g})"
            )
        transport = settings.NOTIFICATIONS_TRANSPORT
        if transport not in TRANSPORTS:
            raise DeliverySettingsError(
                f"NOTIFICATIONS_TRANSPORT must be one of {', '.join(TRANSPORTS)}, got {transport!r}"
            )
        return cls(
            url=url,
            signing_secret=settings.NOTIFICATIONS_SIGNING_SECRET,
            max_attempts=settings.NOTIFICATIONS_MAX_ATTEMPTS,
            backoff_seconds=settings.NOTIFICATIONS_BACKOFF_SECONDS,
            backoff_max_seconds=settings.NOTIFICATIONS_BACKOFF_MAX_SECONDS,
            lease_seconds=lease,
            timeout_seconds=timeout,
            transport=transport,
            max_rate=settings.NOTIFICATIONS_MAX_RATE or None,
            breaker_failures=settings.NOTIFICATIONS_BREAKER_FAILURES,
            breaker_cooldown_seconds=settings.NOTIFICATIONS_BREAKER_COOLDOWN_SECONDS,
        )
