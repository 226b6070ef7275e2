"""Reading one (zone, send time) group's users a chunk at a time, for generation.

Two reads a chunk, both keyed on the partial index ``accounts_user_send_group_idx``
(timezone, send_time, user_id WHERE notifications_enabled): the next keys with
whether each already has the window's row (on PostgreSQL an index-only walk with
one probe of the unique (user, date) index per user, so a re-run that finds every
row present reads no profile), then the profiles of those without one, each with
the category of their row for the day before (the rotation avoids it). Where no
user of the chunk before had a row (the day's first run), the profiles are read
at once (``profiles_after``): one read a chunk.

Plain SQL written once per shape, not querysets: a run reads a few thousand
chunks, most of them small groups, and compiling a queryset cost more than the
database took to answer it (``bench/generate.py`` measures the run).

Whether a user has the date's row is one short walk of the unique (user, date)
index per user, and the query is written so that the planner has no other
choice. A new date is one its statistics have not seen (the day's rows are being
written; a large table is re-analyzed only every few days), so PostgreSQL believes
it rare: asked ``date = D`` it would rather read every row of the date through the
date index, hashed once per chunk or once per user, a million reads each once the
day is written. So the probe asks for the user's latest row on or before the date
(newest first, one row), which only the (user, date) index answers without a sort
or a scan, as a scalar subquery in the select list (never hashed, never pulled up
into a join), and compares its date.
"""

from __future__ import annotations

import datetime
import json
from decimal import Decimal
from functools import lru_cache
from typing import NamedTuple

from django.db import DEFAULT_DB_ALIAS, connections

from accounts.models import User
from outbox.generators.profile import PROFILE_FIELDS, UserProfile
from outbox.models import DailyNotification
from outbox.planning import SendGroup

_ONE_DAY = datetime.timedelta(days=1)


def users_after(
    *, group: SendGroup, date: datetime.date, after: str | None, count: int
) -> list[tuple[str, bool]]:
    """The next ``count`` keys of ``group`` after ``after``, each with whether it has ``date``'s row."""
    connection = connections[DEFAULT_DB_ALIAS]
    sql = _keys_sql(null_time=group.send_time is None, first=after is None)
    day = connection.ops.adapt_datefield_value(date)
    params = [day, day, *_group_params(group, connection)]
    if after is not None:
        params.append(after)
    params.append(count)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [(user_id, bool(has_row)) for user_id, has_row in cursor.fetchall()]


def users_without_a_row(
    *, group: SendGroup, date: datetime.date, after: str | None, upto: str
) -> list[WalkedUser]:
    """``group``'s users in (``after``, ``upto``] with no row for ``date``, in key order."""
    sql = _profiles_sql(null_time=group.send_time is None, first=after is None, counted=False)
    return _profiles_read(sql=sql, group=group, date=date, after=after, bound=upto).users


def profiles_after(
    *, group: SendGroup, date: datetime.date, after: str | None, count: int
) -> ProfilesRead:
    """The next ``count`` users of ``group`` after ``after`` with their profiles, in one read.

    For chunks where every user is expected to need a row (the day's first run):
    it saves the keys' read of ``users_after`` that ``users_without_a_row`` follows.
    """
    sql = _profiles_sql(null_time=group.send_time is None, first=after is None, counted=True)
    return _profiles_read(sql=sql, group=group, date=date, after=after, bound=count)


class WalkedUser(NamedTuple):
    """A user without the date's row, as the walk reads them."""

    profile: UserProfile
    muted: list[str]
    # The category of the user's row for the day before, or None.
    yesterday: str | None


class ProfilesRead(NamedTuple):
    """A read of profiles: how many users it read, the last key, those without the date's row."""

    read: int
    last: str | None
    users: list[WalkedUser]


def _profiles_read(
    *, sql: str, group: SendGroup, date: datetime.date, after: str | None, bound: str | int
) -> ProfilesRead:
    connection = connections[DEFAULT_DB_ALIAS]
    day = connection.ops.adapt_datefield_value(date)
    yesterday = connection.ops.adapt_datefield_value(date - _ONE_DAY)
    params = [day, yesterday, day, *_group_params(group, connection)]
    if after is not None:
        params.append(after)
    params.append(bound)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    # By position, as generation's values are (see ``UserProfile``).
    users = [
        WalkedUser(
            UserProfile(
                user_id,
                name,
                age,
                _decimal(height_cm),
                _decimal(weight_kg),
                activity_level,
                health_goals,
                rotation_slot,
            ),
            _muted_list(muted),
            latest,
        )
        for (
            user_id,
            name,
            age,
            height_cm,
            weight_kg,
            activity_level,
            health_goals,
            rotation_slot,
            muted,
            latest,
        ) in rows
        if latest != _HAS_ROW
    ]
    return ProfilesRead(read=len(rows), last=rows[-1][0] if rows else None, users=users)


