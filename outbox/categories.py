"""Which category a user's notification has on a given date.

The rotation is a pure function of (user id, date), so a re-run or a second
process picks the same category without reading anything back. Each user has a
fixed offset in 0..2 and walks the three categories in order, one step a day:
two consecutive days therefore always differ.

Balance over the user base comes from the offsets being spread evenly. A hash of
the id alone is not enough for small bases: 1,000 hashed ids land within one
percentage point of a third only about a third of the time (the standard deviation
of each count is ~15 users). Real ids are nearly always a counter, possibly with a
prefix (``"17"``, ``"u17"``, ``"user-0017"``), so the offset is the trailing number
modulo 3, shifted by a stable hash of the prefix: any run of consecutive ids is
balanced to within one user. Ids without a trailing number fall back to the hash
alone, which is balanced within 1% from a few tens of thousands of users on.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import re

from outbox.models import DailyNotification

CATEGORIES: tuple[str, ...] = (
    DailyNotification.Category.REMINDER.value,
    DailyNotification.Category.INSIGHT.value,
    DailyNotification.Category.TIP.value,
)

_TRAILING_NUMBER = re.compile(r"^(.*?)(\d+)$", re.DOTALL)


def _stable_hash(text: str) -> int:
    """A hash that is the same in every process (Python's ``hash`` is salted per process)."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def rotation_offset(user_id: str) -> int:
    """The user's fixed place in the three-day rotation (0, 1 or 2)."""
    match = _TRAILING_NUMBER.match(user_id)
    if match is None:
        return _stable_hash(user_id) % len(CATEGORIES)
    prefix, number = match.groups()
    return (_prefix_offset(prefix) + int(number)) % len(CATEGORIES)


@functools.lru_cache(maxsize=256)
def _prefix_offset(prefix: str) -> int:
    # Ids share a handful of prefixes (often none): hash each once.
    return _stable_hash(prefix) % len(CATEGORIES)


def category_for(*, user_id: str, date: datetime.date) -> str:
    """The category of ``user_id``'s notification on ``date``; never the same two days running."""
    return CATEGORIES[(date.toordinal() + rotation_offset(user_id)) % len(CATEGORIES)]
