"""The retry policy: what one HTTP attempt's outcome means for its notification.

Side-effect free and deterministic given its random source, so a table of cases
tests it completely. The worker applies the decision; this module only decides.

``Retry-After`` may lengthen a delay, never shorten it: the delay is the longer of
the policy's backoff for that attempt and what the endpoint asked (capped like the
backoff). An endpoint answering ``Retry-After: 0`` would otherwise get a row's whole
retry budget in a second.

A retry that would fall at or after the row's ``expires_at`` is no retry at all: the
window closes before it, so the row expires now (a message is never sent late).
"""

from __future__ import annotations

import datetime
import enum
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

from delivery.conf import DeliverySettings

# 408 Request Timeout, 425 Too Early, 429 Too Many Requests: the receiver asks us to
# come back; every 5xx is the receiver's own trouble. Any other status is final.
RETRYABLE_STATUSES = frozenset({408, 425, 429})

# Each delay is shortened by up to this fraction at random, so rows that failed
# together (an endpoint outage) do not all come back in the same second.
JITTER_FRACTION = 0.2


class Outcome(enum.StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    FAILED = "failed"
    # The next attempt would fall at or after the delivery window's end.
    EXPIRED = "expired"


@dataclass(frozen=True, kw_only=True, slots=True)
class Decision:
    """The verdict on one attempt: delivered, retry at ``next_attempt_at``, failed or expired."""

    outcome: Outcome
    next_attempt_at: datetime.datetime | None = None


# The verdict on every answered attempt: one value shared by all of them.
DELIVERED = Decision(outcome=Outcome.DELIVERED)


def status_is_retryable(http_status: int | None) -> bool:
    """Whether an attempt that ended with this status (None: no response) may be repeated."""
    return http_status is None or http_status in RETRYABLE_STATUSES or 500 <= http_status <= 599


def retry_after_seconds(value: str | None, *, now: datetime.datetime) -> float | None:
    """A ``Retry-After`` header (delay in seconds or an HTTP-date) as seconds from now, or None."""
    if not value:
        return None
    value = value.strip()
    # str.isdigit() also accepts "²" or "٣" (a header decoded as Latin-1 can hold
    # them), which float() refuses: only ASCII digits are a delay.
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    # Anything unreadable counts as no header at all: the policy's own backoff applies.
    except (TypeError, ValueError, OverflowError, IndexError):
        return None
    if when.tzinfo is None:
        # RFC 9110 dates are in GMT; a date without a zone is read as such.
        when = when.replace(tzinfo=datetime.UTC)
    return max(0.0, (when - now).total_seconds())


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """Exponential backoff from ``backoff_seconds``, doubling per attempt, capped, jittered.

    ``random`` returns a float in [0, 1); inject a constant in tests.
    """

    max_attempts: int
    backoff_seconds: float
    backoff_max_seconds: float
    random: Callable[[], float] = field(default=random.random)

    def backoff_delay(self, *, attempts: int) -> float:
        """Seconds to wait after the ``attempts``-th failed attempt, jitter included."""
        # The exponent is bounded so a huge attempt count cannot overflow the float.
        delay = self.backoff_seconds * 2.0 ** min(max(attempts - 1, 0), 62)
        delay = min(delay, self.backoff_max_seconds)
        return delay * (1.0 - JITTER_FRACTION * self.random())

    def decide(
        self,
        *,
        attempts: int,
        http_status: int | None,
        retry_after: str | None = None,
        now: datetime.datetime,
        expires_at: datetime.datetime | None = None,
    ) -> Decision:
        """The decision after attempt number ``attempts`` (1 for the first) ended with ``http_status``.

        ``http_status`` is None when no response came (timeout, connection error).
        ``expires_at`` is the end of the row's delivery window (None: it never closes);
        a retry that would fall at or after it is ``EXPIRED`` instead.
        """
        if http_status is not None and 200 <= http_status <= 299:
            return DELIVERED
        if not status_is_retryable(http_status) or attempts >= self.max_attempts:
            return Decision(outcome=Outcome.FAILED)
        delay = self.backoff_delay(attempts=attempts)
        asked = retry_after_seconds(retry_after, now=now)
        if asked is not None:
            # The receiver may ask for longer (no jitter, never past our own cap), not shorter.
            delay = max(delay, min(asked, self.backoff_max_seconds))
        next_attempt_at = now + datetime.timedelta(seconds=delay)
        if expires_at is not None and next_attempt_at >= expires_at:
            return Decision(outcome=Outcome.EXPIRED)
        return Decision(outcome=Outcome.RETRY, next_attempt_at=next_attempt_at)

    @classmethod
    def from_config(cls, config: DeliverySettings) -> RetryPolicy:
        """The policy for a ``DeliverySettings``."""
        return cls(
            max_attempts=config.max_attempts,
            backoff_seconds=config.backoff_seconds,
            backoff_max_seconds=config.backoff_max_seconds,
        )