# Nearly every user mutes nothing: their stored list needs no decoding.
_NOTHING_MUTED = ("[]", b"[]", None)


def _muted_list(stored: object) -> list[str]:
    """The muted categories as stored: JSON text (as raw SQL reads it) or a decoded list."""
    if stored in _NOTHING_MUTED:
        return []
    if isinstance(stored, str | bytes):
        return json.loads(stored)
    return list(stored)


def _decimal(value: object) -> Decimal:
    # PostgreSQL answers a Decimal; SQLite stores the column as a number.
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _group_params(group: SendGroup, connection) -> list:
    params: list = [group.timezone]
    if group.send_time is not None:
        params.append(connection.ops.adapt_timefield_value(group.send_time))
    return params


def _columns() -> dict[str, str]:
    quote = connections[DEFAULT_DB_ALIAS].ops.quote_name
    user = User._meta
    notification = DailyNotification._meta
    return {
        "vendor": connections[DEFAULT_DB_ALIAS].vendor,
        "users": quote(user.db_table),
        "rows": quote(notification.db_table),
        "pk": quote(user.pk.column),
        "enabled": quote(user.get_field("notifications_enabled").column),
        "zone": quote(user.get_field("timezone").column),
        "time": quote(user.get_field("send_time").column),
        "muted": quote(user.get_field("muted_categories").column),
        "row_user": quote(notification.get_field("user").column),
        "row_date": quote(notification.get_field("date").column),
        "row_category": quote(notification.get_field("category").column),
        "profile": ", ".join(f"u.{quote(user.get_field(name).column)}" for name in PROFILE_FIELDS),
    }


def _group_where(*, null_time: bool, first: bool) -> str:
    """The group's predicate, spelled as the partial index is (a bare boolean) so it is used."""
    c = _columns()
    time_test = f"u.{c['time']} IS NULL" if null_time else f"u.{c['time']} = %s"
    after = "" if first else f" AND u.{c['pk']} > %s"
    return f"u.{c['enabled']} AND u.{c['zone']} = %s AND {time_test}{after}"


def _group_order(c: dict[str, str]) -> str:
    """Key order within a group, spelled as the partial index is ordered.

    Zone and send time are fixed within a group, so this is the key order. Spelled
    by the key alone, PostgreSQL cannot use the index's order after ``send_time IS
    NULL`` (not an equality to it): it would read the rest of the default-time
    group and sort it for every chunk, a walk quadratic in the group's size.
    """
    return f"u.{c['zone']}, u.{c['time']}, u.{c['pk']}"


def _row_probe(value: str) -> str:
    """A scalar subquery: ``value`` of the user's latest row on or before a date, or NULL.

    ``value`` may compare ``n.date`` with dates of its own; the parameter after them
    bounds the search. Ordered by date, newest first, one row: the walk
    of the unique (user, date) index backwards from the date, the only index that
    can answer it without a sort or a scan.
    """
    c = _columns()
    return (
        f"(SELECT {value} FROM {c['rows']} n "
        f"WHERE n.{c['row_user']} = u.{c['pk']} AND n.{c['row_date']} <= %s "
        f"ORDER BY n.{c['row_date']} DESC LIMIT 1)"
    )


def _is_on(c: dict[str, str]) -> str:
    """The probe's value: whether the row found is the date's (NULL without a row)."""
    return f"CASE WHEN n.{c['row_date']} = %s THEN 1 ELSE 0 END"


@lru_cache(maxsize=8)
def _keys_sql(*, null_time: bool, first: bool) -> str:
    c = _columns()
    return (
        f"SELECT u.{c['pk']}, {_row_probe(_is_on(c))} "
        f"FROM {c['users']} u WHERE {_group_where(null_time=null_time, first=first)} "
        f"ORDER BY {_group_order(c)} LIMIT %s"
    )


# What the profiles' probe answers for a user who has the date's row: no category is
# spelled so, and one probe tells both that and the day before's category.
_HAS_ROW = "="


@lru_cache(maxsize=8)
def _profiles_sql(*, null_time: bool, first: bool, counted: bool) -> str:
    """The profiles of a group's users after a key: so many (``counted``), or up to a key."""
    c = _columns()
    order = _group_order(c)
    bound = f"ORDER BY {order} LIMIT %s" if counted else f"AND u.{c['pk']} <= %s ORDER BY {order}"
    latest = (
        f"CASE WHEN n.{c['row_date']} = %s THEN '{_HAS_ROW}' "
        f"WHEN n.{c['row_date']} = %s THEN n.{c['row_category']} END"
    )
    return (
        f"SELECT {c['profile']}, u.{c['muted']}, {_row_probe(latest)} "
        f"FROM {c['users']} u WHERE {_group_where(null_time=null_time, first=first)} {bound}"
    )
