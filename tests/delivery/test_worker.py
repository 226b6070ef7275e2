"""The worker in this process against the real mock endpoint: outcomes, records, retries.

What goes on the wire (body, headers, signature, connections) is the transport
contract's, in ``transport_contract.py``.
"""

from __future__ import annotations

import datetime
import gc
import itertools
import json
import threading
import time
import uuid

import pytest
from django.utils import timezone

from delivery.models import DeliveryAttempt
from delivery.transport import SendResult, Transport
from delivery.transport.base import result_answered
from outbox.models import DailyNotification
from tests.factories import notification_create, users_create

pytestmark = pytest.mark.django_db

Status = DailyNotification.Status


def notifications_create(count: int) -> list[DailyNotification]:
    return [notification_create(user=user) for user in users_create(count)]


def test_delivered_row_and_attempt_are_recorded(deliver):
    notification = notification_create()
    before = timezone.now()

    summary = deliver()

    assert (summary.delivered, summary.retrying, summary.failed) == (1, 0, 0)
    notification.refresh_from_db()
    assert notification.status == Status.DELIVERED
    assert notification.attempts == 1
    assert notification.lease_expires_at is None
    assert notification.last_error == ""
    assert before <= notification.delivered_at <= timezone.now()
    [attempt] = DeliveryAttempt.objects.filter(notification=notification)
    assert attempt.http_status == 200
    assert attempt.error == ""
    assert json.loads(attempt.response_excerpt) == {"ok": True}


def test_endpoint_with_the_secret_accepts_signed_requests(deliver, endpoint, settings):
    settings.NOTIFICATIONS_SIGNING_SECRET = "plain-secret"
    endpoint.app.secret = "plain-secret"
    notifications_create(3)

    assert deliver().delivered == 3


def test_wrong_secret_is_refused_and_fails_at_once(deliver, endpoint, settings):
    settings.NOTIFICATIONS_SIGNING_SECRET = "our-secret"
    endpoint.app.secret = "their-secret"
    notification = notification_create()

    deliver()

    notification.refresh_from_db()
    assert notification.status == Status.FAILED
    assert notification.last_error.startswith("HTTP 401")


def test_thirty_percent_503_drained_with_every_attempt_recorded(deliver, endpoint):
    endpoint.app.faults.fail_rate = 0.3
    notifications_create(60)

    deliver()

    assert set(DailyNotification.objects.values_list("status", flat=True)) == {Status.DELIVERED}
    received = endpoint.app.recorder.received
    assert sum(r["status"] == 503 for r in received) > 0
    assert DeliveryAttempt.objects.count() == len(received)
    for notification in DailyNotification.objects.all():
        attempts = DeliveryAttempt.objects.filter(notification=notification)
        assert notification.attempts == attempts.count()
        assert [a.http_status for a in attempts.order_by("started_at")][-1] == 200


def test_every_retry_carries_the_same_idempotency_key(deliver, endpoint):
    endpoint.app.faults.fail_rate = 0.3
    notifications_create(60)

    deliver()

    keys_by_body_id: dict[str, set[str]] = {}
    for request in endpoint.app.recorder.received:
        keys_by_body_id.setdefault(request["body"]["id"], set()).add(request["idempotency_key"])
    assert len(keys_by_body_id) == 60
    assert all(keys == {body_id} for body_id, keys in keys_by_body_id.items())
    assert endpoint.app.recorder.duplicates == 0


def test_permanent_400_fails_at_once(deliver, endpoint):
    endpoint.app.faults.status = 400
    notification = notification_create()

    summary = deliver()

    notification.refresh_from_db()
    assert notification.status == Status.FAILED
    assert notification.attempts == 1
    assert notification.next_attempt_at is None
    assert notification.last_error.startswith("HTTP 400")
    assert summary.failed == 1


def test_endpoint_down_keeps_rows_pending_with_attempts_recorded(deliver, endpoint, settings):
    settings.NOTIFICATIONS_BACKOFF_SECONDS = 60.0
    notifications_create(5)
    endpoint.stop()

    summary = deliver()

    assert summary.retrying == 5
    rows = DailyNotification.objects.all()
    assert {row.status for row in rows} == {Status.PENDING}
    assert all(row.next_attempt_at > timezone.now() for row in rows)
    assert all("ConnectionError" in row.last_error for row in rows)
    assert DeliveryAttempt.objects.filter(http_status__isnull=True).count() == 5


def test_endpoint_back_delivers_what_waited(deliver, endpoint, settings):
    settings.NOTIFICATIONS_BACKOFF_SECONDS = 60.0
    notifications_create(5)
    endpoint.stop()
    deliver()
    endpoint.start()
    # The retry is due later; move the clock of the rows rather than wait.
    DailyNotification.objects.update(next_attempt_at=timezone.now())

    summary = deliver()

    assert summary.delivered == 5
    assert len(endpoint.app.recorder.accepted_keys) == 5
    assert all(row.attempts == 2 for row in DailyNotification.objects.all())


