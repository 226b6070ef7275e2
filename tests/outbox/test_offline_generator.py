"""The offline generator: deterministic, personalized from the profile, varied, bounded."""

from __future__ import annotations

import datetime
from collections import Counter
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from outbox.categories import category_for
from outbox.generators import NotificationGenerator, OfflineGenerator
from outbox.generators.offline import ACTIVITY_NOTES, ACTIVITY_REMINDERS, GOALS
from outbox.generators.profile import age_band_of, bmi_band_of, bmi_of, clean_text
from tests.factories import user_build
from tests.outbox.generator_contract import DATE, GeneratorContract


class TestOfflineGeneratorContract(GeneratorContract):
    @pytest.fixture
    def generator(self) -> NotificationGenerator:
        return OfflineGenerator()


def test_same_user_and_date_give_the_same_text() -> None:
    user = user_build()
    first = OfflineGenerator().write(user=user, category="insight", date=DATE)
    again = OfflineGenerator().write(user=user, category="insight", date=DATE)
    assert first == again


def test_a_thousand_users_do_not_all_read_the_same_sentence() -> None:
    generator = OfflineGenerator()
    users = [user_build() for _ in range(1000)]
    bodies = Counter(
        generator.write(
            user=u, category=category_for(rotation_slot=u.rotation_slot, date=DATE), date=DATE
        ).body
        for u in users
    )
    assert len(bodies) >= 200
    assert bodies.most_common(1)[0][1] <= 30


@pytest.mark.parametrize("category", ["reminder", "insight", "tip"])
def test_wording_varies_between_users_with_the_same_profile(category: str) -> None:
    generator = OfflineGenerator()
    users = [user_build(name="Sam Lee", age=40, activity_level="Moderate") for _ in range(300)]
    bodies = {generator.write(user=u, category=category, date=DATE).body for u in users}
    assert len(bodies) >= 20


def test_insight_carries_the_bmi_from_height_and_weight() -> None:
    user = user_build(height_cm=Decimal("180"), weight_kg=Decimal("100"))
    text = OfflineGenerator().write(user=user, category="insight", date=DATE)
    assert "30.9" in text.body


def test_insight_speaks_to_the_activity_level() -> None:
    user = user_build(activity_level="High")
    text = OfflineGenerator().write(user=user, category="insight", date=DATE)
    assert any(note in text.body for note in ACTIVITY_NOTES["high"])


def test_tip_is_about_the_users_goal() -> None:
    user = user_build(health_goals="Heart Health")
    text = OfflineGenerator().write(user=user, category="tip", date=DATE)
    assert any(tip in text.body for tip in GOALS["heart"].tips)


def test_reminder_suits_a_low_activity_level() -> None:
    user = user_build(activity_level="Low")
    text = OfflineGenerator().write(user=user, category="reminder", date=DATE)
    assert any(sentence in text.body for sentence in ACTIVITY_REMINDERS["low"])


def test_text_changes_from_one_day_to_the_next() -> None:
    user = user_build()
    generator = OfflineGenerator()
    days = [DATE + datetime.timedelta(days=n) for n in range(6)]
    bodies = {
        generator.write(
            user=user, category=category_for(rotation_slot=user.rotation_slot, date=d), date=d
        ).body
        for d in days
    }
    assert len(bodies) == 6


@pytest.mark.parametrize(
    ("bmi", "band"),
    [
        (None, "unknown"),
        (17.0, "underweight"),
        (18.5, "healthy"),
        (24.9, "healthy"),
        (25.0, "overweight"),
        (29.9, "overweight"),
        (30.0, "obese"),
    ],
)
def test_bmi_bands(bmi: float | None, band: str) -> None:
    assert bmi_band_of(bmi) == band


@pytest.mark.parametrize(
    ("age", "band"), [(18, "under 30"), (30, "30-49"), (50, "50-64"), (65, "65 and over")]
)
def test_age_bands(age: int, band: str) -> None:
    assert age_band_of(age) == band


def test_bmi_of_an_impossible_height_is_unknown() -> None:
    assert bmi_of(height_cm=Decimal("0"), weight_kg=Decimal("70")) is None


def test_clean_text_removes_control_characters_and_bounds_length() -> None:
    assert clean_text("Ann\x00\n\tLee\u200b  X" * 20, max_chars=12) == "Ann Lee XAnn"


@settings(max_examples=60, deadline=None)
@given(
    name=st.text(max_size=200),
    goal=st.text(max_size=200),
    activity=st.text(max_size=50),
    age=st.integers(min_value=0, max_value=120),
    height=st.decimals(min_value=0, max_value=999, places=1),
    weight=st.decimals(min_value=0, max_value=999, places=1),
    category=st.sampled_from(["reminder", "insight", "tip"]),
)
def test_any_profile_gives_bounded_printable_text(
    name: str, goal: str, activity: str, age: int, height: Decimal, weight: Decimal, category: str
) -> None:
    user = user_build(
        name=name,
        health_goals=goal,
        activity_level=activity,
        age=age,
        height_cm=height,
        weight_kg=weight,
    )
    text = OfflineGenerator().write(user=user, category=category, date=DATE)
    assert 0 < len(text.title) <= 120
    assert 0 < len(text.body) <= 600
    assert text.title.isprintable()
    assert text.body.isprintable()
