"""The delivery settings as one typed object, read from ``settings`` at call time.

Reading at call time (never at import) keeps ``override_settings`` working in tests
and lets one process pick up a changed setting between runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings


class DeliveryConfigError(Exception):
    """A delivery setting that cannot work (e.g. a URL that is not http or https)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class DeliveryConfig:
    """What the worker, the transport and the retry policy need to know."""

    url: str
    signing_secret: str
    max_attempts: int
    backoff_seconds: float
    backoff_max_seconds: float
    lease_seconds: float
    timeout_seconds: float

    @classmethod
    def from_settings(cls) -> DeliveryConfig:
        """The current ``NOTIFICATIONS_*`` settings; raises DeliveryConfigError on an unusable URL."""
        url = settings.NOTIFICATIONS_URL
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise DeliveryConfigError(
                f"NOTIFICATIONS_URL must be an http:// or https:// URL, got {url!r}"
            )
        return cls(
            url=url,
            signing_secret=settings.NOTIFICATIONS_SIGNING_SECRET,
            max_attempts=settings.NOTIFICATIONS_MAX_ATTEMPTS,
            backoff_seconds=settings.NOTIFICATIONS_BACKOFF_SECONDS,
            backoff_max_seconds=settings.NOTIFICATIONS_BACKOFF_MAX_SECONDS,
            lease_seconds=settings.NOTIFICATIONS_LEASE_SECONDS,
            timeout_seconds=settings.NOTIFICATIONS_TIMEOUT_SECONDS,
        )
