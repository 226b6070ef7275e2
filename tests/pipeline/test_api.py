"""/api/v1/notifications/<id>/ with its attempt log; cancel and requeue from every status."""

from __future__ import annotations

import datetime
import threading
import uuid

import pytest
from django.db import connection, transaction
from django.utils import timezone

from delivery.claims import notifications_claim
from delivery.models import DeliveryAttempt
from outbox.models import DailyNotification
from outbox.status import NotificationStatusConflict
from pipeline.notifications import notification_cancel
from tests.core.api_fixtures import *  # noqa: F403 (the fixtures)
from tests.core.api_fixtures import body
from tests.factories import notification_create, user_create

Status = DailyNotification.Status


def iso(value: datetime.datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def row_in(status: str) -> DailyNotification:
    earlier = timezone.now() - datetime.timedelta(minutes=5)
    return notification_create(
        user=user_create(),
        status=status,
        attempts=3,
        next_attempt_at=earlier,
        lease_expires_at=timezone.now() + datetime.timedelta(minutes=1)
        if status == Status.SENDING
        else None,
        last_error="HTTP 503",
    )


@pytest.mark.django_db
def test_one_notification_with_its_attempts_equals_the_database(api_client):
    row = notification_create(
        user=user_create(user_id="5"),
        status=Status.DELIVERED,
        attempts=2,
        expires_at=timezone.now() + datetime.timedelta(hours=8),
        delivered_at=timezone.now(),
    )
    start = timezone.now() - datetime.timedelta(minutes=3)
    attempts = [
        DeliveryAttempt.objects.create(
            notification=row,
            started_at=start + datetime.timedelta(minutes=1),
            duration_ms=120,
            http_status=200,
            response_excerpt="ok",
        ),
        DeliveryAttempt.objects.create(
            notification=row, started_at=start, duration_ms=10000, http_status=None, error="timeout"
        ),
    ]
    DeliveryAttempt.objects.create(
        notification=notification_create(), started_at=start, duration_ms=1, http_status=500
    )
    row.refresh_from_db()

    response = api_client.get(f"/api/v1/notifications/{row.id}/")

    assert response.status_code == 200
    assert body(response) == {
        "id": str(row.id),
        "date": row.date.isoformat(),
        "category": row.category,
        "title": row.title,
        "message": row.body,
        "status": row.status,
        "attempts": row.attempts,
        "generated_by": row.generated_by,
        "send_at": iso(row.send_at),
        "expires_at": iso(row.expires_at),
        "delivered_at": iso(row.delivered_at),
        "last_error": row.last_error,
        "user_id": "5",
        "attempts_log": [
            {
                "started_at": iso(attempt.started_at),
                "duration_ms": attempt.duration_ms,
                "http_status": attempt.http_status,
                "error": attempt.error,
            }
            for attempt in sorted(attempts, key=lambda attempt: attempt.started_at)
        ],
    }


@pytest.mark.django_db
@pytest.mark.parametrize("action", ["", "cancel/", "requeue/"])
def test_an_unknown_notification_is_a_404(api_client, action):
    missing = uuid.uuid4()
    method = api_client.post if action else api_client.get

    response = method(f"/api/v1/notifications/{missing}/{action}")

    assert response.status_code == 404
    assert body(response) == {"detail": f"notification {missing} not found"}


@pytest.mark.django_db
def test_a_malformed_id_is_a_404(api_client):
    assert api_client.get("/api/v1/notifications/not-a-uuid/").status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize("status", Status.values)
def test_cancel_moves_a_pending_row_only(api_client, status, caplog):
    row = row_in(status)
    caplog.set_level("INFO", logger="pipeline")

    response = api_client.post(f"/api/v1/notifications/{row.id}/cancel/")

    after = DailyNotification.objects.get(pk=row.pk)
    if status == Status.PENDING:
        assert response.status_code == 200
        assert after.status == Status.CANCELLED
        assert (after.attempts, after.last_error) == (3, "HTTP 503")
        assert body(response)["status"] == "cancelled" and body(response)["id"] == str(row.id)
        assert (
            f"action=pipeline.notification_cancel notification={row.id} by=key:health-app-backend"
            in caplog.text
        )
    else:
        assert response.status_code == 409
        assert body(response) == {
            "detail": f"cannot cancel a {status} notification: only a pending one",
            "status": status,
        }
        assert after.status == status and after.updated_at == row.updated_at
        assert "pipeline.notification_cancel" not in caplog.text


@pytest.mark.django_db
@pytest.mark.parametrize("status", Status.values)
def test_requeue_moves_a_failed_row_only_back_to_pending_due_now(api_client, status, caplog):
    row = row_in(status)
    caplog.set_level("INFO", logger="pipeline")
    before = timezone.now()

    response = api_client.post(f"/api/v1/notifications/{row.id}/requeue/")

    after = DailyNotification.objects.get(pk=row.pk)
    if status == Status.FAILED:
        assert response.status_code == 200
        assert (after.status, after.attempts, after.lease_expires_at) == (Status.PENDING, 0, None)
        assert before <= after.next_attempt_at <= timezone.now()
        assert body(response)["status"] == "pending" and body(response)["attempts"] == 0
        assert (
            f"action=pipeline.notification_requeue notification={row.id} by=key:health-app-backend"
            in caplog.text
        )
    else:
        assert response.status_code == 409
        assert body(response) == {
            "detail": f"cannot requeue a {status} notification: only a failed one",
            "status": status,
        }
        assert (after.status, after.attempts) == (status, 3)


@pytest.mark.django_db
def test_a_staff_action_is_logged_with_the_username(staff_client, caplog):
    row = row_in(Status.PENDING)
    caplog.set_level("INFO", logger="pipeline")

    assert staff_client.post(f"/api/v1/notifications/{row.id}/cancel/").status_code == 200
    assert "by=staff:operator" in caplog.text


@pytest.mark.django_db
def test_a_cancelled_row_is_not_claimed(api_client):
    row = row_in(Status.PENDING)
    DailyNotification.objects.filter(pk=row.pk).update(next_attempt_at=None)

    api_client.post(f"/api/v1/notifications/{row.id}/cancel/")

    assert notifications_claim(batch_size=10, lease_seconds=60).notifications == []


# --- a cancel racing a worker's claim (PostgreSQL: row locks, SKIP LOCKED) -----------------


def in_thread(target, results: dict, name: str) -> threading.Thread:
    """Run ``target`` on its own thread and database connection; its outcome lands in ``results``."""

    def run():
        try:
            results[name] = target()
        except NotificationStatusConflict as error:
            results[name] = error
        finally:
            connection.close()

    thread = threading.Thread(target=run, name=name)
    thread.start()
    return thread


def claimed_ids() -> set[uuid.UUID]:
    return {row.id for row in notifications_claim(batch_size=10, lease_seconds=60).notifications}


def cancel(row: DailyNotification):
    return lambda: notification_cancel(notification_id=row.id, actor="test")


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_cancel_arriving_while_a_claim_holds_the_row_waits_and_is_refused():
    row = notification_create(status=Status.PENDING)
    claim_done, release = threading.Event(), threading.Event()
    results: dict = {}

    def claim_and_hold():
        with transaction.atomic():
            ids = claimed_ids()
            claim_done.set()
            release.wait(10)
        return ids

    claimer = in_thread(claim_and_hold, results, "claim")
    assert claim_done.wait(10)
    canceller = in_thread(cancel(row), results, "cancel")
    canceller.join(0.5)
    assert canceller.is_alive(), "the cancel should wait for the claim's row lock"
    release.set()
    claimer.join(10)
    canceller.join(10)

    assert results["claim"] == {row.id}
    assert isinstance(results["cancel"], NotificationStatusConflict)
    assert DailyNotification.objects.get(pk=row.pk).status == Status.SENDING


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_claim_arriving_while_a_cancel_holds_the_row_skips_it():
    row = notification_create(status=Status.PENDING)
    cancel_done, release = threading.Event(), threading.Event()
    results: dict = {}

    def cancel_and_hold():
        with transaction.atomic():
            moved = notification_cancel(notification_id=row.id, actor="test")
            cancel_done.set()
            release.wait(10)
        return moved

    canceller = in_thread(cancel_and_hold, results, "cancel")
    assert cancel_done.wait(10)
    claimer = in_thread(claimed_ids, results, "claim")
    claimer.join(10)
    release.set()
    canceller.join(10)

    assert results["claim"] == set()
    assert results["cancel"].status == Status.CANCELLED
    assert DailyNotification.objects.get(pk=row.pk).status == Status.CANCELLED


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_cancel_and_a_claim_started_together_exactly_one_wins():
    user = user_create()
    for round_number in range(20):
        row = notification_create(
            user=user, date=datetime.date(2026, 1, 1) + datetime.timedelta(days=round_number)
        )
        start = threading.Barrier(2)
        results: dict = {}

        def together(target, start=start):
            def run():
                start.wait(10)
                return target()

            return run

        threads = [
            in_thread(together(claimed_ids), results, "claim"),
            in_thread(together(cancel(row)), results, "cancel"),
        ]
        for thread in threads:
            thread.join(10)

        claimed = results["claim"] == {row.id}
        cancelled = not isinstance(results["cancel"], NotificationStatusConflict)
        assert claimed != cancelled, f"round {round_number}: {results}"
        final = DailyNotification.objects.get(pk=row.pk).status
        assert final == (Status.SENDING if claimed else Status.CANCELLED)
        # Out of the way of the next round's claim.
        DailyNotification.objects.filter(pk=row.pk).update(status=Status.DELIVERED)
