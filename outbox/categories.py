"""Which category a user's notification has on a given date.

Each user has a stored ``rotation_slot`` (0, 1 or 2), given round-robin as users
are created (``accounts.User.rotation_slot``), and walks the three categories in
order, one step a day: the category is
``CATEGORIES[(date.toordinal() + rotation_slot) % 3]``.

Why a stored slot rather than something computed from the user id: ids come in
any shape (counters, prefixed counters, uuids, emails, random numbers), and no
function of the id alone balances all of them; a hash leaves 1,000 users outside
one percentage point of a third most of the time, and a trailing counter is
skewed by ids that are all multiples of three. Slots handed out round-robin
split any user base into three groups that differ by at most one user, so each
day's split of categories is exact to one user whatever the ids look like.
Consecutive days differ by construction (the index moves by one a day), and the
choice is a pure function of (slot, date), so a re-run or a second process picks
the same category for a user without reading anything back.
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
