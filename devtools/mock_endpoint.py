"""The mock external endpoint: a small raw ASGI app served by uvicorn.

It stands in for the real receiver in the demo, the tests and the benchmark, so it
must be cheap per request (an asyncio server; no framework): it checks the body
against the wire format, verifies the Standard Webhooks signature when it knows
the secret, records every request in memory and counts duplicates by
``Idempotency-Key``. Faults can be injected (a failure rate, added latency, a
fixed status with ``Retry-After``).

    POST   /notifications   receive one notification
    GET    /notifications   {"received": [...], "count", "accepted", "unique", "duplicates"}
                            (``?summary=1`` leaves out ``received``)
    DELETE /notifications   forget everything received
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import hashlib
import hmac
import json
import random
import socket
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import uvicorn

from delivery.transport.payload import PAYLOAD_FIELDS
from delivery.transport.payload import USER_FIELDS as PAYLOAD_USER_FIELDS
from delivery.transport.signing import signing_key
from outbox.models import DailyNotification

PATH = "/notifications"
CATEGORIES = frozenset(DailyNotification.Category.values)
# The same field lists the sender builds its body from.
BODY_FIELDS = frozenset(PAYLOAD_FIELDS)
USER_FIELDS = frozenset(PAYLOAD_USER_FIELDS)
# Standard Webhooks: reject timestamps further than this from the receiver's clock.
TIMESTAMP_TOLERANCE_SECONDS = 300
RETRY_AFTER_STATUSES = frozenset({429, 503})

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class InvalidRequest(Exception):
    """A request the receiver refuses; carries the status and the reason sent back."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(kw_only=True)
class Faults:
    """Injected misbehaviour; attributes may be changed while the server runs."""

    fail_rate: float = 0.0
    latency_ms: int = 0
    status: int | None = None
    retry_after: str | None = None


