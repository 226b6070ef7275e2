"""Category rotation: deterministic, never repeated on consecutive days, balanced each day."""

from __future__ import annotations

import datetime
import random
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from outbox.categories import CATEGORIES, category_for

dates = st.dates(min_value=datetime.date(2000, 1, 1), max_value=datetime.date(2100, 1, 1))
user_ids = st.text(min_size=1, max_size=64)
prefixes = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-_", max_size=6)


def counts_within_one_percent(ids: list[str], date: datetime.date) -> bool:
    counts = Counter(category_for(user_id=user_id, date=date) for user_id in ids)
    third = len(ids) / 3
    return all(abs(counts[category] - third) <= 0.01 * len(ids) for category in CATEGORIES)


@given(user_id=user_ids, date=dates)
def test_consecutive_days_never_share_a_category(user_id: str, date: datetime.date) -> None:
    today = category_for(user_id=user_id, date=date)
    tomorrow = category_for(user_id=user_id, date=date + datetime.timedelta(days=1))
    assert today in CATEGORIES
    assert today != tomorrow


@given(user_id=user_ids, date=dates)
def test_three_consecutive_days_cover_every_category(user_id: str, date: datetime.date) -> None:
    days = [date + datetime.timedelta(days=n) for n in range(3)]
    assert {category_for(user_id=user_id, date=day) for day in days} == set(CATEGORIES)


def test_choice_is_the_same_in_every_process() -> None:
    # Pinned values: a salted hash (Python's hash()) would change them between runs.
    date = datetime.date(2026, 11, 22)
    got = {user_id: category_for(user_id=user_id, date=date) for user_id in PINNED}
    assert got == PINNED


PINNED = {
    "1": "tip",
    "2": "reminder",
    "3": "insight",
    "10": "tip",
    "42": "insight",
    "u1": "reminder",
    "u2": "insight",
    "user-0007": "tip",
    "alice": "tip",
    "bob": "tip",
    "00042": "insight",
    "x": "insight",
}


@settings(max_examples=50, deadline=None)
@given(
    prefix=prefixes,
    start=st.integers(min_value=0, max_value=10**9),
    count=st.integers(min_value=1000, max_value=3000),
    width=st.integers(min_value=0, max_value=10),
    date=dates,
)
def test_consecutive_ids_are_balanced_each_day(
    prefix: str, start: int, count: int, width: int, date: datetime.date
) -> None:
    ids = [f"{prefix}{number:0{width}d}" for number in range(start, start + count)]
    assert counts_within_one_percent(ids, date)


@settings(max_examples=5, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**32), date=dates)
def test_ids_without_a_number_are_balanced_in_a_large_base(seed: int, date: datetime.date) -> None:
    rng = random.Random(seed)
    ids = [f"{rng.getrandbits(64):x}-member" for _ in range(60_000)]
    assert counts_within_one_percent(ids, date)
