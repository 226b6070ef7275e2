"""The worker and the delivery window, against the real mock endpoint.

Never before ``send_at``, never at or after ``expires_at``; a row past its window
becomes expired, a row its user no longer wants becomes cancelled, neither is sent.
"""

from __future__ import annotations

import datetime
import io
import time

import pytest
from django.core.management import call_command
from django.utils import timezone

from delivery.models import DeliveryAttempt
from outbox.models import DailyNotification
from tests.factories import notification_create, user_create

pytestmark = pytest.mark.django_db

Status = DailyNotification.Status
SECOND = datetime.timedelta(seconds=1)
HOUR = datetime.timedelta(hours=1)


def received_ids(endpoint) -> list[str]:
    return [request["body"]["id"] for request in endpoint.app.recorder.received]


def test_a_row_due_in_an_hour_stays_pending_through_a_deliver_run(deliver, endpoint):
    now = timezone.now()
    later = notification_create(send_at=now + HOUR, expires_at=now + 14 * HOUR)
    due = notification_create(send_at=now - HOUR, expires_at=now + 12 * HOUR)

    summary = deliver()

    assert received_ids(endpoint) == [str(due.id)]
    assert summary.delivered == 1
    later.refresh_from_db()
    assert (later.status, later.attempts, later.lease_expires_at) == (Status.PENDING, 0, None)
    assert not DeliveryAttempt.objects.filter(notification=later).exists()


def test_a_row_past_its_window_is_expired_at_claim_not_sent_and_counted(deliver, endpoint):
    now = timezone.now()
    notification = notification_create(
        send_at=now - 14 * HOUR,
        expires_at=now - HOUR,
        attempts=3,
        next_attempt_at=now - 2 * HOUR,
        last_error="HTTP 503: busy",
    )

    summary = deliver()

    assert endpoint.app.recorder.received == []
    assert (summary.delivered, summary.retrying, summary.failed, summary.expired) == (0, 0, 0, 1)
    notification.refresh_from_db()
    assert notification.status == Status.EXPIRED
    assert (notification.attempts, notification.last_error) == (3, "HTTP 503: busy")


def test_a_backlog_of_closed_windows_does_not_hold_back_open_ones(deliver, endpoint):
    now = timezone.now()
    for _ in range(12):
        notification_create(send_at=now - 14 * HOUR, expires_at=now - HOUR)
    due = notification_create(send_at=now - HOUR, expires_at=now + HOUR)

    # Batches of 5: the first claims hold closed windows only.
    summary = deliver(batch_size=5)

    assert (summary.expired, summary.delivered) == (12, 1)
    assert received_ids(endpoint) == [str(due.id)]


def test_a_retry_that_would_fall_past_the_window_expires_the_row(deliver, endpoint, settings):
    settings.NOTIFICATIONS_BACKOFF_SECONDS = 3600.0
    endpoint.app.faults.status = 503
    now = timezone.now()
    notification = notification_create(send_at=now - HOUR, expires_at=now + 30 * 60 * SECOND)

    summary = deliver()

    assert (summary.retrying, summary.failed, summary.expired) == (0, 0, 1)
    notification.refresh_from_db()
    assert notification.status == Status.EXPIRED
    assert notification.attempts == 1
    assert notification.next_attempt_at is None
    assert notification.last_error.startswith("HTTP 503")
    assert DeliveryAttempt.objects.filter(notification=notification).count() == 1


def test_a_retry_inside_the_window_stays_a_retry(deliver, endpoint, settings):
    settings.NOTIFICATIONS_BACKOFF_SECONDS = 60.0
    endpoint.app.faults.status = 503
    now = timezone.now()
    notification = notification_create(send_at=now - HOUR, expires_at=now + HOUR)

    summary = deliver()

    assert (summary.retrying, summary.expired) == (1, 0)
    notification.refresh_from_db()
    assert notification.status == Status.PENDING
    assert notification.next_attempt_at < notification.expires_at


@pytest.mark.slow
def test_retries_across_the_window_end_expire_and_no_attempt_starts_at_or_after_it(
    deliver, endpoint, settings
):
    settings.NOTIFICATIONS_BACKOFF_SECONDS = 0.3
    endpoint.app.faults.status = 503
    expires_at = timezone.now() + 1.5 * SECOND
    notification = notification_create(send_at=timezone.now() - HOUR, expires_at=expires_at)
    expired = 0
    until = time.monotonic() + 6
    while time.monotonic() < until:
        expired += deliver().expired
        notification.refresh_from_db()
        if notification.status != Status.PENDING:
            break
        time.sleep(0.02)

    assert notification.status == Status.EXPIRED
    assert expired == 1
    assert notification.last_error.startswith("HTTP 503")
    attempts = list(DeliveryAttempt.objects.filter(notification=notification))
    # Backoff 0.3, 0.6, 1.2 s (jitter takes at most a fifth off): two or three fit.
    assert 2 <= len(attempts) == notification.attempts == len(endpoint.app.recorder.received)
    assert all(attempt.started_at < expires_at for attempt in attempts)