def body_validate(body: bytes, *, idempotency_key: str | None) -> dict[str, Any]:
    """The decoded notification, or InvalidRequest(400) saying what is wrong with it."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequest(400, "body is not JSON") from None
    if not isinstance(data, dict):
        raise InvalidRequest(400, "body is not a JSON object")
    if set(data) != BODY_FIELDS:
        missing = sorted(BODY_FIELDS - set(data))
        extra = sorted(set(data) - BODY_FIELDS)
        raise InvalidRequest(400, f"fields: missing {missing}, unexpected {extra}")
    try:
        uuid.UUID(data["id"])
    except (AttributeError, TypeError, ValueError):
        raise InvalidRequest(400, "id is not a UUID") from None
    try:
        datetime.date.fromisoformat(data["date"])
    except (TypeError, ValueError):
        raise InvalidRequest(400, "date is not YYYY-MM-DD") from None
    # The type first: a list or an object is not hashable, so `in` would raise.
    if not isinstance(data["category"], str) or data["category"] not in CATEGORIES:
        raise InvalidRequest(400, f"category must be one of {sorted(CATEGORIES)}")
    for name in ("title", "message", "generated_by"):
        if not isinstance(data[name], str) or not data[name].strip():
            raise InvalidRequest(400, f"{name} must be a non-empty string")
    send_at = instant_parse(data["send_at"], name="send_at")
    if data["expires_at"] is not None:
        expires_at = instant_parse(data["expires_at"], name="expires_at")
        if expires_at <= send_at:
            raise InvalidRequest(400, "expires_at must be after send_at")
    user = data["user"]
    if not isinstance(user, dict) or set(user) != USER_FIELDS:
        raise InvalidRequest(400, f"user must be an object with exactly {sorted(USER_FIELDS)}")
    if not all(isinstance(user[name], str) and user[name] for name in USER_FIELDS):
        raise InvalidRequest(400, "user fields must be non-empty strings")
    if idempotency_key != data["id"]:
        raise InvalidRequest(400, "Idempotency-Key header must equal the body's id")
    return data


def instant_parse(value: Any, *, name: str) -> datetime.datetime:
    """An ISO 8601 instant in UTC written with ``Z``, or InvalidRequest(400) naming the field."""
    reason = f"{name} must be an ISO 8601 UTC instant ending in Z, like 2026-11-22T08:00:00Z"
    if not isinstance(value, str) or not value.endswith("Z") or "T" not in value:
        raise InvalidRequest(400, reason)
    try:
        return datetime.datetime.fromisoformat(value)
    except ValueError:
        raise InvalidRequest(400, reason) from None


def signature_verify(*, secret: str, headers: dict[str, str], body: bytes, now: float) -> None:
    """Raise InvalidRequest(401) unless the Standard Webhooks headers sign ``body`` with ``secret``."""
    message_id = headers.get("webhook-id")
    timestamp = headers.get("webhook-timestamp")
    signatures = headers.get("webhook-signature")
    if not (message_id and timestamp and signatures):
        raise InvalidRequest(401, "missing webhook-id, webhook-timestamp or webhook-signature")
    if not timestamp.isdigit() or abs(now - int(timestamp)) > TIMESTAMP_TOLERANCE_SECONDS:
        raise InvalidRequest(401, "webhook-timestamp is not a recent unix time")
    key = signing_key(secret)
    expected = base64.b64encode(
        hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    ).decode()
    for candidate in signatures.split():
        version, _, signature = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(signature, expected):
            return
    raise InvalidRequest(401, "webhook-signature does not match")


@dataclass(kw_only=True)
class Recorder:
    """Everything received, and the duplicate count over accepted requests."""

    received: list[dict[str, Any]] = field(default_factory=list)
    accepted_keys: set[str] = field(default_factory=set)
    accepted: int = 0
    duplicates: int = 0

    def record(self, entry: dict[str, Any]) -> None:
        self.received.append(entry)
        if 200 <= entry["status"] <= 299:
            self.accepted += 1
            key = entry["idempotency_key"]
            if key in self.accepted_keys:
                self.duplicates += 1
            else:
                self.accepted_keys.add(key)

    def report(self, *, with_received: bool) -> dict[str, Any]:
        report: dict[str, Any] = {
            "count": len(self.received),
            "accepted": self.accepted,
            "unique": len(self.accepted_keys),
            "duplicates": self.duplicates,
        }
        if with_received:
            report["received"] = self.received
        return report


class MockEndpointApp:
    """The ASGI application; one instance holds one endpoint's record and faults."""

    def __init__(
        self, *, faults: Faults | None = None, secret: str = "", seed: int | None = None
    ) -> None:
        self.faults = faults or Faults()
        # Checked once here: a bad secret would otherwise fail every request with a 500.
        signing_key(secret)
        self.secret = secret
        self.recorder = Recorder()
        self.random = random.Random(seed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan_accept(receive, send)
            return
        if scope["type"] != "http":
            return
        if scope["path"].rstrip("/") != PATH:
            await respond(send, 404, {"error": "not found"})
            return
        method = scope["method"]
        if method == "POST":
            body = await read_body(receive)
            await self.receive_notification(scope, body, send)
        elif method == "GET":
            query = parse_qs(scope.get("query_string", b"").decode())
            with_received = query.get("summary", ["0"])[0] in ("", "0", "false")
            await respond(send, 200, self.recorder.report(with_received=with_received))
        elif method == "DELETE":
            self.recorder = Recorder()
            await respond(send, 200, {"reset": True})
        else:
            await respond(send, 405, {"error": "method not allowed"})

    async def receive_notification(self, scope: Scope, body: bytes, send: Send) -> None:
        headers = {
            name.decode("latin-1").lower(): value.decode("latin-1")
            for name, value in scope["headers"]
        }
        key = headers.get("idempotency-key")
        faults = self.faults
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        extra_headers: list[tuple[bytes, bytes]] = []
        try:
            if self.secret:
                signature_verify(secret=self.secret, headers=headers, body=body, now=time.time())
            data = body_validate(body, idempotency_key=key)
        except InvalidRequest as refusal:
            status, answer, data = refusal.status, {"error": refusal.reason}, None
        else:
            if faults.status is not None:
                status = faults.status
            elif faults.fail_rate and self.random.random() < faults.fail_rate:
                status = 503
            else:
                status = 200
            answer = {"ok": True} if 200 <= status <= 299 else {"error": f"injected {status}"}
            if status in RETRY_AFTER_STATUSES and faults.retry_after is not None:
                extra_headers.append((b"retry-after", faults.retry_after.encode()))
        self.recorder.record(
            {
                "idempotency_key": key,
                "status": status,
                "headers": {
                    name: headers[name]
                    for name in (
                        "content-type",
                        "idempotency-key",
                        "webhook-id",
                        "webhook-timestamp",
                        "webhook-signature",
                    )
                    if name in headers
                },
                "body": data,
                "received_at": time.time(),
                "client_port": (scope.get("client") or (None, None))[1],
            }
        )
        await respond(send, status, answer, extra_headers=extra_headers)


async def lifespan_accept(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def respond(
    send: Send,
    status: int,
    payload: dict[str, Any],
    *,
    extra_headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    body = json.dumps(payload).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *(extra_headers or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def listening_socket(host: str, port: int) -> socket.socket:
    """A bound, listening TCP socket; port 0 picks a free one (read it from ``getsockname``)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def server_build(app: MockEndpointApp) -> uvicorn.Server:
    """A quiet uvicorn server for the app (httptools and uvloop when installed)."""
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        # Keep-alive connections of an idle worker stay open between its batches.
        timeout_keep_alive=30,
    )
    return uvicorn.Server(config)


class MockEndpointThread:
    """The endpoint served on a background thread of this process (tests use it).

    ``start()`` returns once it accepts connections; ``url`` then names it.
    ``stop()`` shuts it down and closes its port, after which ``start()`` may serve
    it again on the same port (the endpoint comes back after an outage).
    """

    def __init__(self, app: MockEndpointApp, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.server: uvicorn.Server | None = None
        self.socket: socket.socket | None = None
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}{PATH}"

    def start(self, *, timeout: float = 10.0) -> MockEndpointThread:
        sock = listening_socket(self.host, self.port)
        self.port = sock.getsockname()[1]
        self.socket = sock
        self.server = server_build(self.app)
        server = self.server
        self.thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="mock-endpoint", daemon=True
        )
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the mock endpoint did not start")
            time.sleep(0.01)
        return self

    def stop(self, *, timeout: float = 10.0) -> None:
        if self.server is None or self.thread is None:
            return
        self.server.should_exit = True
        self.server.force_exit = True
        self.thread.join(timeout)
        self.socket.close()
        self.server = self.thread = None


def mock_endpoint_serve(
    *, app: MockEndpointApp, host: str, port: int, on_ready: Callable[[str], None] | None = None
) -> None:
    """Serve the app in this thread until SIGINT/SIGTERM; ``on_ready(url)`` once bound."""
    sock = listening_socket(host, port)
    bound_port = sock.getsockname()[1]
    if on_ready is not None:
        on_ready(f"http://{host}:{bound_port}{PATH}")
    server_build(app).run(sockets=[sock])
