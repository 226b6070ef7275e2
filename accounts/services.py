"""Writes to a user: their preferences."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from accounts.models import User

PREFERENCE_FIELDS = ("notifications_enabled", "muted_categories", "send_time", "timezone")


def user_preferences_update(*, user: User, changes: Mapping[str, Any]) -> User:
    """Set the given preference fields (already validated) and save only those.

    The outbox's rows already written are not touched here: ``outbox.preferences``
    wraps this to cancel what the new preferences exclude.
    """
    unknown = set(changes) - set(PREFERENCE_FIELDS)
    if unknown:
        raise ValueError(f"not preference fields: {sorted(unknown)}")
    for field, value in changes.items():
        setattr(user, field, value)
    if changes:
        user.save(update_fields=list(changes))
    return user
