"""purge_outbox on PostgreSQL leaves a row another transaction holds (e.g. a requeue under way)."""

from __future__ import annotations

import datetime
import threading

import pytest
from django.db import connection, transaction

from outbox.models import DailyNotification
from pipeline.retention import notifications_purge
from tests.factories import notification_create

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
