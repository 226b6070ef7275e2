"""Which category a user's notification has on a given date, among the ones they did not mute.

Each user has a stored ``rotation_slot`` (0, 1 or 2, handed out round-robin as users
are created) and walks the categories they allow in order, one step a day:
``allowed[(date ordinal + slot) % len(allowed)]``. A stored slot rather than a
function of the id, because ids come in any shape and none of those functions
balances them all; round-robin slots split any user base into three groups within
one user, so with nothing muted each category gets a third of the users each day.

The walk alone never repeats a category on consecutive days while the mutes stay
the same. When they changed since yesterday it can land on yesterday's category;
then the choice steps to the next allowed one, so yesterday's category (read by
generation with the chunk, one query) is never repeated while two or more are
allowed. The choice is a pure function of (slot, date, mutes, yesterday's category):
a re-run or a second process picks the same one.
"""

from __future__ import annotations

import datetime
from collections.abc import Collection

from outbox.models import DailyNotification

CATEGORIES: tuple[str, ...] = (
    DailyNotification.Category.REMINDER.value,
    DailyNotification.Category.INSIGHT.value,
    DailyNotification.Category.TIP.value,
)


def category_for(
    *,
    rotation_slot: int,
    date: datetime.date,
    muted: Collection[str] = (),
    yesterday: str | None = None,
) -> str | None:
    """The category on ``date`` of a user in ``rotation_slot``; None when every one is muted.

    Never a muted category; never ``yesterday`` (the category of the user's row for
    the day before, if any) while two or more categories are allowed.
    """
    allowed = (
        [category for category in CATEGORIES if category not in muted] if muted else CATEGORIES
    )
    if not allowed:
        return None
    index = (date.toordinal() + rotation_slot) % len(allowed)
    if allowed[index] == yesterday and len(allowed) > 1:
        index = (index + 1) % len(allowed)
    return allowed[index]
