"""Claims: which rows a claim takes, the lease as a token, and disjoint claims on PostgreSQL."""

from __future__ import annotations

import datetime
import threading

import pytest
from django.db import connection
from django.utils import timezone

from delivery.claims import (
    Settlement,
    notifications_claim,
    notifications_due_count,
    notifications_release,
    notifications_settle,
)
from outbox.models import DailyNotification
from tests.factories import notification_create, users_create

Status = DailyNotification.Status
MINUTE = datetime.timedelta(minutes=1)


@pytest.fixture
def rows(db):
    """One row in each state a claim must tell apart, by name."""
    now = timezone.now()
    users = iter(users_create(7))
    return {
        "fresh": notification_create(user=next(users)),
        "due_retry": notification_create(user=next(users), next_attempt_at=now - MINUTE),
        "later_retry": notification_create(user=next(users), next_attempt_at=now + MINUTE),
        "expired_lease": notification_create(
            user=next(users), status=Status.SENDING, lease_expires_at=now - MINUTE
        ),
        "live_lease": notification_create(
            user=next(users), status=Status.SENDING, lease_expires_at=now + MINUTE
        ),
        "delivered": notification_create(user=next(users), status=Status.DELIVERED),
        "failed": notification_create(user=next(users), status=Status.FAILED),
    }


def test_claim_takes_due_rows_and_expired_leases_only(rows):
    claim = notifications_claim(batch_size=100, lease_seconds=60)

    assert {n.id for n in claim.notifications} == {
        rows[name].id for name in ("fresh", "due_retry", "expired_lease")
    }


def test_due_count_matches_what_a_claim_takes(rows):
    assert notifications_due_count() == 3


def test_claimed_rows_are_sending_with_the_lease(rows):
    claim = notifications_claim(batch_size=100, lease_seconds=60)

    for notification in DailyNotification.objects.filter(
        id__in=[n.id for n in claim.notifications]
    ):
        assert notification.status == Status.SENDING
        assert notification.lease_expires_at == claim.lease


def test_a_second_claim_gets_nothing_while_the_lease_lives(rows):
    notifications_claim(batch_size=100, lease_seconds=60)

    assert notifications_claim(batch_size=100, lease_seconds=60).notifications == []


def test_claim_respects_the_batch_size(db):
    for user in users_create(5):
        notification_create(user=user)

    assert len(notifications_claim(batch_size=3, lease_seconds=60).notifications) == 3


def test_claim_loads_users_in_one_query(db, django_assert_num_queries):
    for user in users_create(5):
        notification_create(user=user)

    # The claim statement (in a savepoint here) and one select with the users joined.
    with django_assert_num_queries(4):
        claim = notifications_claim(batch_size=10, lease_seconds=60)
        names = [n.user.name for n in claim.notifications]
    assert len(names) == 5


def test_settle_writes_only_rows_the_lease_still_holds(db):
    notification = notification_create()
    old = notifications_claim(
        batch_size=1, lease_seconds=60, now=timezone.now() - 2 * MINUTE
    )  # its lease ran out a minute ago
    new = notifications_claim(batch_size=1, lease_seconds=60)
    assert [n.id for n in new.notifications] == [notification.id]

    written = notifications_settle(
        lease=old.lease,
        settlements=[Settlement(notification_id=notification.id, status=Status.FAILED)],
    )

    assert written == set()
    notification.refresh_from_db()
    assert (notification.status, notification.lease_expires_at) == (Status.SENDING, new.lease)


def test_settle_counts_the_attempt_and_clears_the_lease(db):
    notification = notification_create(attempts=2)
    claim = notifications_claim(batch_size=1, lease_seconds=60)
    later = timezone.now() + MINUTE

    written = notifications_settle(
        lease=claim.lease,
        settlements=[
            Settlement(
                notification_id=notification.id,
                status=Status.PENDING,
                next_attempt_at=later,
                last_error="HTTP 503: busy",
            )
        ],
    )

    assert written == {notification.id}
    notification.refresh_from_db()
    assert notification.attempts == 3
    assert notification.status == Status.PENDING
    assert notification.next_attempt_at == later
    assert notification.lease_expires_at is None
    assert notification.last_error == "HTTP 503: busy"


def test_release_gives_rows_back_to_pending(db):
    notification = notification_create()
    claim = notifications_claim(batch_size=1, lease_seconds=60)

    assert notifications_release(lease=claim.lease, ids=[notification.id]) == 1

    notification.refresh_from_db()
    assert (notification.status, notification.lease_expires_at, notification.attempts) == (
        Status.PENDING,
        None,
        0,
    )


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_claims_are_disjoint_across_connections():
    for user in users_create(40):
        notification_create(user=user)
    claimed: list[list] = []
    inside = threading.Barrier(2)

    def claim_in_own_connection() -> None:
        try:
            inside.wait()
            claimed.append(
                [n.id for n in notifications_claim(batch_size=25, lease_seconds=60).notifications]
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=claim_in_own_connection) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    first, second = claimed
    assert set(first).isdisjoint(second)
    assert len(first) + len(second) == 40


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_claim_skips_rows_locked_by_another_transaction():
    from django.db import connections, transaction

    for user in users_create(3):
        notification_create(user=user)
    locked_ids: list = []
    holding = threading.Event()
    release = threading.Event()

    def hold_two_rows_locked() -> None:
        try:
            with transaction.atomic():
                locked_ids.extend(
                    DailyNotification.objects.select_for_update().values_list("id", flat=True)[:2]
                )
                holding.set()
                release.wait(10)
        finally:
            connections["default"].close()

    holder = threading.Thread(target=hold_two_rows_locked)
    holder.start()
    holding.wait(10)
    try:
        claim = notifications_claim(batch_size=10, lease_seconds=60)
    finally:
        release.set()
        holder.join()

    assert len(claim.notifications) == 1
    assert claim.notifications[0].id not in locked_ids
