"""The transport interface: one notification in, one ``SendResult`` out, never an exception.

The worker only knows ``Transport``; an implementation owns its HTTP client and
connections. The helpers here shape a result the same way whatever the client, so
the attempt log reads alike for every implementation.
"""

from __future__ import annotations

import abc
import datetime
import time
import uuid
from typing import NamedTuple, Protocol

from delivery.redact import url_redact

# The attempt log keeps the start of what the endpoint answered, not all of it.
RESPONSE_EXCERPT_CHARS = 500
# Bytes read from a response body at most; a longer body closes its connection.
RESPONSE_READ_BYTES = 4 * RESPONSE_EXCERPT_CHARS
# PostgreSQL text cannot hold NUL: one in what the endpoint sent would fail the whole
# settle transaction, so it is stored as the replacement character instead.
NUL = "\x00"
NUL_REPLACEMENT = "\ufffd"
# How much of a redirect's note ("redirect to <Location>") the attempt keeps.
REDIRECT_NOTE_CHARS = 200


class SendResult(NamedTuple):
    """What one attempt produced: a status (None without a response) and why it did not deliver.

    ``error`` says what the status alone does not: why no answer came, or where a
    redirect pointed (redirects are never followed). A named tuple: one is made per
    attempt on the event loop, where a frozen dataclass cost twice as much.
    """

    notification_id: uuid.UUID
    started_at: datetime.datetime
    duration_ms: int
    http_status: int | None = None
    error: str = ""
    response_excerpt: str = ""
    retry_after: str | None = None


class OutgoingUser(Protocol):
    """The user fields the wire body names."""

    @property
    def user_id(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def email(self) -> str: ...


class OutgoingNotification(Protocol):
    """What a transport reads of a row to send it: the wire body's fields (``payload``).

    A claim hands over ``ClaimedNotification`` values; a one-off send and the
    contract tests, ``DailyNotification`` rows with their user loaded.
    """

    @property
    def id(self) -> uuid.UUID: ...

    @property
    def date(self) -> datetime.date: ...

    @property
    def category(self) -> str: ...

    @property
    def title(self) -> str: ...

    @property
    def body(self) -> str: ...

    @property
    def generated_by(self) -> str: ...

    @property
    def send_at(self) -> datetime.datetime: ...

    @property
    def expires_at(self) -> datetime.datetime | None: ...

    @property
    def user(self) -> OutgoingUser: ...


class Transport(abc.ABC):
    """Sends one notification and reports the outcome; never raises for an HTTP failure.

    The worker calls ``send`` from several threads at once, so an implementation
    must be thread-safe; ``close`` is called once, when the run ends.
    """

    @abc.abstractmethod
    def send(self, notification: OutgoingNotification) -> SendResult:
        """POST ``notification`` once (its ``user`` loaded), within the timeout."""

    def close(self) -> None:  # noqa: B027 (a transport with nothing to release keeps it)
        """Release connections; the default holds none."""


def storable_text(text: str) -> str:
    """Endpoint-controlled text made safe for a text column (no NUL characters)."""
    return text.replace(NUL, NUL_REPLACEMENT)


def elapsed_ms(started: float) -> int:
    """Whole milliseconds since a ``time.perf_counter()`` reading."""
    return round((time.perf_counter() - started) * 1000)


def result_answered(
    notification: OutgoingNotification,
    *,
    started_at: datetime.datetime,
    started: float,
    http_status: int,
    body: bytes,
    retry_after: str | None,
    location: str | None,
) -> SendResult:
    """The result of an attempt the endpoint answered (``body``: what was read of it).

    A redirect's ``Location`` becomes its error, without userinfo and bounded.
    """
    error = ""
    if 300 <= http_status <= 399 and location:
        error = f"redirect to {url_redact(storable_text(location))}"[:REDIRECT_NOTE_CHARS]
    return SendResult(
        notification_id=notification.id,
        started_at=started_at,
        duration_ms=elapsed_ms(started),
        http_status=http_status,
        error=error,
        response_excerpt=storable_text(body.decode("utf-8", "replace"))[:RESPONSE_EXCERPT_CHARS],
        retry_after=retry_after,
    )


def result_unanswered(
    notification: OutgoingNotification, *, started_at: datetime.datetime, started: float, error: str
) -> SendResult:
    """The result of an attempt that got no answer (a network error, a timeout)."""
    return SendResult(
        notification_id=notification.id,
        started_at=started_at,
        duration_ms=elapsed_ms(started),
        error=storable_text(error)[:RESPONSE_EXCERPT_CHARS],
    )
