"""The checks on a user's preferences, shared by every way they are written (file, admin, API).

A zone name and a list of muted categories are stored as plain text and JSON, so
nothing in the database stops a bad value; these checks do, before it is saved.
"""

from __future__ import annotations

from functools import lru_cache
from zoneinfo import available_timezones

from django.core.exceptions import ValidationError

from accounts.models import NotificationCategory


@lru_cache(maxsize=1)
def known_zones() -> frozenset[str]:
    """The IANA zone names this machine knows (read once: listing them walks the zone files)."""
    return frozenset(available_timezones())


def timezone_validate(value: str) -> None:
    """Raise ``ValidationError`` unless ``value`` is empty (the site's zone) or an IANA name.

    A set lookup, not ``ZoneInfo(value)``: that opens the file named by the value,
    and a directory name such as "Europe" raises ``IsADirectoryError``.
    """
    if value and value not in known_zones():
        raise ValidationError(
            "%(value)r is not an IANA time zone name (e.g. Europe/Paris).",
            code="unknown_zone",
            params={"value": value},
        )


def muted_categories_validate(values: object) -> None:
    """Raise ``ValidationError`` unless ``values`` is a list of distinct category values."""
    if not isinstance(values, list):
        raise ValidationError("Muted categories must be a list.", code="not_a_list")
    known = NotificationCategory.values
    unknown = [value for value in values if value not in known]
    if unknown:
        raise ValidationError(
            "Unknown categories %(unknown)s: choose among %(known)s.",
            code="unknown_category",
            params={"unknown": ", ".join(map(repr, unknown)), "known": ", ".join(known)},
        )
    repeated = sorted({value for value in values if values.count(value) > 1})
    if repeated:
        raise ValidationError(
            "%(repeated)s listed more than once.",
            code="repeated_category",
            params={"repeated": ", ".join(repeated)},
        )
