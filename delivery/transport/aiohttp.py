"""The default transport: ``aiohttp`` on one event loop, any number of attempts in flight.

One ``ClientSession`` per transport (so per worker) with a connection pool bounded
by the worker's concurrency; the loop runs on a thread of its own (see ``loop``),
so the worker's database work stays synchronous on the worker's thread.

Every attempt has a hard deadline on the whole exchange (connecting, sending,
the headers and the body read), ``timeout_seconds`` after it starts: an endpoint
that trickles its answer cannot hold the attempt (and its row's lease) longer.
Redirects are not followed and a body is read only up to the excerpt's bound.

This module is named after the library it wraps; its imports are absolute, so
``import aiohttp`` below is the library, never this module.
"""

from __future__ import annotations

import math
import ssl
import time
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import aiohttp
from django.utils import timezone
from yarl import URL

from delivery.transport.base import (
    RESPONSE_READ_BYTES,
    OutgoingNotification,
    SendResult,
    result_answered,
    result_unanswered,
)
from delivery.transport.loop import AsyncTransport, LoopThread
from delivery.transport.payload import payload_body, request_headers

if TYPE_CHECKING:
    from delivery.conf import DeliverySettings

# Connections kept per transport when the caller does not say how many attempts it
# runs at once (the contract tests, one-off sends).
DEFAULT_POOL_SIZE = 100
# How long a resolved address is reused: one lookup per this long, not one per attempt.
DNS_CACHE_SECONDS = 10
REDACTED = "***"


class AiohttpTransport(AsyncTransport):
    """POSTs to the configured URL with ``aiohttp``; ``send`` is safe from many threads at once."""

    def __init__(self, *, config: DeliverySettings, pool_size: int = DEFAULT_POOL_SIZE) -> None:
        self.url = URL(config.url)
        self.secret = config.signing_secret
        self.timeout = config.timeout_seconds
        self.pool_size = pool_size
        # What must never appear in an error: the URL's userinfo (a password or a token).
        parts = urlsplit(config.url)
        userinfo = parts.netloc.rpartition("@")[0]
        self.hidden = [text for text in (userinfo, parts.password, parts.username) if text]
        self._loop_thread = LoopThread(name="deliver-aiohttp")
        self.session = self._loop_thread.call(self._session_open())

    @property
    def loop_thread(self) -> LoopThread:
        return self._loop_thread

    async def _session_open(self) -> aiohttp.ClientSession:
        """The session, created on the loop it will run on."""
        connector = aiohttp.TCPConnector(
            limit=self.pool_size, limit_per_host=0, ttl_dns_cache=DNS_CACHE_SECONDS
        )
        return aiohttp.ClientSession(
            connector=connector,
            # The deadline of the whole attempt, from the connection to the body read
            # (released), to the instant: never rounded up to a whole second.
            timeout=aiohttp.ClientTimeout(total=self.timeout, ceil_threshold=math.inf),
            # Cookies an endpoint sets would otherwise pile up and go back on every POST.
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,
        )

    async def send_async(self, notification: OutgoingNotification) -> SendResult:
        body = payload_body(notification)
        headers = request_headers(
            notification_id=str(notification.id), body=body, secret=self.secret
        )
        started_at = timezone.now()
        started = time.perf_counter()
        try:
            # No redirects: a webhook that moved is a configuration to fix, and
            # following it would re-send the body to wherever it points.
            async with self.session.post(
                self.url, data=body, headers=headers, allow_redirects=False
            ) as response:
                raw = await excerpt_read(response.content, RESPONSE_READ_BYTES)
        # The session's deadline (aiohttp raises asyncio's own TimeoutError for it).
        except TimeoutError:
            return result_unanswered(
                notification,
                started_at=started_at,
                started=started,
                error=f"Timeout: no complete answer within {self.timeout:g}s",
            )
        # Network errors all: refused, unresolvable, TLS, a connection cut mid-body.
        except (aiohttp.ClientError, OSError) as error:
            return result_unanswered(
                notification,
                started_at=started_at,
                started=started,
                error=self.redact(f"{error_kind(error)}: {type(error).__name__}: {error}"),
            )
        return result_answered(
            notification,
            started_at=started_at,
            started=started,
            http_status=response.status,
            body=raw,
            retry_after=response.headers.get("Retry-After"),
            location=response.headers.get("Location"),
        )

    def redact(self, text: str) -> str:
        """``text`` without the URL's userinfo, wherever the client's message put it."""
        for hidden in self.hidden:
            text = text.replace(hidden, REDACTED)
        return text

    def close(self) -> None:
        if self._loop_thread.loop.is_closed():
            return
        self._loop_thread.call(self.session.close())
        self._loop_thread.close()


def error_kind(error: BaseException) -> str:
    """The failure's kind in the words the requests transport's errors start with.

    The attempt log then reads alike whichever client sent: ``SSLError``,
    ``ConnectionError`` (refused, unresolvable, reset, closed early) or
    ``ProtocolError`` (an answer that broke off or made no sense).
    """
    if isinstance(error, aiohttp.ClientSSLError | ssl.SSLError):
        return "SSLError"
    if isinstance(error, aiohttp.ClientConnectionError | OSError):
        return "ConnectionError"
    return "ProtocolError"


async def excerpt_read(content: aiohttp.StreamReader, limit: int) -> bytes:
    """At most ``limit`` bytes of a body; leaving the rest unread closes its connection."""
    chunks: list[bytes] = []
    size = 0
    # A body already in whole (the usual short answer) needs no further read to find its end.
    while size < limit and not content.at_eof():
        chunk = await content.read(limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)
