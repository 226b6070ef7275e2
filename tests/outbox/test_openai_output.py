"""What a model answer must look like to be sent: plain, visible text within bounds."""

from __future__ import annotations

import json

import pytest

from outbox.generators import generator_for
from outbox.generators.output import UnusableOutput, text_from_output
from tests.factories import user_build
from tests.fake_openai import Reply, completion_json, notification_json
from tests.outbox.generator_contract import DATE


def answer(title: str, message: str) -> str:
    return json.dumps({"title": title, "message": message})


@pytest.mark.parametrize(
    ("title", "message"),
    [
        ("\x01\x02", "Drink water."),
        ("Water", "\u200b"),
        ("\u200b\u200c\u200d\u2060\ufeff", "Drink water."),
        ("Water", "\u200e\u200f \x85"),
        ("Water", "\n\t  \n"),
    ],
    ids=["controls-only-title", "zero-width-message", "invisible-title", "marks-only", "blank"],
)
def test_text_that_is_empty_once_cleaned_is_refused(title: str, message: str) -> None:
    with pytest.raises(UnusableOutput, match="missing or empty"):
        text_from_output(answer(title, message))


@pytest.mark.parametrize(
    ("title", "message"),
    [
        ("**Hydrate** today", "Drink water."),
        ("Water", "Drink __plenty__ of water."),
        ("# Hydration", "Drink water."),
        ("Water", "Drink water.\n## Why\nIt helps."),
        ("Water", "  # Drink water."),
        ("Water", "Read [this guide](https://example.com/water)."),
        ("Water", "See https://example.com/water for more."),
        ("Water", "See www.example.com for more."),
        ("Water", "Run `drink --now` today."),
    ],
    ids=[
        "bold",
        "underscore-emphasis",
        "heading-title",
        "heading-line",
        "indented-heading",
        "link",
        "bare-url",
        "www",
        "inline-code",
    ],
)
def test_markdown_and_links_are_refused(title: str, message: str) -> None:
    with pytest.raises(UnusableOutput, match="contains markup"):
        text_from_output(answer(title, message))


@pytest.mark.parametrize(
    ("title", "message"),
    [
        ("Water", "Questions? Write to coach@example.com any time."),
        ("Mail anna.lee+health@clinic.example.org", "Drink water."),
        ("Water", "Call us on +1 555 123 4567 for a free check."),
        ("Water", "Book a session: (555) 123-4567."),
        ("Water", "Our nurse line is 020 7946 0958."),
        ("Water", "Text 0612345678 to join the challenge."),
        ("Water", "Ring +44-20-7946-0958 today."),
        ("Water", "Dial 555.123.4567 to talk to a coach."),
    ],
    ids=["email", "email-title", "intl-phone", "us-phone", "uk-phone", "digits", "dashes", "dots"],
)
def test_contact_details_are_refused(title: str, message: str) -> None:
    with pytest.raises(UnusableOutput, match="e-mail address or phone number"):
        text_from_output(answer(title, message))


@pytest.mark.parametrize(
    "message",
    [
        "Aim for 8,000 to 10,000 steps today.",
        "150 minutes of moderate activity a week protects your heart.",
        "A BMI of 18.5-24.9 is the healthy range; yours is 22.9.",
        "Losing 0.25 to 0.5 kg a week is a pace that lasts.",
        "Sleep 7 to 9 hours; swap one soda for water to save about 1,000 kcal a week.",
        "Try 3 sets of 12 squats, then 2 x 30 seconds of plank.",
        "Your plan for 2026-11-22: a 20-minute walk at 12:30.",
        "Blood pressure under 120/80 is the target; at 45 years old, check it yearly.",
        "Drink water @ every meal.",
    ],
)
def test_numbers_of_health_advice_are_not_mistaken_for_contact_details(message: str) -> None:
    assert text_from_output(answer("Water", message)) == ("Water", message)


def test_an_answer_with_an_email_address_falls_back_to_offline(
    openai_settings, fake_openai
) -> None:
    fake_openai.respond = lambda request: Reply(
        body=completion_json(notification_json("Water", "Ask dr.smith@example.com for a plan."))
    )
    text = generator_for("openai").write(user=user_build(), category="tip", date=DATE)
    assert text.generated_by == "offline-fallback"
    assert "@" not in text.title + text.body


def test_an_answer_with_a_phone_number_falls_back_to_offline(openai_settings, fake_openai) -> None:
    fake_openai.respond = lambda request: Reply(
        body=completion_json(notification_json("Call now", "Call +1 (555) 010-0199 today."))
    )
    text = generator_for("openai").write(user=user_build(), category="tip", date=DATE)
    assert text.generated_by == "offline-fallback"
    assert "555" not in text.title + text.body


def test_invisible_characters_are_removed_from_usable_text() -> None:
    assert text_from_output(answer("\ufeffWa\u200bter", "Drink\u2060 water.\x01")) == (
        "Water",
        "Drink water.",
    )


def test_a_title_on_several_lines_is_folded_onto_one() -> None:
    title, _ = text_from_output(answer("Stay\nhydrated\r\n today", "Drink water."))
    assert title == "Stay hydrated today"


@pytest.mark.parametrize(
    "message",
    [
        "Aim for 8 glasses today; #1 rule: keep a bottle in sight.",
        "A 5*3 minute walk plan: short, frequent and easy.",
        "Drink water (about 2 litres) today.",
        "Snake_case words and C# are not markdown.",
    ],
)
def test_plain_text_that_resembles_markup_is_kept(message: str) -> None:
    assert text_from_output(answer("Water", message)) == ("Water", message)


def test_a_markdown_answer_falls_back_to_offline(openai_settings, fake_openai) -> None:
    fake_openai.respond = lambda request: Reply(
        body=completion_json(notification_json("**Water**", "Drink **more** water."))
    )
    text = generator_for("openai").write(user=user_build(), category="tip", date=DATE)
    assert text.generated_by == "offline-fallback"
    assert "**" not in text.title + text.body


def test_an_invisible_answer_falls_back_to_offline(openai_settings, fake_openai) -> None:
    fake_openai.respond = lambda request: Reply(
        body=completion_json('{"title": "\\u0001\\u0002", "message": "\\u200b"}')
    )
    text = generator_for("openai").write(user=user_build(), category="tip", date=DATE)
    assert text.generated_by == "offline-fallback"
    assert text.title.strip() and text.body.strip()
