"""The facts about a user that notification text is built from, shared by every generator.

Profile values come from a CSV anyone could have edited, so text values are
cleaned here once: control characters removed, blanks collapsed, length bounded.
"""

from __future__ import annotations

import functools
import re
import string
import unicodedata
from decimal import Decimal, InvalidOperation
from typing import NamedTuple, Protocol

NAME_MAX_CHARS = 60
FIELD_MAX_CHARS = 80

_BLANKS = re.compile(r"\s+")


class Profile(Protocol):
    """What a generator reads about a user: an ``accounts.User`` or a ``UserProfile``."""

    user_id: str
    name: str
    age: int
    height_cm: Decimal
    weight_kg: Decimal
    activity_level: str
    health_goals: str


class UserProfile(NamedTuple):
    """The profile fields of an ``accounts.User``, as generation reads them.

    A plain value rather than a model instance: cheaper to build by the thousand,
    and a generator (running on an event loop) cannot trigger a query through it.
    A named tuple, as every value made once per user on generation's path: it
    builds much faster than a frozen dataclass, and that path builds them by
    position (by keyword costs twice as much).
    ``rotation_slot`` is what generation picks the category with (see
    ``outbox.categories``); the generators themselves do not read it.
    """

    user_id: str
    name: str
    age: int
    height_cm: Decimal
    weight_kg: Decimal
    activity_level: str
    health_goals: str
    rotation_slot: int


PROFILE_FIELDS: tuple[str, ...] = UserProfile._fields


def clean_text(value: object, *, max_chars: int) -> str:
    """``value`` as one line of printable text of at most ``max_chars`` characters."""
    text = str(value)
    if text.isascii() and text.isprintable():
        # The common case, and the hot path when generating for many users.
        return " ".join(text.split())[:max_chars].strip()
    text = "".join(
        " " if unicodedata.category(char).startswith(("C", "Z")) else char for char in text
    )
    return _BLANKS.sub(" ", text).strip()[:max_chars].strip()


class ProfileFacts(NamedTuple):
    """A user's profile reduced to what the text talks about."""

    name: str
    first_name: str
    age: int
    age_band: str
    bmi: float | None
    bmi_band: str
    activity_level: str
    health_goal: str


def bmi_of(*, height_cm: Decimal | float, weight_kg: Decimal | float) -> float | None:
    """Body mass index (kg/m²) rounded to one decimal, or None when height or weight is unusable."""
    try:
        height_m = float(height_cm) / 100
        weight = float(weight_kg)
    except (TypeError, ValueError, InvalidOperation):
        return None
    if height_m <= 0.5 or weight <= 0:
        return None
    return round(weight / (height_m * height_m), 1)


def bmi_band_of(bmi: float | None) -> str:
    """The WHO adult band of a BMI: underweight, healthy, overweight, obese (or unknown)."""
    if bmi is None:
        return "unknown"
    if bmi < 18.5:
        return "underweight"
    if bmi < 25:
        return "healthy"
    if bmi < 30:
        return "overweight"
    return "obese"


def age_band_of(age: int) -> str:
    """A coarse age band: under 30, 30-49, 50-64, 65 and over."""
    if age < 30:
        return "under 30"
    if age < 50:
        return "30-49"
    if age < 65:
        return "50-64"
    return "65 and over"


def first_name_of(name: str) -> str:
    """The first name in a cleaned ``name``: "Alice" for "Alice Smith" and for "Smith, Alice".

    Punctuation and symbols around it are dropped ("Alice," or "(Alice)" give
    "Alice"); a name of punctuation alone gives "".
    """
    # "Family, Given" is how lists and exports often write names.
    family, comma, given = name.partition(",")
    words = (given if comma and given.strip() else family).split()
    for word in words:
        first = _strip_punctuation(word)
        if first:
            return first
    return ""


def _strip_punctuation(word: str) -> str:
    if word.isascii():
        # The common case: ASCII's punctuation and symbols are exactly these.
        return word.strip(string.punctuation)
    start, end = 0, len(word)
    while start < end and unicodedata.category(word[start])[0] in "PS":
        start += 1
    while end > start and unicodedata.category(word[end - 1])[0] in "PS":
        end -= 1
    return word[start:end]


def profile_facts(user: Profile) -> ProfileFacts:
    """The cleaned, derived facts of ``user``'s profile."""
    name = clean_text(user.name, max_chars=NAME_MAX_CHARS)
    age = int(user.age)
    bmi = bmi_of(height_cm=user.height_cm, weight_kg=user.weight_kg)
    # By position, as generation's values are (see ``UserProfile``).
    return ProfileFacts(
        name,
        first_name_of(name),
        age,
        age_band_of(age),
        bmi,
        bmi_band_of(bmi),
        activity_level_text(user.activity_level),
        health_goal_text(user.health_goals),
    )


def first_name_in(user: Profile) -> str:
    """``profile_facts(user).first_name``, for text that needs no other fact."""
    return first_name_of(clean_text(user.name, max_chars=NAME_MAX_CHARS))


# Activity levels and goals take few distinct values: each is cleaned once.


@functools.lru_cache(maxsize=1024)
def activity_level_text(value: str) -> str:
    """``profile_facts``' activity level of a stored one: cleaned, in lower case."""
    return clean_text(value, max_chars=FIELD_MAX_CHARS).lower()


@functools.lru_cache(maxsize=1024)
def health_goal_text(value: str) -> str:
    """``profile_facts``' health goal of a stored one: cleaned."""
    return clean_text(value, max_chars=FIELD_MAX_CHARS)
