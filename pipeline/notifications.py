"""The operator's actions on one notification over the API: read it with its attempts, cancel, requeue.

Served here because a notification's attempt log belongs to ``delivery`` and the row to
``outbox``; like the admin, the pipeline sees both. Each action is one conditional
``UPDATE`` (``outbox.status``, ``delivery.requeue``): of a cancel and a worker's claim
arriving together, exactly one moves the row and the other finds it moved (a 409 here).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from django.db.models import Prefetch, QuerySet

from core.logs import log_action
from delivery.models import DeliveryAttempt
from delivery.requeue import notifications_requeue_failed
from outbox.models import DailyNotification
from outbox.status import NotificationNotFound, NotificationStatusConflict, notifications_cancel

logger = logging.getLogger(__name__)

Status = DailyNotification.Status


def notification_get(*, notification_id: uuid.UUID) -> DailyNotification:
    """The notification with its attempts (oldest first) loaded; ``NotificationNotFound`` otherwise."""
    notification = (
        DailyNotification.objects.filter(pk=notification_id)
        .prefetch_related(
            Prefetch(
                "delivery_attempts",
                queryset=DeliveryAttempt.objects.order_by("started_at", "pk"),
                to_attr="attempts_log",
            )
        )
        .first()
    )
    if notification is None:
        raise NotificationNotFound(notification_id)
    return notification


def notification_cancel(*, notification_id: uuid.UUID, actor: str) -> DailyNotification:
    """Pending → cancelled; any other status is a ``NotificationStatusConflict``."""
    return _move(
        notification_id=notification_id,
        actor=actor,
        action="cancel",
        expected=Status.PENDING,
        move=lambda rows: notifications_cancel(notifications=rows),
    )


def notification_requeue(*, notification_id: uuid.UUID, actor: str) -> DailyNotification:
    """Failed → pending, attempts 0, due now; any other status is a ``NotificationStatusConflict``."""
    return _move(
        notification_id=notification_id,
        actor=actor,
        action="requeue",
        expected=Status.FAILED,
        move=lambda rows: notifications_requeue_failed(notifications=rows),
    )


def _move(
    *,
    notification_id: uuid.UUID,
    actor: str,
    action: str,
    expected: str,
    move: Callable[[QuerySet[DailyNotification]], int],
) -> DailyNotification:
    if not move(DailyNotification.objects.filter(pk=notification_id)):
        status = (
            DailyNotification.objects.filter(pk=notification_id)
            .values_list("status", flat=True)
            .first()
        )
        if status is None:
            raise NotificationNotFound(notification_id)
        raise NotificationStatusConflict(action=action, status=status, expected=expected)
    log_action(logger, f"pipeline.notification_{action}", notification=notification_id, by=actor)
    return notification_get(notification_id=notification_id)
