"""The offline generator: personalized text from templates, no network, always available.

Text is deterministic per (user, category, date) and shaped by the profile: the
BMI band, the activity level, the health goal and the age band. Wording varies:
each part of a message is picked from several phrasings by a stable hash of the
user and date, so neighbours with the same profile rarely read the same sentence.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from outbox.generators.base import (
    OFFLINE_GENERATED_BY,
    TITLE_MAX_CHARS,
    GeneratedText,
    NotificationGenerator,
)
from outbox.generators.profile import (
    Profile,
    ProfileFacts,
    activity_level_text,
    first_name_in,
    health_goal_text,
    profile_facts,
)
from outbox.models import DailyNotification

Category = DailyNotification.Category


@dataclass(frozen=True, slots=True)
class Goal:
    """What the text says about one kind of health goal."""

    label: str
    habits: tuple[str, ...]
    tips: tuple[str, ...]
    insight: str


GOALS: dict[str, Goal] = {
    "weight_loss": Goal(
        label="weight loss",
        habits=(
            "Fill half your plate with vegetables at lunch and dinner today.",
            "Drink a glass of water before each meal; thirst is easily mistaken for hunger.",
            "Take a brisk 15-minute walk after your largest meal.",
        ),
        tips=(
            "Protein keeps you full longer: a portion at each meal makes a calorie deficit easier to hold.",
            "Liquid calories add up quietly; swapping one sugary drink a day for water saves about 1,000 kcal a week.",
            "Eating slowly gives fullness signals about 20 minutes to reach the brain, which curbs second helpings.",
            "Sleep matters for weight: short nights raise appetite hormones the next day.",
        ),
        insight="a steady deficit of 300 to 500 kcal a day typically means losing 0.25 to 0.5 kg a week, a pace that tends to last.",
    ),
    "weight_maintenance": Goal(
        label="weight maintenance",
        habits=(
            "Keep your usual meal times today; regular rhythm makes portions easier to judge.",
            "Take the stairs whenever you can today.",
            "Weigh in at the same time of day once a week rather than daily.",
        ),
        tips=(
            "Maintaining weight is mostly about routine: regular meals and regular movement beat strict rules.",
            "A weekly weigh-in at the same time of day shows the trend without daily noise.",
            "Strength training twice a week preserves muscle, which keeps your energy needs steady.",
        ),
        insight="small weekly checks and a consistent routine are what keep a weight stable over years.",
    ),
    "muscle_gain": Goal(
        label="muscle gain",
        habits=(
            "Include a source of protein in every meal today.",
            "Fit in a set of push-ups or squats during a break.",
            "Plan tonight's sleep: muscles are rebuilt while you rest.",
        ),
        tips=(
            "Spreading protein across three or four meals supports muscle building better than one large serving.",
            "Progressive overload, adding a little weight or a few reps each week, is what drives muscle growth.",
            "Muscles grow between sessions: give each muscle group 48 hours before training it hard again.",
        ),
        insight="about 1.6 g of protein per kg of body weight a day and progressive strength training are the two main levers.",
    ),
    "heart": Goal(
        label="heart health",
        habits=(
            "Take a 20-minute walk at a pace where talking is possible but singing is not.",
            "Choose a handful of nuts or a piece of fruit over a salty snack today.",
            "Take five slow, deep breaths before your next meal.",
        ),
        tips=(
            "150 minutes of moderate activity a week lowers the risk of heart disease substantially.",
            "Cutting back on salt helps keep blood pressure in check; most of it comes from bread and prepared foods.",
            "Oily fish, nuts and olive oil provide fats that support healthy cholesterol levels.",
        ),
        insight="regular moderate exercise, less salt and not smoking are the best-proven ways to protect your heart.",
    ),
    "blood_sugar": Goal(
        label="blood sugar management",
        habits=(
            "A 10-minute walk after meals helps your body use the sugar from that meal.",
            "Pair carbohydrates with protein or fibre at lunch today.",
            "Keep water, not juice, at hand today.",
        ),
        tips=(
            "Fibre from vegetables, legumes and whole grains slows how fast sugar enters the blood.",
            "Muscles take up glucose when they work, so short walks after meals blunt blood sugar spikes.",
            "Regular meal times make blood sugar more predictable than skipping and then eating large meals.",
        ),
        insight="movement after meals and fibre-rich foods are among the simplest ways to steady blood sugar.",
    ),
    "endurance": Goal(
        label="endurance",
        habits=(
            "Keep most of today's training easy enough to hold a conversation.",
            "Refuel with carbohydrate and protein within an hour of your session.",
            "Drink regularly through the day, not only during training.",
        ),
        tips=(
            "Around 80% of endurance training is best done at an easy, conversational pace.",
            "Increase your weekly training volume by no more than about 10% to avoid overuse injuries.",
            "Sleep is when endurance adaptations happen; 7 to 9 hours makes training count.",
        ),
        insight="easy volume builds the aerobic base, and recovery days are when the fitness gains appear.",
    ),
    "aging": Goal(
        label="healthy aging",
        habits=(
            "Stand on one leg while you brush your teeth today to train your balance.",
            "Call or meet a friend today; social contact is good for long-term health.",
            "Add a short strength exercise, such as sit-to-stands from a chair.",
        ),
        tips=(
            "Strength training two days a week slows the muscle loss that comes with age.",
            "Balance exercises reduce the risk of falls, one of the main causes of injury later in life.",
            "Learning something new keeps the brain active; variety matters as much as effort.",
        ),
        insight="strength, balance and social connection are the habits most tied to independence later in life.",
    ),
    "stress": Goal(
        label="stress reduction",
        habits=(
            "Take a five-minute break outdoors today, without your phone.",
            "Try four slow breaths: in for four counts, out for six.",
            "Set a screen-off time an hour before bed tonight.",
        ),
        tips=(
            "Slow breathing with a longer exhale activates the body's calming response within minutes.",
            "Even 10 minutes of walking can lift mood and lower tension.",
            "A regular sleep schedule makes stress easier to handle the next day.",
        ),
        insight="regular movement, steady sleep and short daily breaks lower stress more than occasional long rests.",
    ),
    "flexibility": Goal(
        label="flexibility",
        habits=(
            "Spend five minutes stretching your hips and hamstrings today.",
            "Stretch after activity, when muscles are warm.",
            "Roll your shoulders and neck gently after long screen time.",
        ),
        tips=(
            "Hold static stretches for about 30 seconds; bouncing adds strain without benefit.",
            "Flexibility improves with frequency: short daily sessions beat one long weekly one.",
            "Dynamic movements such as leg swings are a better warm-up than static stretching.",
        ),
        insight="a few minutes of stretching on most days improves range of motion within weeks.",
    ),
    "wellness": Goal(
        label="overall wellness",
        habits=(
            "Aim for a glass of water with every meal today.",
            "Add one extra portion of vegetables or fruit today.",
            "Get some daylight in the morning; it helps set your sleep rhythm.",
        ),
        tips=(
            "Adults need 7 to 9 hours of sleep; a consistent bedtime is the easiest way to get there.",
            "Five portions of fruit and vegetables a day supply fibre, vitamins and minerals.",
            "Breaking up long sitting with a short walk every hour is good for circulation and focus.",
        ),
        insight="sleep, movement and a varied diet together shape overall health more than any single change.",
    ),
}

# The first matching keyword decides; order puts specific goals before generic ones.
# A keyword matches whole words ("aging" is not in "managing", "heart" not in
# "heartburn"); one ending in "*" matches the start of a word ("maint*" covers
# maintain and maintenance).
GOAL_KEYWORDS: tuple[tuple[str, str], ...] = (
    ("maint*", "weight_maintenance"),
    ("loss", "weight_loss"),
    ("lose", "weight_loss"),
    ("losing", "weight_loss"),
    ("muscle*", "muscle_gain"),
    ("strength*", "muscle_gain"),
    ("heart", "heart"),
    ("cardio*", "heart"),
    ("blood pressure", "heart"),
    ("diabet*", "blood_sugar"),
    ("sugar", "blood_sugar"),
    ("endurance", "endurance"),
    ("marathon*", "endurance"),
    ("running", "endurance"),
    ("aging", "aging"),
    ("ageing", "aging"),
    ("stress*", "stress"),
    ("sleep*", "stress"),
    ("mental", "stress"),
    ("flexib*", "flexibility"),
    ("mobility", "flexibility"),
    ("yoga", "flexibility"),
)


def _keyword_pattern(keyword: str) -> re.Pattern[str]:
    if keyword.endswith("*"):
        return re.compile(rf"\b{re.escape(keyword[:-1])}")
    return re.compile(rf"\b{re.escape(keyword)}\b")


_GOAL_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (_keyword_pattern(keyword), key) for keyword, key in GOAL_KEYWORDS
)

ACTIVITY_REMINDERS: dict[str, tuple[str, ...]] = {
    "low": (
        "Stand up and move for two minutes every hour you sit.",
        "A 10-minute walk is an easy way to add movement to a quieter day.",
        "Park a little further away or get off one stop early today.",
    ),
    "moderate": (
        "Keep your momentum: fit 30 minutes of movement into your day.",
        "Mix it up today with a different activity than usual.",
        "Add a few minutes of brisk pace to your usual walk.",
    ),
    "high": (
        "Plan some recovery today: easy stretching or a lighter session helps your body adapt.",
        "Top up fluids before, during and after training today.",
        "Listen to your body today; persistent soreness is a signal to ease off.",
    ),
}
ACTIVITY_NOTES: dict[str, tuple[str, ...]] = {
    "low": (
        "small additions of daily movement will make the biggest difference",
        "every extra walk counts more than you might think",
        "short bouts of movement spread through the day add up",
    ),
    "moderate": (
        "you have a solid base to build on",
        "one more active session a week is a realistic next step",
        "you are close to the 150 weekly minutes most guidelines recommend",
    ),
    "high": (
        "recovery and fuelling matter as much as the training itself",
        "rest days are part of the plan, not a break from it",
        "sleep and protein decide how much of your training sticks",
    ),
}
OTHER_ACTIVITY_NOTES = (
    "steady daily movement supports any goal",
    "regular movement is the habit that supports every other one",
)
ACTIVITY_SENTENCES = (
    "With a {level} activity level, {note}.",
    "Your activity level is {level}: {note}.",
    "At your {level} activity level, {note}.",
)
GOAL_SENTENCES = (
    "For {label}, {insight}",
    "Toward your {label} goal, {insight}",
    "On {label}: {insight}",
)
GENERAL_REMINDERS: tuple[str, ...] = (
    "Keep a bottle of water in sight and refill it when it is empty.",
    "Aim for a regular bedtime tonight; steady sleep supports energy and appetite.",
    "Take a short walk in daylight; it lifts mood and helps you sleep.",
    "Pause for a few slow breaths between tasks today.",
)
BMI_SENTENCES: dict[str, tuple[str, ...]] = {
    "underweight": (
        "Your profile puts your BMI at about {bmi}, below the 18.5 to 24.9 range considered healthy for adults.",
        "At a BMI of about {bmi}, nutrient-dense meals and strength work can help you build up.",
    ),
    "healthy": (
        "Your profile puts your BMI at about {bmi}, inside the 18.5 to 24.9 range considered healthy for adults.",
        "A BMI of about {bmi} is in the healthy range; the habits that got you here are worth keeping.",
    ),
    "overweight": (
        "Your profile puts your BMI at about {bmi}, slightly above the 18.5 to 24.9 healthy range.",
        "At a BMI of about {bmi}, even a 5% weight change brings measurable health benefits.",
    ),
    "obese": (
        "Your profile puts your BMI at about {bmi}, in a range where weight affects long-term health.",
        "At a BMI of about {bmi}, losing 5 to 10% of body weight markedly lowers blood pressure and blood sugar.",
    ),
    "unknown": ("Add your height and weight to your profile to get insights about your BMI.",),
}
AGE_SENTENCES: dict[str, str] = {
    "under 30": "Habits built in your twenties tend to last, so today's routine is an investment.",
    "30-49": "From your thirties on, muscle mass slowly declines unless you train it.",
    "50-64": "From 50, regular checks of blood pressure and blood sugar are worth scheduling.",
    "65 and over": "After 65, balance and strength work are the best protection against falls.",
}

REMINDER_TITLES = (
    "{first}, your daily reminder",
    "A small step for today",
    "{first}, time for a healthy habit",
    "Today's reminder for your {goal} goal",
)
INSIGHT_TITLES = (
    "{first}, an insight from your profile",
    "What your profile says today",
    "Your {goal} in numbers",
    "A closer look at your health, {first}",
)
TIP_TITLES = (
    "Tip of the day: {goal}",
    "{first}, a tip for your {goal} goal",
    "Did you know? ({goal})",
    "Learn something new about {goal}",
)
TIP_OPENERS = ("", "Did you know? ", "Today's tip: ", "Worth knowing: ")
TIP_CLOSERS = (
    "",
    "Small, repeatable changes beat big ones.",
    "Try it this week and see how it feels.",
    "One habit at a time is enough.",
)


@functools.lru_cache(maxsize=1024)
def goal_of(health_goal: str) -> Goal:
    """The goal text matching a free-text health goal; overall wellness when none matches."""
    lowered = health_goal.lower()
    for pattern, key in _GOAL_PATTERNS:
        if pattern.search(lowered):
            return GOALS[key]
    return GOALS["wellness"]


class OfflineGenerator(NotificationGenerator):
    """Deterministic template text; the default without an API key and the OpenAI fallback."""

    name = OFFLINE_GENERATED_BY

    def __init__(self, *, generated_by: str = OFFLINE_GENERATED_BY) -> None:
        self.generated_by = generated_by

    def write(self, *, user: Profile, category: str, date: datetime.date) -> GeneratedText:
        pick = _Picker(f"{user.user_id}|{date.isoformat()}|{category}")
        goal = goal_of(health_goal_text(user.health_goals))
        # Only an insight reads the whole profile (its BMI and age band): the other
        # categories find the few facts they need for a fraction of the cost.
        if category == Category.INSIGHT:
            facts = profile_facts(user)
            first_name = facts.first_name
            titles, body = INSIGHT_TITLES, self._insight(facts, goal, pick)
        else:
            first_name = first_name_in(user)
            if category == Category.REMINDER:
                activity_level = activity_level_text(user.activity_level)
                titles, body = REMINDER_TITLES, self._reminder(activity_level, goal, pick)
            else:
                titles, body = TIP_TITLES, self._tip(goal, pick)
        title = pick(titles).format(first=first_name or "Hello", goal=goal.label)
        # By position, as generation's values are (see ``UserProfile``).
        return GeneratedText(title[:1].upper() + title[1:TITLE_MAX_CHARS], body, self.generated_by)

    @staticmethod
    def _reminder(activity_level: str, goal: Goal, pick: _Picker) -> str:
        # An activity level we have no sentences for (e.g. "sedentary") draws from
        # the general reminders, like the last sentence: never the same one twice.
        habit = pick(goal.habits)
        activity = pick.other(
            ACTIVITY_REMINDERS.get(activity_level, GENERAL_REMINDERS), taken=(habit,)
        )
        general = pick.other(GENERAL_REMINDERS, taken=(habit, activity))
        return " ".join(part for part in (habit, activity, general) if part)

    @staticmethod
    def _insight(facts: ProfileFacts, goal: Goal, pick: _Picker) -> str:
        bmi = pick(BMI_SENTENCES[facts.bmi_band]).format(bmi=facts.bmi)
        note = pick(ACTIVITY_NOTES.get(facts.activity_level, OTHER_ACTIVITY_NOTES))
        activity = pick(ACTIVITY_SENTENCES).format(
            level=facts.activity_level or "unknown", note=note
        )
        goal_sentence = pick(GOAL_SENTENCES).format(label=goal.label, insight=goal.insight)
        parts = [bmi, activity, goal_sentence]
        if pick((True, False)):
            parts.append(AGE_SENTENCES[facts.age_band])
        return " ".join(parts)

    @staticmethod
    def _tip(goal: Goal, pick: _Picker) -> str:
        tip = pick(TIP_OPENERS) + pick(goal.tips)
        return f"{tip} {pick(TIP_CLOSERS)}".strip()


class _Picker:
    """Picks options for one seed, the same ones in every process: each pick reads 16 bits of one hash."""

    def __init__(self, seed: str) -> None:
        digest = hashlib.blake2b(seed.encode(), digest_size=32).digest()
        self._numbers = iter(struct.unpack(">16H", digest))

    def __call__(self, options: Sequence):
        return options[next(self._numbers) % len(options)]

    def other(self, options: tuple[str, ...], *, taken: tuple[str | None, ...]) -> str | None:
        """One of ``options`` that is not in ``taken``; None when every one is."""
        # Usually none is taken (the parts come from different sentences): no list to build.
        if not set(taken).isdisjoint(options):
            options = tuple(option for option in options if option not in taken)
        return self(options) if options else None
