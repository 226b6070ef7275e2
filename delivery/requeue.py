"""Operator actions on the outbox: make waiting rows due now, give failed rows a fresh start.

Each is one set-based ``UPDATE`` over whatever queryset the caller selected (the
admin's ticked rows or a whole filtered list), so it stays one statement at any size.
Rows that are ``sending`` are never touched here: a worker holds them under a lease,
and a row whose lease ran out is already claimable again without help.
"""

from __future__ import annotations

import datetime

from django.db.models import QuerySet
from django.utils import timezone

from outbox.models import DailyNotification

Status = DailyNotification.Status


def notifications_retry_now(
    *, notifications: QuerySet[DailyNotification], now: datetime.datetime | None = None
) -> int:
    """Make the selected *pending* rows due immediately; returns how many rows changed.

    Only pending rows waiting for a later retry move. Rows already due (a past due
    time, or none yet: a fresh row) keep their place in the queue; delivered and
    failed rows are left alone (requeue failed rows with ``notifications_requeue_failed``).
    """
    now = now or timezone.now()
    return notifications.filter(status=Status.PENDING, next_attempt_at__gt=now).update(
        next_attempt_at=now, updated_at=now
    )


def notifications_requeue_failed(
    *, notifications: QuerySet[DailyNotification], now: datetime.datetime | None = None
) -> int:
    """Put the selected *failed* rows back to pending, due now, with attempts reset to 0.

    The attempt log (``DeliveryAttempt``) is kept; the last error is cleared so the
    list shows what happens next. Returns how many rows changed.
    """
    now = now or timezone.now()
    return notifications.filter(status=Status.FAILED).update(
        status=Status.PENDING,
        attempts=0,
        next_attempt_at=now,
        lease_expires_at=None,
        last_error="",
        updated_at=now,
    )
