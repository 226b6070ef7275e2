"""A user's preferences changed, and the outbox follows at once.

The change and the cancellation of the pending rows it excludes are one transaction:
a user who turns notifications off, or mutes tips, is never sent a row written before.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from django.db import transaction

from accounts.models import User
from accounts.services import user_preferences_update
from core.logs import log_action
from outbox.status import notifications_cancel, notifications_excluded_by_preferences

logger = logging.getLogger(__name__)


@transaction.atomic
def preferences_update(*, user: User, changes: Mapping[str, Any], actor: str) -> int:
    """Apply validated preference ``changes``; cancel the pending rows they exclude; returns how many.

    The log line names the fields changed and who changed them, not their values.
    """
    user_preferences_update(user=user, changes=changes)
    cancelled = notifications_cancel(notifications=notifications_excluded_by_preferences(user=user))
    log_action(
        logger,
        "outbox.preferences_updated",
        user=user.user_id,
        fields=",".join(sorted(changes)) or "-",
        cancelled=cancelled,
        by=actor,
    )
    return cancelled
