"""Which category a user's notification has on a given date.

Each user has a stored ``rotation_slot`` (0, 1 or 2, handed out round-robin as users
are created) and walks the categories in order, one step a day. A stored slot
rather than a function of the id, because ids come in any shape and none of those
functions balances them all; round-robin slots split any user base into three
groups within one user. The choice is a pure function of (slot, date): consecutive
days differ, and a re-run or a second process picks the same category.
"""

from __future__ import annotations

import datetime

from outbox.models import DailyNotification

CATEGORIES: tuple[str, ...] = (
    DailyNotification.Category.REMINDER.value,
    DailyNotification.Category.INSIGHT.value,
    DailyNotification.Category.TIP.value,
)


def category_for(*, rotation_slot: int, date: datetime.date) -> str:
    """The category on ``date`` of a user in ``rotation_slot``; never the same two days running."""
    return CATEGORIES[(date.toordinal() + rotation_slot) % len(CATEGORIES)]
