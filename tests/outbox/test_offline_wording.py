"""Offline text: goals matched on whole words, no repeated sentence, first names from any order."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from outbox.generators import OfflineGenerator, generator_for
from outbox.generators.offline import GENERAL_REMINDERS, goal_of
from outbox.generators.profile import first_name_of, profile_facts
from tests.factories import user_build
from tests.outbox.generator_contract import DATE

SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@pytest.mark.parametrize(
    ("goal", "label"),
    [
        ("Managing stress", "stress reduction"),
        ("Managing weight", "overall wellness"),
        ("Heartburn relief", "overall wellness"),
        ("Healthy aging", "healthy aging"),
        ("Anti-ageing", "healthy aging"),
        ("Heart Health", "heart health"),
        ("Weight maintenance", "weight maintenance"),
        ("Maintain my weight", "weight maintenance"),
        ("Losing weight", "weight loss"),
        ("Build muscles", "muscle gain"),
        ("Strengthen my back", "muscle gain"),
        ("Cardiovascular fitness", "heart health"),
        ("Type 2 diabetes", "blood sugar management"),
        ("Better sleep", "stress reduction"),
        ("Stressed at work", "stress reduction"),
        ("Flexibility", "flexibility"),
    ],
)
def test_goal_keywords_match_whole_words(goal: str, label: str) -> None:
    assert goal_of(goal).label == label


@pytest.mark.parametrize("activity", ["Sedentary", "Very Active", "Lightly active", "", "Low"])
def test_a_reminder_never_repeats_a_sentence(activity: str) -> None:
    generator = OfflineGenerator()
    for _ in range(300):
        user = user_build(activity_level=activity)
        body = generator.write(user=user, category="reminder", date=DATE).body
        sentences = SENTENCE_END.split(body)
        assert len(sentences) == 3, body
        assert len(set(sentences)) == 3, body


def test_an_unknown_activity_level_still_gets_general_reminders() -> None:
    user = user_build(activity_level="Sedentary")
    body = OfflineGenerator().write(user=user, category="reminder", date=DATE).body
    assert sum(sentence in body for sentence in GENERAL_REMINDERS) == 2


@settings(max_examples=100, deadline=None)
@given(
    activity=st.text(max_size=20),
    goal=st.text(max_size=40),
    category=st.sampled_from(["reminder", "insight", "tip"]),
)
def test_no_message_repeats_a_sentence(activity: str, goal: str, category: str) -> None:
    user = user_build(activity_level=activity, health_goals=goal)
    body = OfflineGenerator().write(user=user, category=category, date=DATE).body
    sentences = SENTENCE_END.split(body)
    assert len(set(sentences)) == len(sentences), body


@pytest.mark.parametrize(
    ("name", "first"),
    [
        ("Alice Smith", "Alice"),
        ("Smith, Alice", "Alice"),
        ("Smith,Alice Jane", "Alice"),
        ("Smith,", "Smith"),
        ("Alice, ", "Alice"),
        ("(Alice) Smith", "Alice"),
        ('"Alice" Smith', "Alice"),
        ("Ann-Marie O'Neil", "Ann-Marie"),
        ("... Bob", "Bob"),
        ("!!!", ""),
        ("", ""),
    ],
)
def test_first_name_of(name: str, first: str) -> None:
    assert first_name_of(name) == first


@pytest.mark.parametrize("category", ["reminder", "insight", "tip"])
def test_a_family_name_first_gives_a_clean_title(category: str) -> None:
    generator = OfflineGenerator()
    for _ in range(40):
        user = user_build(name="Smith, Alice")
        title = generator.write(user=user, category=category, date=DATE).title
        assert "Smith" not in title
        assert ",," not in title
        assert not re.search(r"[,(]\s*,", title)


def test_a_name_of_punctuation_gets_the_generic_greeting() -> None:
    assert profile_facts(user_build(name="!!!")).first_name == ""
    generator = OfflineGenerator()
    titles = [
        generator.write(user=user_build(name="!!!"), category="reminder", date=DATE).title
        for _ in range(40)
    ]
    assert not any("!" in title for title in titles)
    assert any(title.startswith("Hello,") for title in titles)


def test_the_model_gets_the_given_name(openai_settings, fake_openai) -> None:
    generator_for("openai").write(user=user_build(name="Smith, Alice"), category="tip", date=DATE)
    messages = fake_openai.requests[0].body["messages"]
    sent = json.loads(next(m["content"] for m in messages if m["role"] == "user"))
    assert sent["profile"]["first_name"] == "Alice"
