"""Workers as real processes with each transport: SIGTERM and SIGKILL behave as with the other.

The scenarios of ``test_worker_processes`` (which run the default, aiohttp) run
again with ``NOTIFICATIONS_TRANSPORT=requests``; the tests after them stop a worker
holding hundreds of requests in flight, and scrape a running worker's metrics.
"""

from __future__ import annotations

import signal
import socket
import time

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from delivery.models import DeliveryAttempt
from outbox.models import DailyNotification
from tests.delivery.conftest import worker_env
from tests.delivery.test_worker_processes import (
    notifications_create,
    test_a_worker_killed_mid_batch_is_taken_over_after_its_lease,
    test_four_concurrent_workers_deliver_everything_with_zero_duplicates,
    test_sigterm_finishes_in_flight_and_leaves_nothing_sending,
    test_two_concurrent_workers_deliver_everything_with_zero_duplicates,
    wait_until,
)

pytestmark = pytest.mark.slow

Status = DailyNotification.Status

__all__ = [
    "test_a_worker_killed_mid_batch_is_taken_over_after_its_lease",
    "test_four_concurrent_workers_deliver_everything_with_zero_duplicates",
    "test_sigterm_finishes_in_flight_and_leaves_nothing_sending",
    "test_two_concurrent_workers_deliver_everything_with_zero_duplicates",
]


@pytest.fixture(autouse=True, params=["requests"])
def transport_name(request, monkeypatch) -> str:
    """The transport of every worker process started by this module's tests."""
    monkeypatch.setenv("NOTIFICATIONS_TRANSPORT", request.param)
    return request.param


@pytest.mark.parametrize("transport_name", ["aiohttp"], indirect=True)
def test_sigterm_with_hundreds_in_flight_leaves_nothing_sending(
    manage_py, endpoint, delivery_settings, transport_name
):
    notifications_create(1000)
    endpoint.app.faults.latency_ms = 1500
    options = ["--forever", "--concurrency", "400", "--batch-size", "200"]
    worker = manage_py("runpipeline", "deliver", *options, env=worker_env(endpoint))
    wait_until(lambda: len(endpoint.app.recorder.received) >= 1)
    time.sleep(0.5)  # the first answers came: the rest of the 400 are on the wire now

    worker.send_signal(signal.SIGTERM)
    out, err = worker.communicate(timeout=30)

    assert worker.returncode == 0, err
    assert out.startswith("delivered ")
    assert not DailyNotification.objects.filter(status=Status.SENDING).exists()
    delivered = DailyNotification.objects.filter(status=Status.DELIVERED).count()
    assert 0 < delivered < 1000
    # Every request the endpoint saw was recorded as an attempt before the exit.
    assert DeliveryAttempt.objects.count() == len(endpoint.app.recorder.received)
    assert DailyNotification.objects.filter(status=Status.PENDING).count() == 1000 - delivered


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("transport_name", ["aiohttp"], indirect=True)
def test_a_running_worker_serves_its_own_metrics(
    manage_py, endpoint, delivery_settings, transport_name
):
    notifications_create(60)
    endpoint.app.faults.fail_rate = 0.5
    port = free_port()
    worker = manage_py(
        "runpipeline",
        "deliver",
        "--forever",
        "--metrics-port",
        str(port),
        env=worker_env(endpoint, NOTIFICATIONS_BACKOFF_SECONDS="3600"),
    )
    wait_until(
        lambda: (
            not DailyNotification.objects.filter(
                status=Status.PENDING, next_attempt_at__isnull=True
            ).exists()
            and not DailyNotification.objects.filter(status=Status.SENDING).exists()
        )
    )
    time.sleep(0.2)

    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    worker.send_signal(signal.SIGTERM)
    worker.communicate(timeout=20)

    values = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    delivered = DailyNotification.objects.filter(status=Status.DELIVERED).count()
    retrying = DailyNotification.objects.filter(status=Status.PENDING).count()
    assert delivered > 0 and retrying > 0
    attempts = "notifications_delivery_attempts_total"
    assert values[(attempts, (("outcome", "delivered"),))] == delivered
    assert values[(attempts, (("outcome", "retry"),))] == retrying
    assert values[("notifications_delivery_attempt_duration_seconds_count", ())] == 60
    assert values[("notifications_delivery_settle_duration_seconds_count", ())] >= 1
    assert values[("notifications_delivery_breaker_open", ())] == 0
    assert values[("notifications_delivery_in_flight_requests", ())] == 0
    assert all(name.startswith("notifications_") for name, _ in values)