def test_nothing_due_before_next_attempt_at(deliver, endpoint, settings):
    notification_create(next_attempt_at=timezone.now() + datetime.timedelta(minutes=5))

    summary = deliver()

    assert summary.settled == 0
    assert endpoint.app.recorder.received == []


def test_429_with_retry_after_sets_next_attempt(deliver, endpoint, settings):
    settings.NOTIFICATIONS_BACKOFF_SECONDS = 1.0
    endpoint.app.faults.status = 429
    endpoint.app.faults.retry_after = "120"
    notification = notification_create()
    before = timezone.now()

    deliver()

    notification.refresh_from_db()
    assert notification.status == Status.PENDING
    wait = notification.next_attempt_at - before
    assert datetime.timedelta(seconds=119) < wait < datetime.timedelta(seconds=125)


def test_retry_after_zero_does_not_burn_the_retry_budget(deliver, endpoint, settings):
    settings.NOTIFICATIONS_BACKOFF_SECONDS = 0.2
    endpoint.app.faults.status = 503
    endpoint.app.faults.retry_after = "0"
    notifications_create(5)

    summary = deliver()

    rows = DailyNotification.objects.all()
    assert {row.status for row in rows} == {Status.PENDING}
    assert {row.attempts for row in rows} == {1}
    assert len(endpoint.app.recorder.received) == 5
    assert summary.retrying == 5
    for row in rows:
        [attempt] = DeliveryAttempt.objects.filter(notification=row)
        # Backoff with at most a fifth of jitter off, counted from the answer.
        assert row.next_attempt_at - attempt.started_at >= datetime.timedelta(seconds=0.16)


def test_retry_after_zero_attempts_are_spaced_by_the_backoff(deliver, endpoint, settings):
    settings.NOTIFICATIONS_BACKOFF_SECONDS = 0.1
    endpoint.app.faults.status = 503
    endpoint.app.faults.retry_after = "0"
    notifications_create(3)
    until = time.monotonic() + 2.0
    while time.monotonic() < until:
        deliver()
        time.sleep(0.02)

    for row in DailyNotification.objects.all():
        started = [a.started_at for a in DeliveryAttempt.objects.filter(notification=row)]
        assert row.status == Status.PENDING
        assert 3 <= len(started) < 8
        for number, (before, after) in enumerate(itertools.pairwise(started), start=1):
            backoff = 0.1 * 2 ** (number - 1) * 0.8
            assert (after - before).total_seconds() >= backoff


def test_max_attempts_then_failed(deliver, endpoint, settings):
    settings.NOTIFICATIONS_MAX_ATTEMPTS = 3
    endpoint.app.faults.status = 503
    notification = notification_create()

    summary = deliver()

    notification.refresh_from_db()
    assert notification.status == Status.FAILED
    assert notification.attempts == 3
    assert DeliveryAttempt.objects.filter(notification=notification).count() == 3
    assert (summary.retrying, summary.failed) == (2, 1)


def test_timeout_is_a_retryable_network_error(deliver, endpoint, settings):
    settings.NOTIFICATIONS_BACKOFF_SECONDS = 60.0
    settings.NOTIFICATIONS_TIMEOUT_SECONDS = 0.2
    endpoint.app.faults.latency_ms = 1000
    notification = notification_create()

    deliver()

    notification.refresh_from_db()
    assert notification.status == Status.PENDING
    assert "Timeout" in notification.last_error
    assert DeliveryAttempt.objects.get().http_status is None


def stop_after_requests(endpoint, stop: threading.Event, count: int) -> None:
    """Set ``stop`` once the endpoint has had ``count`` requests (gives up after 10 s)."""
    deadline = time.monotonic() + 10
    while len(endpoint.app.recorder.received) < count and time.monotonic() < deadline:
        time.sleep(0.005)
    stop.set()


def test_a_stop_request_sends_nothing_more_and_releases_the_queue(deliver, endpoint):
    endpoint.app.faults.latency_ms = 100
    notifications_create(40)
    stop = threading.Event()
    threading.Thread(target=stop_after_requests, args=(endpoint, stop, 2), daemon=True).start()

    summary = deliver(concurrency=2, batch_size=10, stop=stop)

    assert not DailyNotification.objects.filter(status=Status.SENDING).exists()
    delivered = DailyNotification.objects.filter(status=Status.DELIVERED).count()
    assert 0 < delivered < 40
    assert summary.delivered == delivered
    assert summary.released > 0


def test_max_seconds_stops_claiming(deliver, endpoint):
    endpoint.app.faults.latency_ms = 50
    notifications_create(60)

    deliver(concurrency=1, batch_size=2, max_seconds=0.2)

    assert 0 < DailyNotification.objects.filter(status=Status.DELIVERED).count() < 60
    assert not DailyNotification.objects.filter(status=Status.SENDING).exists()


