"""Reads of the outbox for the API: a user's notification history."""

from __future__ import annotations

import datetime

from django.db.models import QuerySet

from outbox.models import DailyNotification


def notification_list(
    *,
    user_id: str,
    status: str | None = None,
    date_from: datetime.date | None = None,
    date_to: datetime.date | None = None,
) -> QuerySet[DailyNotification]:
    """The user's notifications, newest date first, filtered by status and date range (inclusive).

    A user has at most one row per date (the outbox's unique constraint), so the
    date alone orders the history and can serve as its keyset. An id holding a NUL
    character (which no id can) has no rows, found without a query.
    """
    if "\x00" in user_id:
        return DailyNotification.objects.none()
    notifications = DailyNotification.objects.filter(user_id=user_id).order_by("-date")
    if status is not None:
        notifications = notifications.filter(status=status)
    if date_from is not None:
        notifications = notifications.filter(date__gte=date_from)
    if date_to is not None:
        notifications = notifications.filter(date__lte=date_to)
    return notifications
