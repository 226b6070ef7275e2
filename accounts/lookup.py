"""The legacy user lookup as selectors: by id (exact) and by name (case-insensitive substring).

Every call queries the database: no module state, no cache that could go stale
after a ``load_users``. Name matching lowers both sides with unicode rules on
both databases (SQLite's own LIKE and LOWER fold ASCII only), so ``zoë``
finds ``ZOË``. On PostgreSQL, LOWER follows the database's ctype: a UTF-8
locale (C.UTF-8, en_US.UTF-8…) folds non-ASCII letters, plain ``C`` does not.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db.models import Func, QuerySet

from accounts.models import User
from core.errors import NotFoundError


class UserNotFound(NotFoundError):
    """No user has this ``user_id``."""

    def __init__(self, user_id: str) -> None:
        super().__init__(f"user {user_id!r} not found")


class UnicodeLower(Func):
    """``LOWER(expr)``; on SQLite a Python ``str.lower`` registered on the connection."""

    function = "LOWER"
    sqlite_function = "unicode_lower"

    def as_sqlite(self, compiler, connection, **extra_context):
        # Registering is idempotent and per connection: connections come and go,
        # so do it where the SQL is written rather than once at start-up.
        connection.ensure_connection()
        connection.connection.create_function(
            self.sqlite_function, 1, _lower_or_none, deterministic=True
        )
        return super().as_sql(compiler, connection, function=self.sqlite_function, **extra_context)


def _lower_or_none(value: str | None) -> str | None:
    return None if value is None else value.lower()


def user_get(*, user_id: str) -> User | None:
    """The user whose ``user_id`` is exactly ``user_id``, or None."""
    return User.objects.filter(user_id=user_id).first()


def user_get_or_raise(*, user_id: str) -> User:
    """The user whose ``user_id`` is exactly ``user_id``; ``UserNotFound`` otherwise.

    No id contains a NUL character (PostgreSQL text cannot hold one): such an id is
    not found without a query.
    """
    user = None if "\x00" in user_id else user_get(user_id=user_id)
    if user is None:
        raise UserNotFound(user_id)
    return user


def user_list(*, user_id: str | None = None, name: str | None = None) -> QuerySet[User]:
    """Users ordered by ``user_id``, filtered like the legacy lookup.

    ``user_id``: exact match when given. ``name``: case-insensitive substring of
    the name when given; an empty string matches everyone, as the legacy
    substring test did. Both given: both must match.
    """
    users = User.objects.order_by("user_id")
    if user_id is not None:
        users = users.filter(user_id=user_id)
    if name:
        users = users.alias(name_lower=UnicodeLower("name")).filter(
            name_lower__contains=name.lower()
        )
    return users


def user_as_dict(user: User) -> dict[str, Any]:
    """The user under the CSV's nine column names: ints, numbers, ISO dates."""
    return {
        "user_id": user.user_id,
        "name": user.name,
        "email": user.email,
        "signup_date": user.signup_date.isoformat(),
        "age": user.age,
        "height_cm": profile_number(user.height_cm),
        "weight_kg": profile_number(user.weight_kg),
        "activity_level": user.activity_level,
        "health_goals": user.health_goals,
    }


def profile_number(value: Decimal) -> int | float:
    """165.0 as 165 (as the CSV writes it), 60.5 as 60.5."""
    return int(value) if value == value.to_integral_value() else float(value)