@pytest.mark.slow
@pytest.mark.parametrize(("status", "outcome"), [(200, Status.DELIVERED), (503, Status.EXPIRED)])
def test_an_attempt_in_flight_when_the_window_closes_finishes_and_is_recorded(
    deliver, endpoint, settings, status, outcome
):
    settings.NOTIFICATIONS_BACKOFF_SECONDS = 0.0
    endpoint.app.faults.status = status
    endpoint.app.faults.latency_ms = 800
    expires_at = timezone.now() + 0.4 * SECOND
    notification = notification_create(send_at=timezone.now() - HOUR, expires_at=expires_at)

    deliver()

    notification.refresh_from_db()
    assert notification.status == outcome
    assert notification.attempts == 1
    [attempt] = DeliveryAttempt.objects.filter(notification=notification)
    assert attempt.http_status == status
    assert attempt.started_at < expires_at
    assert len(endpoint.app.recorder.received) == 1


@pytest.mark.slow
def test_a_row_whose_window_closes_while_it_waits_in_the_queue_is_expired_unsent(deliver, endpoint):
    endpoint.app.faults.latency_ms = 800
    now = timezone.now()
    # One sender: the second row (by user id) waits behind the first one's answer.
    first = notification_create(
        user=user_create(user_id="w1"), send_at=now - HOUR, expires_at=now + HOUR
    )
    waiting = notification_create(
        user=user_create(user_id="w2"), send_at=now - HOUR, expires_at=now + 0.4 * SECOND
    )

    summary = deliver(concurrency=1)

    assert received_ids(endpoint) == [str(first.id)]
    assert (summary.delivered, summary.expired) == (1, 1)
    waiting.refresh_from_db()
    assert (waiting.status, waiting.attempts) == (Status.EXPIRED, 0)
    assert not DeliveryAttempt.objects.filter(notification=waiting).exists()


def test_a_row_of_a_user_who_opted_out_is_cancelled_not_sent(deliver, endpoint):
    opted_out = notification_create(user=user_create(notifications_enabled=False))
    wanted = notification_create()

    summary = deliver()

    assert received_ids(endpoint) == [str(wanted.id)]
    assert (summary.delivered, summary.cancelled) == (1, 1)
    opted_out.refresh_from_db()
    assert (opted_out.status, opted_out.attempts) == (Status.CANCELLED, 0)


def test_a_row_whose_category_was_muted_is_cancelled_not_sent(deliver, endpoint):
    muted = notification_create(user=user_create(muted_categories=["tip"]), category="tip")
    other = notification_create(user=user_create(muted_categories=["tip"]), category="insight")

    summary = deliver()

    assert received_ids(endpoint) == [str(other.id)]
    assert (summary.delivered, summary.cancelled) == (1, 1)
    muted.refresh_from_db()
    assert muted.status == Status.CANCELLED


def test_the_payload_carries_the_rows_window(deliver, endpoint):
    send_at = datetime.datetime(2026, 11, 22, 7, 0, 0, tzinfo=datetime.UTC)
    notification_create(send_at=send_at, expires_at=timezone.now() + HOUR)
    no_expiry = notification_create(send_at=send_at, expires_at=None)

    deliver()

    bodies = {request["body"]["id"]: request["body"] for request in endpoint.app.recorder.received}
    assert len(bodies) == 2
    assert {body["send_at"] for body in bodies.values()} == {"2026-11-22T07:00:00Z"}
    assert bodies[str(no_expiry.id)]["expires_at"] is None
    [expiring] = [body for key, body in bodies.items() if key != str(no_expiry.id)]
    assert expiring["expires_at"].endswith("Z")


def test_the_deliver_command_line_counts_expired_and_cancelled(delivery_settings, endpoint):
    now = timezone.now()
    notification_create()
    notification_create(send_at=now - 14 * HOUR, expires_at=now - HOUR)
    notification_create(user=user_create(notifications_enabled=False))
    out = io.StringIO()

    call_command("runpipeline", "deliver", stdout=out)

    assert out.getvalue().startswith(
        "delivered 1, retrying 0, failed 0, expired 1, cancelled 1 in "
    )
