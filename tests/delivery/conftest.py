"""Fixtures for delivery: settings aimed at the mock endpoint, the worker run in this process."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from delivery.worker import DeliverySummary, notifications_deliver
from devtools.mock_endpoint import MockEndpointThread
from tests.delivery.rawserver import Answer, RawServer


@pytest.fixture
def delivery_settings(settings, endpoint: MockEndpointThread):
    """Settings aimed at the endpoint, with no backoff so that retries are due at once."""
    settings.NOTIFICATIONS_URL = endpoint.url
    settings.NOTIFICATIONS_SIGNING_SECRET = ""
    settings.NOTIFICATIONS_MAX_ATTEMPTS = 8
    settings.NOTIFICATIONS_BACKOFF_SECONDS = 0.0
    settings.NOTIFICATIONS_BACKOFF_MAX_SECONDS = 3600.0
    settings.NOTIFICATIONS_LEASE_SECONDS = 60.0
    settings.NOTIFICATIONS_TIMEOUT_SECONDS = 5.0
    return settings


@pytest.fixture
def raw_servers() -> Iterator[Callable[[Answer], RawServer]]:
    """Start RawServers with given answers; all are closed after the test."""
    servers: list[RawServer] = []

    def start(answer: Answer) -> RawServer:
        servers.append(RawServer(answer))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def deliver(delivery_settings) -> Callable[..., DeliverySummary]:
    """Run the worker in this process with small defaults; keyword overrides pass through."""

    def run(**overrides) -> DeliverySummary:
        options = {"concurrency": 4, "batch_size": 20, **overrides}
        return notifications_deliver(**options)

    return run


def worker_env(endpoint: MockEndpointThread, **extra: str) -> dict[str, str]:
    """Environment of a ``runpipeline deliver`` subprocess aimed at the endpoint."""
    return {
        "NOTIFICATIONS_URL": endpoint.url,
        "NOTIFICATIONS_SIGNING_SECRET": "",
        "NOTIFICATIONS_BACKOFF_SECONDS": "0",
        "NOTIFICATIONS_TIMEOUT_SECONDS": "5",
        "LOG_LEVEL": "WARNING",
        **extra,
    }
