"""Answers the mock endpoint never gives, from a raw local server: odd bytes, slow trickles."""

from __future__ import annotations

import datetime
import time
from collections import Counter
from collections.abc import Callable

import pytest

from delivery.models import DeliveryAttempt
from delivery.worker import notifications_deliver
from outbox.models import DailyNotification
from tests.delivery.rawserver import OK, Answer, RawServer, raw_response, trickled
from tests.factories import notification_create, users_create

pytestmark = pytest.mark.django_db

Status = DailyNotification.Status


@pytest.fixture
def raw_server(delivery_settings, raw_servers) -> Callable[[Answer], RawServer]:
    """Start a RawServer with a given answer and aim the settings at it."""

    def start(answer: Answer) -> RawServer:
        server = raw_servers(answer)
        delivery_settings.NOTIFICATIONS_URL = server.url
        return server

    return start


def notifications_create(count: int) -> list[DailyNotification]:
    return [notification_create(user=user) for user in users_create(count)]


def test_a_nul_byte_in_the_answer_is_stored_as_a_replacement_character(raw_server):
    # On PostgreSQL a NUL in a text column fails the whole settle transaction.
    raw_server(
        lambda n, key: raw_response(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream", b"\x00\x01binary ok"
        )
    )
    notification = notification_create()

    summary = notifications_deliver(concurrency=2, batch_size=5)

    assert summary.delivered == 1
    notification.refresh_from_db()
    assert notification.status == Status.DELIVERED
    [attempt] = DeliveryAttempt.objects.all()
    assert attempt.response_excerpt == "\ufffd\x01binary ok"


def test_a_nul_byte_in_a_refusal_reaches_last_error_replaced(raw_server, settings):
    settings.NOTIFICATIONS_BACKOFF_SECONDS = 60.0
    raw_server(lambda n, key: raw_response(b"HTTP/1.1 503 Busy", b"busy\x00now"))
    notification = notification_create()

    notifications_deliver(concurrency=2, batch_size=5)

    notification.refresh_from_db()
    assert notification.status == Status.PENDING
    assert notification.last_error == "HTTP 503: busy\ufffdnow"
    assert DeliveryAttempt.objects.get().response_excerpt == "busy\ufffdnow"


def test_an_answer_trickling_past_the_lease_is_cut_and_no_row_is_sent_twice(raw_server, settings):
    # Each byte comes well within the read timeout, so only a deadline on the whole
    # attempt ends it; without one the row's lease runs out mid-attempt and the
    # worker's own next claims take its prefetched rows again.
    settings.NOTIFICATIONS_TIMEOUT_SECONDS = 0.5
    settings.NOTIFICATIONS_LEASE_SECONDS = 1.5
    settings.NOTIFICATIONS_BACKOFF_SECONDS = 60.0
    server = raw_server(lambda n, key: trickled(OK, every=0.15) if n == 1 else OK)
    notifications_create(12)
    started = time.monotonic()

    summary = notifications_deliver(concurrency=2, batch_size=5)

    sent = Counter(server.keys)
    assert len(sent) == 12
    assert set(sent.values()) == {1}
    assert time.monotonic() - started < 5
    slow = DailyNotification.objects.get(id=server.keys[0])
    assert slow.status == Status.PENDING
    assert "Timeout" in slow.last_error
    assert (summary.delivered, summary.retrying) == (11, 1)
    assert DeliveryAttempt.objects.get(notification=slow).http_status is None


def test_a_fast_row_is_settled_before_a_slow_row_of_its_batch_ends(raw_server, settings):
    settings.NOTIFICATIONS_TIMEOUT_SECONDS = 3.0
    settings.NOTIFICATIONS_LEASE_SECONDS = 9.0
    server = raw_server(lambda n, key: [(b"", 1.5), *OK] if n == 1 else OK)
    notifications_create(4)

    summary = notifications_deliver(concurrency=4, batch_size=4)

    assert summary.delivered == 4
    slow_key = server.keys[0]
    slow_answered = datetime.datetime.fromtimestamp(server.answered[slow_key], tz=datetime.UTC)
    fast = DailyNotification.objects.exclude(id=slow_key)
    assert len(fast) == 3
    for row in fast:
        assert row.status == Status.DELIVERED
        # The row was settled (updated_at) while the slow attempt was still waiting.
        assert row.updated_at < slow_answered - datetime.timedelta(seconds=0.5)


def test_a_redirect_fails_with_its_location_in_last_error(raw_server):
    raw_server(
        lambda n, key: raw_response(
            b"HTTP/1.1 301 Moved Permanently\r\nLocation: https://hooks.example.com/new",
            b"<html>moved</html>",
        )
    )
    notification = notification_create()

    notifications_deliver(concurrency=2, batch_size=5)

    notification.refresh_from_db()
    assert notification.status == Status.FAILED
    assert notification.last_error == "HTTP 301: redirect to https://hooks.example.com/new"
    attempt = DeliveryAttempt.objects.get()
    assert (attempt.http_status, attempt.error) == (
        301,
        "redirect to https://hooks.example.com/new",
    )
    assert attempt.response_excerpt == "<html>moved</html>"


def test_a_long_redirect_location_is_bounded_and_redacted(raw_server):
    raw_server(
        lambda n, key: raw_response(
            b"HTTP/1.1 302 Found\r\nLocation: https://ops:s3cret@hooks.example.com/" + b"a" * 5000
        )
    )
    notification = notification_create()

    notifications_deliver(concurrency=2, batch_size=5)

    notification.refresh_from_db()
    assert notification.last_error.startswith(
        "HTTP 302: redirect to https://***@hooks.example.com/a"
    )
    assert len(notification.last_error) <= 300
    assert "s3cret" not in notification.last_error
    assert "s3cret" not in DeliveryAttempt.objects.get().error
