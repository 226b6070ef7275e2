"""purge_outbox on PostgreSQL: a row another transaction holds (e.g. a requeue under way) is left,
and workers purging side by side delete exactly what one would."""

from __future__ import annotations

import datetime
import threading

import pytest
from django.db import connection, transaction
from django.utils import timezone

from delivery.models import DeliveryAttempt
from outbox.models import DailyNotification
from pipeline.retention import notifications_purge
from tests.factories import notification_create, user_create

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]

TODAY = datetime.date(2026, 11, 22)
OLD = datetime.date(2026, 1, 1)


def test_a_locked_row_is_skipped_and_purged_by_the_next_run() -> None:
    held, *_others = [
        notification_create(date=OLD, status=DailyNotification.Status.FAILED) for _ in range(4)
    ]
    locked, release = threading.Event(), threading.Event()

    def hold_the_row() -> None:
        try:
            with transaction.atomic():
                DailyNotification.objects.select_for_update().get(pk=held.pk)
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_the_row)
    holder.start()
    assert locked.wait(10)
    try:
        summary = notifications_purge(older_than_days=90, today=TODAY)
    finally:
        release.set()
        holder.join(10)
    assert summary.notifications == 3
    assert list(DailyNotification.objects.values_list("pk", flat=True)) == [held.pk]
    assert notifications_purge(older_than_days=90, today=TODAY).notifications == 1


def test_workers_side_by_side_purge_exactly_the_final_old_rows_and_their_attempts() -> None:
    Status = DailyNotification.Status
    cutoff = TODAY - datetime.timedelta(days=90)
    doomed, kept = set(), set()
    for day in (OLD, OLD + datetime.timedelta(days=1), cutoff - datetime.timedelta(days=1)):
        for status in Status.values:
            for _ in range(3):
                row = notification_create(user=user_create(), date=day, status=status)
                (doomed if status in DailyNotification.FINAL_STATUSES else kept).add(row.pk)
    kept |= {notification_create(date=cutoff, status=Status.DELIVERED).pk}
    DeliveryAttempt.objects.bulk_create(
        DeliveryAttempt(notification_id=pk, started_at=timezone.now(), duration_ms=5)
        for pk in doomed | kept
        for _ in range(2)
    )
    summary = notifications_purge(older_than_days=90, today=TODAY, batch_size=2, workers=3)
    assert (summary.notifications, summary.attempts) == (len(doomed), 2 * len(doomed))
    assert summary.complete
    assert set(DailyNotification.objects.values_list("pk", flat=True)) == kept
    assert sorted(DeliveryAttempt.objects.values_list("notification_id", flat=True)) == sorted(
        [pk for pk in kept for _ in range(2)]
    )
