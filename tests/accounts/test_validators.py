"""The preference checks every writer shares: zone names and muted categories."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from accounts.validators import known_zones, muted_categories_validate, timezone_validate


@pytest.mark.parametrize("value", ["", "UTC", "Europe/Paris", "Etc/GMT+12", "Pacific/Kiritimati"])
def test_known_zones_and_empty_are_accepted(value):
    timezone_validate(value)


@pytest.mark.parametrize(
    "value", ["Mars/Olympus", "Europe", "europe/paris", "../etc/passwd", "UTC "]
)
def test_anything_else_is_refused(value):
    with pytest.raises(ValidationError, match="not an IANA time zone name"):
        timezone_validate(value)


def test_the_zone_list_is_read_once():
    assert known_zones() is known_zones()


@pytest.mark.parametrize("values", [[], ["tip"], ["reminder", "insight", "tip"]])
def test_distinct_known_categories_are_accepted(values):
    muted_categories_validate(values)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (["gossip"], "Unknown categories 'gossip'"),
        (["tip", "Tip"], "Unknown categories 'Tip'"),
        (["tip", "insight", "tip"], "tip listed more than once"),
        ("tip", "must be a list"),
        ({"tip": True}, "must be a list"),
    ],
)
def test_unknown_repeated_or_not_a_list_is_refused(values, message):
    with pytest.raises(ValidationError, match=message):
        muted_categories_validate(values)
