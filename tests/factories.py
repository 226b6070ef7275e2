"""Small factories for test data: plain functions with keyword overrides."""

from __future__ import annotations

import datetime
import itertools
from decimal import Decimal

from accounts.models import User
from outbox.models import DailyNotification

_user_ids = itertools.count(1)


def user_build(**overrides) -> User:
    """An unsaved app user with plausible profile values; any field can be overridden."""
    number = next(_user_ids)
    fields = {
        "user_id": f"u{number}",
        "name": f"Test User {number}",
        "email": f"user{number}@example.com",
        "signup_date": datetime.date(2021, 1, 1),
        "age": 30 + number % 40,
        "height_cm": Decimal("170"),
        "weight_kg": Decimal("70"),
        "activity_level": ("Low", "Moderate", "High")[number % 3],
        "health_goals": ("Weight Loss", "Heart Health", "Muscle Gain")[number % 3],
        # Set here: the model's default counts the table, a query per user built.
        "rotation_slot": number % 3,
    }
    fields.update(overrides)
    return User(**fields)


def user_create(**overrides) -> User:
    """A saved app user (see ``user_build``)."""
    user = user_build(**overrides)
    user.save(force_insert=True)
    return user


def users_create(count: int, **overrides) -> list[User]:
    """``count`` saved app users, inserted in one statement."""
    return User.objects.bulk_create([user_build(**overrides) for _ in range(count)])


def notification_create(*, user: User | None = None, **overrides) -> DailyNotification:
    """A saved pending notification for today's date unless told otherwise."""
    fields = {
        "user": user or user_create(),
        "date": datetime.date(2026, 11, 22),
        "category": DailyNotification.Category.TIP,
        "title": "Drink water",
        "body": "A glass of water before each meal helps.",
        "generated_by": "offline",
    }
    fields.update(overrides)
    return DailyNotification.objects.create(**fields)
