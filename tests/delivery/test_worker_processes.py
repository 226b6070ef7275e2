"""Workers as real processes: killed mid-batch, several at once, stopped by SIGTERM."""

from __future__ import annotations

import signal
import time

import pytest

from delivery.models import DeliveryAttempt
from delivery.worker import notifications_deliver
from outbox.models import DailyNotification
from tests.delivery.conftest import worker_env
from tests.factories import notification_create, users_create

# Each test starts `runpipeline deliver` as real processes.
pytestmark = pytest.mark.slow

Status = DailyNotification.Status


def notifications_create(count: int) -> set[str]:
    """``count`` pending notifications (one user each); returns their ids as text."""
    users = users_create(count)
    return {str(notification_create(user=user).id) for user in users}


def wait_until(condition, *, timeout: float = 20.0, step: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(step)


def received_ids(endpoint, *, accepted_only: bool = True) -> list[str]:
    return [
        r["idempotency_key"]
        for r in endpoint.app.recorder.received
        if not accepted_only or 200 <= r["status"] <= 299
    ]


def test_a_worker_killed_mid_batch_is_taken_over_after_its_lease(
    manage_py, endpoint, delivery_settings
):
    ids = notifications_create(40)
    endpoint.app.faults.latency_ms = 150
    options = ["--concurrency", "8", "--batch-size", "8"]
    worker = manage_py(
        "runpipeline",
        "deliver",
        *options,
        env=worker_env(
            endpoint, NOTIFICATIONS_LEASE_SECONDS="1", NOTIFICATIONS_TIMEOUT_SECONDS="0.3"
        ),
    )
    wait_until(lambda: len(endpoint.app.recorder.received) >= 4)

    worker.kill()
    worker.wait(10)
    in_flight = DailyNotification.objects.filter(status=Status.SENDING).count()
    assert in_flight > 0
    endpoint.app.faults.latency_ms = 0
    time.sleep(1.1)  # the dead worker's lease runs out
    notifications_deliver(concurrency=4, batch_size=20)

    assert set(DailyNotification.objects.values_list("status", flat=True)) == {Status.DELIVERED}
    keys = received_ids(endpoint)
    assert set(keys) == ids
    assert len(keys) - len(ids) <= in_flight


def concurrent_workers_deliver_everything_once(manage_py, endpoint, workers: int) -> None:
    ids = notifications_create(300)
    # Slow enough that one worker alone would need longer than the others take to
    # start, even on a loaded machine where starting takes seconds: 7.5 s at 100 ms.
    endpoint.app.faults.latency_ms = 100
    options = ["--concurrency", "4", "--batch-size", "10"]
    processes = [
        manage_py("runpipeline", "deliver", *options, env=worker_env(endpoint))
        for _ in range(workers)
    ]
    delivered_by_worker = []
    for process in processes:
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        delivered_by_worker.append(int(out.split()[1].rstrip(",")))

    assert all(count > 0 for count in delivered_by_worker), delivered_by_worker
    assert sum(delivered_by_worker) == 300
    assert set(DailyNotification.objects.values_list("status", flat=True)) == {Status.DELIVERED}
    keys = received_ids(endpoint, accepted_only=False)
    assert sorted(keys) == sorted(ids)  # each key exactly once: zero duplicates
    assert endpoint.app.recorder.duplicates == 0
    assert DeliveryAttempt.objects.count() == 300


@pytest.mark.postgres_only
def test_two_concurrent_workers_deliver_everything_with_zero_duplicates(
    manage_py, endpoint, delivery_settings
):
    concurrent_workers_deliver_everything_once(manage_py, endpoint, 2)


@pytest.mark.postgres_only
def test_four_concurrent_workers_deliver_everything_with_zero_duplicates(
    manage_py, endpoint, delivery_settings
):
    concurrent_workers_deliver_everything_once(manage_py, endpoint, 4)


def test_sigterm_finishes_in_flight_and_leaves_nothing_sending(
    manage_py, endpoint, delivery_settings
):
    notifications_create(30)
    endpoint.app.faults.latency_ms = 200
    options = ["--forever", "--concurrency", "2", "--batch-size", "5"]
    worker = manage_py("runpipeline", "deliver", *options, env=worker_env(endpoint))
    wait_until(lambda: len(endpoint.app.recorder.received) >= 2)

    worker.send_signal(signal.SIGTERM)
    out, err = worker.communicate(timeout=20)

    assert worker.returncode == 0, err
    assert "delivered" in out
    assert not DailyNotification.objects.filter(status=Status.SENDING).exists()
    delivered = DailyNotification.objects.filter(status=Status.DELIVERED).count()
    assert 0 < delivered < 30
    # Every request the endpoint saw was recorded as an attempt before the exit.
    assert DeliveryAttempt.objects.count() == len(endpoint.app.recorder.received)
    assert (
        DailyNotification.objects.filter(
            status=Status.PENDING, lease_expires_at__isnull=False
        ).count()
        == 0
    )
