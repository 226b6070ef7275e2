"""Status moves that the outbox itself makes: pending rows cancelled.

Each move is one conditional ``UPDATE … WHERE status = 'pending'`` over whatever rows the
caller selected, so a row a delivery worker claims at that moment (``sending``) is left
to the worker: the database decides which of the two statements moved it, never both.
"""

from __future__ import annotations

import datetime
import uuid

from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import User
from core.errors import ConflictError, NotFoundError
from outbox.models import DailyNotification

Status = DailyNotification.Status


class NotificationNotFound(NotFoundError):
    """No notification has this id."""

    def __init__(self, notification_id: uuid.UUID) -> None:
        super().__init__(f"notification {notification_id} not found")


class NotificationStatusConflict(ConflictError):
    """The notification is not in the status the move starts from."""

    def __init__(self, *, action: str, status: str, expected: str) -> None:
        super().__init__(
            f"cannot {action} a {status} notification: only a {expected} one",
            extra={"status": status},
        )


def notifications_cancel(
    *, notifications: QuerySet[DailyNotification], now: datetime.datetime | None = None
) -> int:
    """Cancel the selected rows that are pending; returns how many moved."""
    now = now or timezone.now()
    return notifications.filter(status=Status.PENDING).update(
        status=Status.CANCELLED, next_attempt_at=None, updated_at=now
    )


def notifications_excluded_by_preferences(*, user: User) -> QuerySet[DailyNotification]:
    """The user's rows their preferences now exclude: all when disabled, else the muted categories'."""
    notifications = DailyNotification.objects.filter(user=user)
    if user.notifications_enabled:
        notifications = notifications.filter(category__in=user.muted_categories)
    return notifications
