"""The default transport: ``requests`` with a hard deadline on every attempt.

Each sending thread keeps its own ``requests.Session`` so connections are reused
without sessions being shared across threads.

The requests timeout bounds each socket operation, not the attempt: an endpoint
that trickles its answer a byte at a time could hold an attempt (and its row's
lease) for ever. So every attempt also has a hard deadline, ``timeout_seconds``
after it starts: one watchdog thread per transport shuts the attempt's socket
down when it passes, which ends whatever read is blocked on it.

This module is named after the library it wraps; its imports are absolute, so
``import requests`` below is the library, never this module.
"""

from __future__ import annotations

import contextlib
import datetime
import heapq
import itertools
import socket
import threading
import time
from typing import TYPE_CHECKING, Any

import requests
import urllib3
from django.utils import timezone
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from delivery.transport.base import (
    RESPONSE_READ_BYTES,
    OutgoingNotification,
    SendResult,
    Transport,
    result_answered,
    result_unanswered,
)
from delivery.transport.payload import payload_body, request_headers

if TYPE_CHECKING:
    from delivery.conf import DeliverySettings


class AttemptDeadline:
    """The moment one attempt must be over by, and the connection to cut if it is not."""

    __slots__ = ("at", "connection", "expired", "finished", "lock")

    def __init__(self, at: float) -> None:
        self.at = at
        self.lock = threading.Lock()
        self.connection: HTTPConnection | None = None
        self.expired = False
        self.finished = False

    def attach(self, connection: HTTPConnection) -> None:
        """The connection this attempt uses (cut at once if the deadline already passed)."""
        with self.lock:
            self.connection = connection
            if self.expired:
                connection_cut(connection)

    def expire(self) -> None:
        """Called by the watchdog at ``at``: cut the connection unless the attempt is over."""
        with self.lock:
            if not self.finished:
                self.expired = True
                if self.connection is not None:
                    connection_cut(self.connection)

    def finish(self) -> bool:
        """The attempt is over; returns whether its deadline had passed first."""
        with self.lock:
            self.finished = True
            return self.expired


def connection_cut(connection: HTTPConnection) -> None:
    """Shut a connection's socket down: a read blocked on it returns at once."""
    sock = getattr(connection, "sock", None)
    if sock is not None:
        # An OSError means it is already closed: nothing left to interrupt.
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


# The deadline of the attempt running on this thread, for the connection to find.
current_attempt = threading.local()


def current_deadline_attach(connection: HTTPConnection) -> None:
    deadline = getattr(current_attempt, "deadline", None)
    if deadline is not None:
        deadline.attach(connection)


class DeadlineAware:
    """Mixed into a urllib3 connection: tells the current attempt's deadline which socket it uses."""

    def connect(self) -> None:
        super().connect()
        current_deadline_attach(self)

    def request(self, *args: Any, **kwargs: Any) -> None:
        current_deadline_attach(self)
        super().request(*args, **kwargs)


class DeadlineHTTPConnection(DeadlineAware, HTTPConnection):
    """An HTTP connection whose attempt can be cut at its deadline."""


class DeadlineHTTPSConnection(DeadlineAware, HTTPSConnection):
    """The HTTPS counterpart of ``DeadlineHTTPConnection``."""


class DeadlineHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = DeadlineHTTPConnection


class DeadlineHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = DeadlineHTTPSConnection


