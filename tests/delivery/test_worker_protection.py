"""The worker at high concurrency and under endpoint protection, against the real mock endpoint.

Each test runs the worker in this process (a thread when it must be stopped from
outside) and reads what reached the endpoint: how many at once, how fast, and what
an outage cost.
"""

from __future__ import annotations

import logging
import threading
import time

import pytest

from delivery.models import DeliveryAttempt, DeliveryBreaker
from delivery.worker import DeliverySummary, notifications_deliver
from outbox.models import DailyNotification
from tests.factories import notification_create, users_create

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

Status = DailyNotification.Status


def notifications_create(count: int) -> None:
    for user in users_create(count):
        notification_create(user=user)


def peak_concurrency(received: list[dict], *, latency: float) -> int:
    """The most requests the endpoint held at once (each arrived ``latency`` before its record)."""
    edges = sorted(
        [(entry["received_at"] - latency, 1) for entry in received]
        + [(entry["received_at"], -1) for entry in received]
    )
    peak = current = 0
    for _, step in edges:
        current += step
        peak = max(peak, current)
    return peak


def test_a_thousand_in_flight_deliver_every_row_once(deliver, endpoint):
    notifications_create(2000)
    endpoint.app.faults.latency_ms = 1000

    summary = deliver(concurrency=1000, batch_size=500)

    assert summary.delivered == 2000
    received = endpoint.app.recorder.received
    assert len(endpoint.app.recorder.accepted_keys) == 2000
    assert endpoint.app.recorder.duplicates == 0
    assert len(received) == 2000
    assert DeliveryAttempt.objects.count() == 2000
    assert set(DailyNotification.objects.values_list("status", flat=True)) == {Status.DELIVERED}
    assert peak_concurrency(received, latency=1.0) >= 900


def test_the_rate_limit_holds_at_the_receiver(deliver, endpoint, settings):
    settings.NOTIFICATIONS_MAX_RATE = 40.0
    notifications_create(160)

    summary = deliver(concurrency=64, batch_size=50)

    assert summary.delivered == 160
    times = sorted(entry["received_at"] for entry in endpoint.app.recorder.received)
    rate = (len(times) - 1) / (times[-1] - times[0])
    assert rate == pytest.approx(40.0, rel=0.10)


class WorkerThread:
    """``notifications_deliver(forever=True)`` on a thread, until ``stop()``."""

    def __init__(self, **options) -> None:
        self.stop_event = threading.Event()
        self.summary: DeliverySummary | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self.run, kwargs=options, daemon=True)
        self.thread.start()

    def run(self, **options) -> None:
        from django.db import connection

        try:
            self.summary = notifications_deliver(forever=True, stop=self.stop_event, **options)
        except BaseException as error:
            self.error = error
        finally:
            connection.close()

    def stop(self) -> DeliverySummary:
        self.stop_event.set()
        self.thread.join(30)
        assert not self.thread.is_alive()
        if self.error is not None:
            raise self.error
        return self.summary


def wait_until(condition, *, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def breaker_lines(caplog) -> list[logging.LogRecord]:
    return [
        record
        for record in caplog.records
        if getattr(record, "action", "") in ("delivery.breaker_open", "delivery.breaker_closed")
    ]


def test_an_outage_costs_the_threshold_and_the_probes_and_fails_no_row(
    endpoint, delivery_settings, caplog
):
    caplog.set_level(logging.INFO, logger="delivery")
    delivery_settings.NOTIFICATIONS_BREAKER_FAILURES = 20
    delivery_settings.NOTIFICATIONS_BREAKER_COOLDOWN_SECONDS = 0.5
    notifications_create(2000)
    endpoint.stop()

    worker = WorkerThread(concurrency=256, batch_size=200)
    wait_until(lambda: DeliveryBreaker.objects.filter(state="open").exists())
    time.sleep(4.0)  # the outage goes on: probes at 0.5 s, 1.5 s, 3.5 s after opening
    during = DeliveryAttempt.objects.count()
    probes_failed = sum(
        1 for record in breaker_lines(caplog) if "probe failed" in record.getMessage()
    )
    endpoint.start()
    wait_until(lambda: DailyNotification.objects.filter(status=Status.DELIVERED).count() == 2000)
    summary = worker.stop()

    assert DeliveryAttempt.objects.filter(http_status__isnull=True).count() == during
    assert during <= 20 + probes_failed
    assert 1 <= probes_failed <= 4
    assert summary.failed == 0
    assert not DailyNotification.objects.exclude(status=Status.DELIVERED).exists()
    assert endpoint.app.recorder.duplicates == 0
    actions = [record.action for record in breaker_lines(caplog)]
    assert actions[0] == "delivery.breaker_open"
    assert actions[-1] == "delivery.breaker_closed"
    # The worker's row leaves the dashboard when it stops.
    assert not DeliveryBreaker.objects.exists()


def test_an_outage_in_mid_run_gives_queued_rows_back_uncounted(endpoint, delivery_settings):
    delivery_settings.NOTIFICATIONS_BREAKER_FAILURES = 20
    delivery_settings.NOTIFICATIONS_BREAKER_COOLDOWN_SECONDS = 0.5
    notifications_create(2000)
    endpoint.app.faults.latency_ms = 50

    worker = WorkerThread(concurrency=64, batch_size=200)
    wait_until(lambda: len(endpoint.app.recorder.received) >= 300)
    endpoint.app.faults.status = 503
    wait_until(lambda: DeliveryBreaker.objects.filter(state="open").exists())
    time.sleep(2.0)
    failed_during = DeliveryAttempt.objects.filter(http_status=503).count()
    endpoint.app.faults.status = None
    wait_until(lambda: DailyNotification.objects.filter(status=Status.DELIVERED).count() == 2000)
    summary = worker.stop()

    # What was on the wire when the endpoint failed, the threshold, the probes: not every row.
    assert failed_during <= 64 + 20 + 4
    assert summary.failed == 0
    assert summary.released > 0
    assert endpoint.app.recorder.duplicates == 0


def test_batches_are_claimed_ahead_of_the_senders_and_bounded(endpoint, delivery_settings):
    notifications_create(80)
    endpoint.app.faults.latency_ms = 400
    worker = WorkerThread(concurrency=10, batch_size=10)
    held: list[int] = []
    while len(endpoint.app.recorder.received) < 60:
        held.append(DailyNotification.objects.filter(status=Status.SENDING).count())
        time.sleep(0.02)
    worker.stop()

    # The attempts in flight and two batches queued behind them, never more.
    assert max(held) == 10 + 2 * 10
    assert DailyNotification.objects.filter(status=Status.DELIVERED).count() >= 60
