"""Fixtures for the pipeline tests: notifications in every status, the mock endpoint, a mute database."""

from __future__ import annotations

import datetime
import socket
import threading
from collections.abc import Iterator

import pytest
from django.utils import timezone

from devtools.mock_endpoint import Faults, MockEndpointApp, MockEndpointThread
from outbox.models import DailyNotification
from tests.factories import notification_create, user_create

Status = DailyNotification.Status
DAY = datetime.date(2026, 11, 22)


@pytest.fixture
def notifications_by_status(db: None) -> dict[str, DailyNotification]:
    """Notifications on ``DAY`` for distinct users: pending (waiting, due, fresh), sending, delivered, failed."""
    later = timezone.now() + datetime.timedelta(hours=1)
    earlier = timezone.now() - datetime.timedelta(hours=1)
    return {
        "pending_later": notification_create(
            user=user_create(name="Alice Smith", email="alice@example.com"),
            date=DAY,
            status=Status.PENDING,
            attempts=2,
            next_attempt_at=later,
            last_error="HTTP 503",
        ),
        "pending_due": notification_create(
            date=DAY, status=Status.PENDING, next_attempt_at=earlier
        ),
        "pending_fresh": notification_create(date=DAY, status=Status.PENDING),
        "sending": notification_create(
            date=DAY, status=Status.SENDING, attempts=1, lease_expires_at=later
        ),
        "delivered": notification_create(
            date=DAY, status=Status.DELIVERED, attempts=1, delivered_at=earlier
        ),
        "failed": notification_create(
            date=DAY,
            status=Status.FAILED,
            attempts=8,
            next_attempt_at=earlier,
            last_error="HTTP 400: bad request " * 10,
            generated_by="openai:gpt-4o-mini",
        ),
    }


@pytest.fixture
def mock_endpoint(settings) -> Iterator[MockEndpointThread]:
    """The project's mock endpoint on a free local port (20 ms per answer), NOTIFICATIONS_URL aimed at it.

    The latency keeps a delivery run busy long enough for two runs to overlap.
    """
    server = MockEndpointThread(MockEndpointApp(faults=Faults(latency_ms=20), seed=5)).start()
    settings.NOTIFICATIONS_URL = server.url
    settings.NOTIFICATIONS_SIGNING_SECRET = ""
    yield server
    server.stop()


class SilentDatabase:
    """A TCP listener on 127.0.0.1 that accepts connections and never answers a byte.

    What a client sees of a database server that hangs: the connection opens, then nothing.
    """

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.accepted = threading.Event()
        self.connections: list[socket.socket] = []
        self.thread = threading.Thread(target=self.accept_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/x"

    def accept_forever(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed by close()
            self.connections.append(client)  # held open, never read or written
            self.accepted.set()

    def close(self) -> None:
        # Shutting the listener down wakes the blocked accept(); closing it alone would not.
        self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        for client in self.connections:
            client.close()
        self.thread.join(5)


@pytest.fixture
def silent_database() -> Iterator[SilentDatabase]:
    database = SilentDatabase()
    yield database
    database.close()
