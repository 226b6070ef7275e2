"""Answers the mock endpoint never gives, from a raw local server: odd bytes, slow trickles."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from delivery.models import DeliveryAttempt
from delivery.worker import notifications_deliver
from outbox.models import DailyNotification
from tests.delivery.rawserver import RawServer, raw_response
from tests.factories import notification_create, users_create

pytestmark = pytest.mark.django_db

Status = DailyNotification.Status


@pytest.fixture
def raw_server(delivery_settings) -> Iterator:
    """Start a RawServer with a given answer and aim the settings at it."""
    servers: list[RawServer] = []

    def start(answer) -> RawServer:
        server = RawServer(answer)
        servers.append(server)
        delivery_settings.NOTIFICATIONS_URL = server.url
        return server

    yield start
    for server in servers:
        server.close()


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
