"""What every Transport promises, as one test class run against each implementation.

A subclass provides ``transport_build`` (a settings object in, a Transport out); the
tests speak to real local servers (the mock endpoint, or a raw server whose bytes
and pacing they choose) and need no database.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import socket
import threading
import time
import uuid
import zoneinfo
from collections.abc import Callable, Iterator

import pytest

from accounts.models import User
from delivery.conf import DeliverySettings
from delivery.retry import retry_after_seconds
from delivery.transport.base import (
    REDIRECT_NOTE_CHARS,
    RESPONSE_EXCERPT_CHARS,
    SendResult,
    Transport,
)
from outbox.models import DailyNotification
from tests.delivery.offline_resolver import network_nameserver, unresolvable_send
from tests.delivery.rawserver import OK, Piece, raw_response, trickled
from tests.factories import user_build

# The headers of the wire format; a client may add its own (User-Agent, Accept…).
SIGNATURE_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")
WIRE_HEADERS = ("content-type", "idempotency-key", *SIGNATURE_HEADERS)
SECRET = "whsec_" + base64.b64encode(b"a secret of thirty-two bytes!!!!").decode()
# `.invalid` is reserved (RFC 6761): no resolver may ever answer it.
UNRESOLVABLE_URL = "http://nonexistent.invalid/notifications"
MEGABYTE = 1 << 20
# The clock Retry-After dates are read against (12:00 on the day of the dates below).
RETRY_AFTER_NOW = datetime.datetime(2026, 11, 22, 12, 0, tzinfo=datetime.UTC)

TransportBuild = Callable[[DeliverySettings], Transport]


def notification_build(*, user: User | None = None, **overrides) -> DailyNotification:
    """An unsaved notification with its user, as a claim hands it to a transport."""
    fields = {
        "id": uuid.uuid4(),
        "user": user or user_build(),
        "date": datetime.date(2026, 11, 22),
        "category": DailyNotification.Category.TIP,
        "title": "Drink water",
        "body": "A glass of water before each meal helps.",
        "generated_by": "offline",
        "send_at": datetime.datetime(2026, 11, 22, 8, 0, tzinfo=datetime.UTC),
        "expires_at": datetime.datetime(2026, 11, 22, 21, 0, tzinfo=datetime.UTC),
    }
    fields.update(overrides)
    return DailyNotification(**fields)


def independent_signature(secret: str, msg_id: str, timestamp: str, body: bytes) -> str:
    """Standard Webhooks v1 computed here, from the specification, not with the product's code."""
    key = base64.b64decode(secret[len("whsec_") :]) if secret.startswith("whsec_") else secret
    key = key if isinstance(key, bytes) else key.encode()
    mac = hmac.new(key, msg_id.encode() + b"." + timestamp.encode() + b"." + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def free_port() -> int:
    """A local port nothing listens on (bound, read, closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def endless_body(head: bytes = b"HTTP/1.1 200 OK") -> Iterator[Piece]:
    """An answer whose chunked body never ends."""
    yield head + b"\r\nTransfer-Encoding: chunked\r\n\r\n", 0.0
    while True:
        yield b"1000\r\n" + b"x" * 0x1000 + b"\r\n", 0.001


def huge_body(megabytes: int) -> Iterator[Piece]:
    """An answer announcing and sending ``megabytes`` MB of body, a megabyte at a time."""
    yield b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (megabytes * MEGABYTE), 0.0
    chunk = b"x" * MEGABYTE
    for _ in range(megabytes):
        yield chunk, 0.0


class TransportContract:
    """Tests shared by every Transport implementation."""

    @pytest.fixture
    def transport_build(self) -> TransportBuild:
        raise NotImplementedError

    @pytest.fixture
    def transport(self, transport_build: TransportBuild) -> Iterator[Callable[..., Transport]]:
        """Build a transport for a URL (and a secret, a timeout); all are closed afterwards."""
        built: list[Transport] = []

        def build(*, url: str, secret: str = "", timeout: float = 5.0) -> Transport:
            config = DeliverySettings(
                url=url,
                signing_secret=secret,
                max_attempts=8,
                backoff_seconds=0.0,
                backoff_max_seconds=3600.0,
                lease_seconds=3 * timeout,
                timeout_seconds=timeout,
            )
            built.append(transport_build(config))
            return built[-1]

        yield build
        for transport in built:
            transport.close()

    def test_is_a_transport(self, transport) -> None:
        assert isinstance(transport(url="http://127.0.0.1:1/n"), Transport)

    # The wire format.

    def test_posts_the_exact_wire_body(self, transport, raw_servers) -> None:
        server = raw_servers(lambda n, key: OK)
        user = user_build(user_id="42", name="Zoë Smith", email="zoe@example.com")
        notification = notification_build(
            user=user,
            category="insight",
            title="Your BMI band",
            body="Healthy range — keep it up.",
        )

        result = transport(url=server.url).send(notification)

        [request] = server.requests
        assert request.line == "POST /notifications HTTP/1.1"
        assert (
            request.body
            == (
                f'{{"id":"{notification.id}","date":"2026-11-22","category":"insight",'
                '"title":"Your BMI band","message":"Healthy range — keep it up.",'
                '"generated_by":"offline",'
                '"send_at":"2026-11-22T08:00:00Z","expires_at":"2026-11-22T21:00:00Z",'
                '"user":{"id":"42","name":"Zoë Smith","email":"zoe@example.com"}}'
            ).encode()
        )
        assert request.headers["content-length"] == str(len(request.body))
        assert "transfer-encoding" not in request.headers
        assert {name: request.headers.get(name) for name in WIRE_HEADERS} == {
            "content-type": "application/json",
            "idempotency-key": str(notification.id),
            "webhook-id": None,
            "webhook-timestamp": None,
            "webhook-signature": None,
        }
        assert isinstance(result, SendResult)
        assert (result.notification_id, result.http_status, result.error) == (
            notification.id,
            200,
            "",
        )
        assert result.response_excerpt == "ok"
        assert result.retry_after is None

    def test_the_mock_endpoint_accepts_every_field_and_header(self, transport, endpoint) -> None:
        user = user_build(user_id="42", name="Alice Smith", email="alice@example.com")
        notification = notification_build(
            user=user,
            category="insight",
            title="Your BMI band",
            body="Healthy range — keep it up.",
        )

        result = transport(url=endpoint.url).send(notification)

        [request] = endpoint.app.recorder.received
        assert request["status"] == 200
        assert request["body"] == {
            "id": str(notification.id),
            "date": "2026-11-22",
            "category": "insight",
            "title": "Your BMI band",
            "message": "Healthy range — keep it up.",
            "generated_by": "offline",
            "send_at": "2026-11-22T08:00:00Z",
            "expires_at": "2026-11-22T21:00:00Z",
            "user": {"id": "42", "name": "Alice Smith", "email": "alice@example.com"},
        }
        assert request["headers"] == {
            "content-type": "application/json",
            "idempotency-key": str(notification.id),
        }
        assert result.http_status == 200

    def test_the_window_goes_in_utc_with_z_and_no_expiry_as_null(self, transport, endpoint) -> None:
        tokyo = zoneinfo.ZoneInfo("Asia/Tokyo")
        notification = notification_build(
            send_at=datetime.datetime(2026, 11, 22, 8, 0, 0, 250_000, tzinfo=tokyo),
            expires_at=None,
        )

        transport(url=endpoint.url).send(notification)

        [request] = endpoint.app.recorder.received
        assert request["status"] == 200
        assert (request["body"]["send_at"], request["body"]["expires_at"]) == (
            "2026-11-21T23:00:00Z",
            None,
        )

    def test_every_attempt_carries_the_row_id_as_idempotency_key(
        self, transport, raw_servers
    ) -> None:
        server = raw_servers(lambda n, key: raw_response(b"HTTP/1.1 503 Busy") if n == 1 else OK)
        notification = notification_build()
        sender = transport(url=server.url)

        statuses = [sender.send(notification).http_status for _ in range(2)]

        assert statuses == [503, 200]
        assert server.keys == [str(notification.id)] * 2

    def test_the_started_at_and_duration_describe_the_attempt(self, transport, raw_servers) -> None:
        server = raw_servers(lambda n, key: [(b"", 0.2), *OK])
        before = datetime.datetime.now(tz=datetime.UTC)

        result = transport(url=server.url).send(notification_build())

        assert before <= result.started_at <= datetime.datetime.now(tz=datetime.UTC)
        assert 200 <= result.duration_ms < 2000

    # Signing.

    @pytest.mark.parametrize("secret", [SECRET, "plain-secret"])
    def test_the_signature_verifies_with_an_independent_hmac(
        self, transport, raw_servers, secret
    ) -> None:
        server = raw_servers(lambda n, key: OK)
        notification = notification_build()

        transport(url=server.url, secret=secret).send(notification)

        [request] = server.requests
        headers = request.headers
        assert headers["webhook-id"] == str(notification.id)
        assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60
        # What was signed is the body as it came off the wire.
        assert headers["webhook-signature"] == independent_signature(
            secret, headers["webhook-id"], headers["webhook-timestamp"], request.body
        )

    def test_the_mock_endpoint_with_the_secret_accepts_the_signature(
        self, transport, endpoint
    ) -> None:
        endpoint.app.secret = SECRET

        result = transport(url=endpoint.url, secret=SECRET).send(notification_build())

        assert result.http_status == 200
        assert set(endpoint.app.recorder.received[0]["headers"]) >= set(SIGNATURE_HEADERS)

    # Answers and their absence.

    def test_an_answer_trickling_past_the_deadline_is_a_timeout(
        self, transport, raw_servers
    ) -> None:
        # Each byte comes well within any read timeout: only a deadline on the whole
        # attempt ends it.
        server = raw_servers(lambda n, key: trickled(OK, every=0.15))
        started = time.monotonic()

        result = transport(url=server.url, timeout=0.5).send(notification_build())

        assert time.monotonic() - started < 1.5
        assert result.http_status is None
        assert result.error.startswith("Timeout")
        assert 400 <= result.duration_ms < 1500

    def test_an_endpoint_that_never_answers_is_a_timeout(self, transport, raw_servers) -> None:
        server = raw_servers(lambda n, key: [(b"", 5.0), *OK])
        started = time.monotonic()

        result = transport(url=server.url, timeout=0.3).send(notification_build())

        assert time.monotonic() - started < 1.5
        assert result.http_status is None
        assert "Timeout" in result.error

    def test_connection_refused_is_an_error_without_status(self, transport) -> None:
        url = f"http://127.0.0.1:{free_port()}/notifications"
        started = time.monotonic()

        result = transport(url=url).send(notification_build())

        assert time.monotonic() - started < 2
        assert result.http_status is None
        assert "connect" in result.error.lower()
        assert result.response_excerpt == ""

    def test_a_name_that_does_not_resolve_is_an_error_without_status(self, transport) -> None:
        nameserver = network_nameserver()
        if nameserver is not None:
            pytest.skip(
                f"this machine's resolver sends every lookup to {nameserver} over the network; "
                "test_a_name_that_does_not_resolve_without_a_network runs this case in a "
                "network namespace instead"
            )
        started = time.monotonic()

        result = transport(url=UNRESOLVABLE_URL).send(notification_build())

        assert time.monotonic() - started < 2
        assert result.http_status is None
        assert "nonexistent.invalid" in result.error
        assert result.response_excerpt == ""

    @pytest.mark.slow
    def test_a_name_that_does_not_resolve_without_a_network(self, transport_build) -> None:
        # In a network namespace of its own, with no route anywhere, a lookup fails
        # locally whatever the resolver's configuration: nothing leaves the machine.
        answer = unresolvable_send(transport_build, url=UNRESOLVABLE_URL)

        assert answer["seconds"] < 2
        assert answer["http_status"] is None
        assert "nonexistent.invalid" in answer["error"]
        assert answer["response_excerpt"] == ""

    def test_tls_to_a_plain_http_port_is_an_error_without_status(self, transport, endpoint) -> None:
        url = endpoint.url.replace("http://", "https://")
        started = time.monotonic()

        result = transport(url=url).send(notification_build())

        assert time.monotonic() - started < 2
        assert result.http_status is None
        assert "ssl" in result.error.lower()
        assert endpoint.app.recorder.received == []

    def test_an_error_never_shows_the_urls_password(self, transport) -> None:
        url = f"http://ops:s3cret@127.0.0.1:{free_port()}/notifications"

        result = transport(url=url).send(notification_build())

        assert result.http_status is None
        assert result.error
        assert "s3cret" not in result.error

    def test_a_body_cut_short_is_an_error_without_status(self, transport, raw_servers) -> None:
        server = raw_servers(
            lambda n, key: [(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\ncut", 0.0)]
        )

        result = transport(url=server.url).send(notification_build())

        assert result.http_status is None
        assert result.error

    def test_the_response_excerpt_is_bounded(self, transport, raw_servers) -> None:
        server = raw_servers(lambda n, key: raw_response(b"HTTP/1.1 503 Busy", b"e" * 100_000))

        result = transport(url=server.url).send(notification_build())

        assert result.http_status == 503
        assert result.response_excerpt == "e" * RESPONSE_EXCERPT_CHARS

    def test_a_fifty_megabyte_answer_is_cut_to_the_excerpt(self, transport, raw_servers) -> None:
        server = raw_servers(lambda n, key: huge_body(50))
        started = time.monotonic()

        result = transport(url=server.url, timeout=5.0).send(notification_build())

        assert time.monotonic() - started < 2
        assert result.http_status == 200
        assert result.response_excerpt == "x" * RESPONSE_EXCERPT_CHARS

    def test_an_endless_answer_is_read_only_in_part(self, transport, raw_servers) -> None:
        server = raw_servers(lambda n, key: endless_body())
        started = time.monotonic()

        result = transport(url=server.url, timeout=5.0).send(notification_build())

        assert time.monotonic() - started < 2
        assert result.http_status == 200
        assert result.response_excerpt == "x" * RESPONSE_EXCERPT_CHARS

    def test_an_endless_redirect_is_read_only_in_part(self, transport, raw_servers) -> None:
        # Not following a redirect must not mean reading all of its body either.
        server = raw_servers(
            lambda n, key: endless_body(b"HTTP/1.1 301 Moved\r\nLocation: http://127.0.0.1:1/")
        )
        started = time.monotonic()

        result = transport(url=server.url, timeout=5.0).send(notification_build())

        assert time.monotonic() - started < 2
        assert result.http_status == 301
        assert result.response_excerpt == "x" * RESPONSE_EXCERPT_CHARS

    def test_a_nul_byte_in_the_answer_becomes_a_replacement_character(
        self, transport, raw_servers
    ) -> None:
        # PostgreSQL text cannot hold NUL; the attempt log would fail to write.
        server = raw_servers(lambda n, key: raw_response(b"HTTP/1.1 200 OK", b"\x00\x01ok"))

        result = transport(url=server.url).send(notification_build())

        assert result.response_excerpt == "\ufffd\x01ok"

    def test_a_redirect_is_not_followed(self, transport, raw_servers) -> None:
        elsewhere = raw_servers(lambda n, key: OK)
        server = raw_servers(
            lambda n, key: raw_response(
                b"HTTP/1.1 301 Moved Permanently\r\nLocation: " + elsewhere.url.encode()
            )
        )

        result = transport(url=server.url).send(notification_build())

        assert result.http_status == 301
        assert result.error == f"redirect to {elsewhere.url}"
        time.sleep(0.2)
        assert elsewhere.requests == []

    def test_a_redirect_names_its_location_redacted_and_bounded(
        self, transport, raw_servers
    ) -> None:
        location = b"https://ops:s3cret@hooks.example.com/" + b"a" * 5000
        server = raw_servers(
            lambda n, key: raw_response(b"HTTP/1.1 308 Permanent Redirect\r\nLocation: " + location)
        )

        result = transport(url=server.url).send(notification_build())

        assert result.http_status == 308
        assert result.error.startswith("redirect to https://***@hooks.example.com/aaa")
        assert "s3cret" not in result.error
        assert len(result.error) <= REDIRECT_NOTE_CHARS

    @pytest.mark.parametrize(
        ("status", "header", "retry_after"),
        [
            (429, b"Retry-After: 7", "7"),
            (503, b"Retry-After: Sun, 22 Nov 2026 12:03:00 GMT", "Sun, 22 Nov 2026 12:03:00 GMT"),
            (503, b"X-Other: 1", None),
        ],
    )
    def test_retry_after_is_handed_to_the_policy(
        self, transport, raw_servers, status, header, retry_after
    ) -> None:
        server = raw_servers(
            lambda n, key: raw_response(b"HTTP/1.1 %d Busy\r\n" % status + header, b"busy")
        )

        result = transport(url=server.url).send(notification_build())

        assert (result.http_status, result.retry_after) == (status, retry_after)

    @pytest.mark.parametrize(
        ("header", "seconds"),
        [
            ("120", 120.0),
            ("0", 0.0),
            # IMF-fixdate, the obsolete RFC 850 form and asctime: all three HTTP-date forms.
            ("Sun, 22 Nov 2026 12:03:00 GMT", 180.0),
            ("Sunday, 22-Nov-26 12:03:00 GMT", 180.0),
            ("Sun Nov 22 12:03:00 2026", 180.0),
            # A date already past asks for no wait at all.
            ("Thu, 01 Jan 1970 00:00:00 GMT", 0.0),
            # Unreadable: as if absent, the policy's own backoff applies.
            ("soon", None),
            ("-5", None),
            ("1.5", None),
        ],
    )
    def test_retry_after_of_every_form_reaches_the_policy_as_sent(
        self, transport, raw_servers, header, seconds
    ) -> None:
        server = raw_servers(
            lambda n, key: raw_response(
                b"HTTP/1.1 503 Busy\r\nRetry-After: " + header.encode(), b"busy"
            )
        )

        result = transport(url=server.url).send(notification_build())

        assert (result.http_status, result.retry_after) == (503, header)
        assert retry_after_seconds(result.retry_after, now=RETRY_AFTER_NOW) == seconds

    # Many threads, few connections.

    def test_threads_send_at_once_and_reuse_their_connections(self, transport, endpoint) -> None:
        sender = transport(url=endpoint.url)
        notifications = [notification_build() for _ in range(80)]
        results: list[SendResult] = []
        lock = threading.Lock()

        def send_share(share: list[DailyNotification]) -> None:
            for notification in share:
                result = sender.send(notification)
                with lock:
                    results.append(result)

        threads = [
            threading.Thread(target=send_share, args=(notifications[n::4],)) for n in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)

        assert sorted(r.notification_id for r in results) == sorted(n.id for n in notifications)
        assert {r.http_status for r in results} == {200}
        ports = {request["client_port"] for request in endpoint.app.recorder.received}
        assert len(ports) <= 4
