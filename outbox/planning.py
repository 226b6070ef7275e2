"""Which users a generate run is for: planned per (zone, send time) group, never per user.

A million users share a few hundred (timezone, send_time) pairs. The plan reads
those groups with their sizes in one query (over the partial index
``accounts_user_send_group_idx``), works out each group's delivery window(s) once
with ``outbox.window``, and hands generation a list of (group, window) to walk, each
group's users then read by keyset on the same index. No zone is looked up per user.

Without a date, a group is in the plan for each local date (today, tomorrow) whose
window opens within ``NOTIFICATIONS_GENERATE_AHEAD_HOURS`` and has not closed. With
a date, every group is, for that date, except those whose window has closed: a
late message is never written.
"""

from __future__ import annotations

import datetime
import logging
import zoneinfo
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Count

from accounts.models import User
from core.logs import log_action
from outbox.window import Window, window_for, windows_in_horizon, zone_for

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SendGroup:
    """Enabled users sharing a stored zone and send time ("" and None mean the site's)."""

    timezone: str
    send_time: datetime.time | None
    users: int


@dataclass(frozen=True, slots=True)
class PlannedWindow:
    """One group's window to generate: the rows of ``window.date`` for the group's users."""

    group: SendGroup
    window: Window


@dataclass(frozen=True, slots=True)
class GenerationPlan:
    """What a run is to write, earliest send time first, and the users it leaves out."""

    now: datetime.datetime
    windows: tuple[PlannedWindow, ...]
    disabled: int
    closed: int
    unknown_zone: int

    @property
    def users(self) -> int:
        """The user-dates in the plan (a user may have two: local today and tomorrow)."""
        return sum(planned.group.users for planned in self.windows)


def generation_plan(*, now: datetime.datetime, date: datetime.date | None = None) -> GenerationPlan:
    """The plan at ``now``: the horizon rule without ``date``, that local date with one.

    Two queries whatever the number of users or groups: the groups, and the count
    of disabled users. Settings are read here, at call time.
    """
    # Users with "" and users with TIME_ZONE are in one zone, a null send time and the
    # default one are one time: each (zone, time) has its windows computed once.
    windows_of: dict[tuple[str, datetime.time], list[Window] | None] = {}
    planned: list[PlannedWindow] = []
    closed = unknown_zone = 0
    for group in send_groups():
        key = (
            group.timezone or settings.TIME_ZONE,
            group.send_time or settings.NOTIFICATIONS_SEND_TIME,
        )
        if key not in windows_of:
            windows_of[key] = _windows(zone_name=key[0], send_time=key[1], now=now, date=date)
        windows = windows_of[key]
        if windows is None:
            unknown_zone += group.users
            log_action(
                logger,
                "outbox.unknown_zone",
                "users skipped: fix their timezone",
                level=logging.ERROR,
                timezone=repr(group.timezone),
                users=group.users,
            )
            continue
        for window in windows:
            if window.closed(now=now):
                closed += group.users
            else:
                planned.append(PlannedWindow(group=group, window=window))
    # Earliest first: the users nearest their send time are served before the others.
    planned.sort(
        key=lambda item: (item.window.send_at, item.group.timezone, str(item.group.send_time))
    )
    return GenerationPlan(
        now=now,
        windows=tuple(planned),
        disabled=User.objects.filter(notifications_enabled=False).count(),
        closed=closed,
        unknown_zone=unknown_zone,
    )


def send_groups() -> list[SendGroup]:
    """The enabled users' (timezone, send_time) groups and their sizes, in one query."""
    rows = (
        User.objects.filter(notifications_enabled=True)
        .order_by()
        .values_list("timezone", "send_time")
        .annotate(users=Count("pk"))
    )
    return [SendGroup(timezone=zone, send_time=at, users=users) for zone, at, users in rows]


def _windows(
    *,
    zone_name: str,
    send_time: datetime.time,
    now: datetime.datetime,
    date: datetime.date | None,
) -> list[Window] | None:
    """The windows of one (zone, send time) for the plan; None when the zone is unknown.

    With ``date``, its window even when closed (the plan counts it as closed).
    """
    try:
        zone = zone_for(zone_name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        # Loading and the admin refuse such names; a value written some other way
        # must cost its users a day, not every other user theirs.
        return None
    deliver_until = settings.NOTIFICATIONS_DELIVER_UNTIL
    if date is not None:
        return [window_for(day=date, send_time=send_time, deliver_until=deliver_until, zone=zone)]
    return windows_in_horizon(
        now=now,
        send_time=send_time,
        deliver_until=deliver_until,
        zone=zone,
        ahead=datetime.timedelta(hours=settings.NOTIFICATIONS_GENERATE_AHEAD_HOURS),
    )