def test_forever_returns_when_stopped(deliver, endpoint):
    notifications_create(3)
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()

    summary = deliver(forever=True, stop=stop)

    assert summary.delivered == 3


def test_a_bad_url_is_a_configuration_error(deliver, settings):
    from delivery.conf import DeliverySettingsError

    settings.NOTIFICATIONS_URL = "localhost:5001/notifications"
    with pytest.raises(DeliverySettingsError, match="NOTIFICATIONS_URL"):
        deliver()


def test_nothing_is_deleted(deliver, endpoint):
    endpoint.app.faults.status = 400
    ids = {n.id for n in notifications_create(5)}

    deliver()

    assert set(DailyNotification.objects.values_list("id", flat=True)) == ids
    assert uuid.UUID(str(next(iter(ids))))  # ids are the rows' UUIDs


def test_a_body_cut_short_is_a_network_error_not_a_crash(deliver, settings):
    import socket

    listener = socket.create_server(("127.0.0.1", 0))
    settings.NOTIFICATIONS_URL = f"http://127.0.0.1:{listener.getsockname()[1]}/notifications"
    settings.NOTIFICATIONS_BACKOFF_SECONDS = 60.0

    def answer_then_hang_up() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\ncut")

    server = threading.Thread(target=answer_then_hang_up, daemon=True)
    server.start()
    notification = notification_create()

    deliver(concurrency=1)

    server.join(5)
    listener.close()
    notification.refresh_from_db()
    assert notification.status == Status.PENDING
    assert DeliveryAttempt.objects.get().http_status is None


def test_with_debug_on_the_query_log_does_not_grow_with_batches(deliver, settings):
    from django.db import connection, reset_queries

    settings.DEBUG = True
    notifications_create(40)
    reset_queries()

    deliver(batch_size=5)

    # Eight batches ran; what is left is the log of the last loop turns only.
    assert len(connection.queries) < 10


class InstantTransport(Transport):
    """Answers every attempt with 200 at once: senders far faster than the claims."""

    def send(self, notification) -> SendResult:
        return result_answered(
            notification,
            started_at=timezone.now(),
            started=time.perf_counter(),
            http_status=200,
            body=b"",
            retry_after=None,
            location=None,
        )


def test_fast_senders_do_not_let_claimed_rows_pile_up_unsettled(deliver, monkeypatch):
    from delivery import worker

    notifications_create(200)
    held: list[int] = []
    claim = worker.notifications_claim

    def slow_claim(**kwargs):
        # Slower than the senders take to finish a batch: room reopens during each claim.
        time.sleep(0.05)
        result = claim(**kwargs)
        held.append(DailyNotification.objects.filter(status=Status.SENDING).count())
        return result

    monkeypatch.setattr(worker, "notifications_claim", slow_claim)

    summary = deliver(concurrency=4, batch_size=20, transport=InstantTransport())

    assert summary.delivered == 200
    # Claimed and not settled: at most the attempts in flight and the queued batches.
    assert max(held) <= 4 + worker.QUEUED_BATCHES * 20


def test_without_a_batch_size_a_claim_takes_eight_rows_per_request_in_flight(deliver, monkeypatch):
    from delivery import worker

    notifications_create(40)
    sizes: list[int] = []
    claim = worker.notifications_claim

    def recorded_claim(**kwargs):
        sizes.append(kwargs["batch_size"])
        return claim(**kwargs)

    monkeypatch.setattr(worker, "notifications_claim", recorded_claim)

    summary = deliver(concurrency=3, batch_size=None, transport=InstantTransport())

    assert summary.delivered == 40
    assert sizes[0] == 24


class ThresholdRecordingTransport(InstantTransport):
    """Notes the collector's thresholds as each attempt is sent."""

    def __init__(self) -> None:
        self.thresholds: list[tuple[int, int, int]] = []

    def send(self, notification) -> SendResult:
        self.thresholds.append(gc.get_threshold())
        return super().send(notification)


def test_a_run_collects_young_objects_less_often_and_puts_the_pace_back(deliver):
    from delivery.worker import GC_YOUNG_THRESHOLD

    notifications_create(3)
    before = gc.get_threshold()
    transport = ThresholdRecordingTransport()

    assert deliver(transport=transport).delivered == 3

    assert {threshold[0] for threshold in transport.thresholds} == {GC_YOUNG_THRESHOLD}
    assert gc.get_threshold() == before


@pytest.mark.parametrize(("concurrency", "size"), [(1, 8), (16, 128), (250, 2000), (2000, 2000)])
def test_the_default_batch_is_eight_per_request_in_flight_up_to_two_thousand(concurrency, size):
    from delivery.worker import batch_size_default

    assert batch_size_default(concurrency) == size