class DeadlineAdapter(HTTPAdapter):
    """An adapter whose connections answer to attempt deadlines."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": DeadlineHTTPConnectionPool,
            "https": DeadlineHTTPSConnectionPool,
        }


class Watchdog:
    """One thread that expires attempt deadlines as they pass (started on first use)."""

    def __init__(self) -> None:
        self.condition = threading.Condition()
        self.heap: list[tuple[float, int, AttemptDeadline]] = []
        self.order = itertools.count()
        self.closed = False
        self.thread: threading.Thread | None = None

    def watch(self, deadline: AttemptDeadline) -> None:
        with self.condition:
            if self.thread is None:
                self.closed = False
                self.thread = threading.Thread(
                    target=self.run, name="deliver-watchdog", daemon=True
                )
                self.thread.start()
            heapq.heappush(self.heap, (deadline.at, next(self.order), deadline))
            if self.heap[0][2] is deadline:
                self.condition.notify()

    def run(self) -> None:
        with self.condition:
            while not self.closed:
                now = time.monotonic()
                while self.heap and (self.heap[0][2].finished or self.heap[0][0] <= now):
                    heapq.heappop(self.heap)[2].expire()
                self.condition.wait(self.heap[0][0] - now if self.heap else None)

    def close(self) -> None:
        with self.condition:
            self.closed = True
            self.heap.clear()
            self.condition.notify()
            thread, self.thread = self.thread, None
        if thread is not None:
            thread.join()


class NoRedirectSession(requests.Session):
    """A session that sees no redirect target, so it neither follows nor reads a redirect.

    With ``allow_redirects=False`` requests still prepares the next request of a
    redirect and reads the whole body first, however long; here the body is read
    like any other answer's, bounded.
    """

    def get_redirect_target(self, resp: requests.Response) -> None:
        return None


class RequestsTransport(Transport):
    """POSTs to the configured URL with ``requests``; safe to call from many threads at once."""

    def __init__(self, *, config: DeliverySettings) -> None:
        self.url = config.url
        self.secret = config.signing_secret
        self.timeout = config.timeout_seconds
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._sessions_lock = threading.Lock()
        self.watchdog = Watchdog()

    def session(self) -> requests.Session:
        """This thread's session, created on first use."""
        session = getattr(self._local, "session", None)
        if session is None:
            session = NoRedirectSession()
            # One request at a time per thread: a one-connection pool per host is
            # all that is reused; retries are the worker's business, not urllib3's.
            adapter = DeadlineAdapter(pool_connections=1, pool_maxsize=1, max_retries=0)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            self._local.session = session
            with self._sessions_lock:
                self._sessions.append(session)
        return session

    def send(self, notification: OutgoingNotification) -> SendResult:
        body = payload_body(notification)
        headers = request_headers(
            notification_id=str(notification.id), body=body, secret=self.secret
        )
        started_at = timezone.now()
        started = time.perf_counter()
        deadline = AttemptDeadline(time.monotonic() + self.timeout)
        current_attempt.deadline = deadline
        self.watchdog.watch(deadline)
        try:
            return self.post(
                notification, body=body, headers=headers, started_at=started_at, started=started
            )
        finally:
            current_attempt.deadline = None
            deadline.finish()

    def post(
        self,
        notification: OutgoingNotification,
        *,
        body: bytes,
        headers: dict[str, str],
        started_at: datetime.datetime,
        started: float,
    ) -> SendResult:
        """The POST itself; an answer not complete by the attempt's deadline is a timeout."""
        deadline: AttemptDeadline = current_attempt.deadline
        try:
            # No redirects (see NoRedirectSession): a webhook that moved is a
            # configuration to fix, and following it would re-send the body to
            # wherever it points.
            response = self.session().post(
                self.url,
                data=body,
                headers=headers,
                timeout=self.timeout,
                allow_redirects=False,
                stream=True,
            )
            try:
                raw = response.raw.read(RESPONSE_READ_BYTES, decode_content=True) or b""
            finally:
                response.close()
        # Reading the body straight from urllib3 raises its own errors (a read
        # timeout, a connection cut mid-body): network errors all the same.
        except (requests.RequestException, urllib3.exceptions.HTTPError) as error:
            if deadline.finish():
                return self.timed_out(notification, started_at=started_at, started=started)
            return result_unanswered(
                notification,
                started_at=started_at,
                started=started,
                error=f"{type(error).__name__}: {error}",
            )
        if deadline.finish():
            # Cut at the deadline: what was read may be a truncated answer.
            return self.timed_out(notification, started_at=started_at, started=started)
        return result_answered(
            notification,
            started_at=started_at,
            started=started,
            http_status=response.status_code,
            body=raw,
            retry_after=response.headers.get("Retry-After"),
            location=response.headers.get("Location"),
        )

    def timed_out(
        self, notification: OutgoingNotification, *, started_at: datetime.datetime, started: float
    ) -> SendResult:
        """The result of an attempt abandoned at its deadline (retryable, as any timeout)."""
        return result_unanswered(
            notification,
            started_at=started_at,
            started=started,
            error=f"Timeout: no complete answer within {self.timeout:g}s",
        )

    def close(self) -> None:
        self.watchdog.close()
        with self._sessions_lock:
            for session in self._sessions:
                session.close()
            self._sessions.clear()
