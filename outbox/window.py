"""When a user's notification may be sent: the local send time as an instant, and the window.

A user's send time is a wall-clock time in their zone. ``send_at`` is that time on
the row's (local) date as an instant: a time that does not exist (a spring-forward
gap) moves to the first instant after the gap; an ambiguous one (a fall-back fold)
takes its first occurrence. ``expires_at`` is the first local ``deliver_until`` after
``send_at``; with no ``deliver_until`` the window never closes.

Everything here is computed per (zone, send time) group, never per user: a million
users share a few hundred groups.
"""

from __future__ import annotations

import datetime
import zoneinfo
from dataclasses import dataclass
from functools import lru_cache

UTC = datetime.UTC


@dataclass(frozen=True, slots=True)
class Window:
    """The instants between which a row may be sent: from ``send_at``, before ``expires_at``."""

    date: datetime.date
    send_at: datetime.datetime
    expires_at: datetime.datetime | None

    def closed(self, *, now: datetime.datetime) -> bool:
        """Whether nothing may be sent any more (``now`` is at or after ``expires_at``)."""
        return window_closed(expires_at=self.expires_at, now=now)


def window_closed(*, expires_at: datetime.datetime | None, now: datetime.datetime) -> bool:
    """Whether a window ending at ``expires_at`` has closed by ``now`` (None never closes).

    Also asked of each row just before its request starts, with no ``Window`` built.
    """
    return expires_at is not None and now >= expires_at


@lru_cache(maxsize=1024)
def zone_for(name: str) -> zoneinfo.ZoneInfo:
    """The zone of an IANA name (names are validated when users are loaded)."""
    return zoneinfo.ZoneInfo(name)


def local_instant(
    *, day: datetime.date, at: datetime.time, zone: zoneinfo.ZoneInfo
) -> datetime.datetime:
    """The instant (UTC) at which the wall clock in ``zone`` reads ``at`` on ``day``.

    In a gap the wall time never occurs: the answer is the first instant after the
    gap (the transition itself). In a fold it occurs twice: the first one is taken.
    """
    wall = datetime.datetime.combine(day, at.replace(tzinfo=None))
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == wall:
        return first
    # A gap: fold=1 reads the wall time with the offset after the transition, an
    # earlier instant than fold=0 with the offset before it; the transition lies
    # between the two. Bisect on the offset to the second.
    before = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    after = first
    if before > after:
        before, after = after, before
    offset_before = before.astimezone(zone).utcoffset()
    while after - before > datetime.timedelta(seconds=1):
        middle = before + (after - before) / 2
        if middle.astimezone(zone).utcoffset() == offset_before:
            before = middle
        else:
            after = middle
    return after.replace(microsecond=0)


def window_for(
    *,
    day: datetime.date,
    send_time: datetime.time,
    deliver_until: datetime.time | None,
    zone: zoneinfo.ZoneInfo,
) -> Window:
    """The delivery window of the row for local date ``day``."""
    send_at = local_instant(day=day, at=send_time, zone=zone)
    if deliver_until is None:
        return Window(date=day, send_at=send_at, expires_at=None)
    expires_at = local_instant(day=day, at=deliver_until, zone=zone)
    if expires_at <= send_at:
        expires_at = local_instant(
            day=day + datetime.timedelta(days=1), at=deliver_until, zone=zone
        )
    return Window(date=day, send_at=send_at, expires_at=expires_at)


def windows_in_horizon(
    *,
    now: datetime.datetime,
    send_time: datetime.time,
    deliver_until: datetime.time | None,
    zone: zoneinfo.ZoneInfo,
    ahead: datetime.timedelta,
) -> list[Window]:
    """The windows of local today and tomorrow that open by ``now + ahead`` and are still open.

    These are the rows a scheduled generate writes now: never one whose window has
    closed (a late message), never one opening beyond the horizon (written later).
    """
    today = now.astimezone(zone).date()
    windows = []
    for day in (today, today + datetime.timedelta(days=1)):
        window = window_for(day=day, send_time=send_time, deliver_until=deliver_until, zone=zone)
        if window.send_at <= now + ahead and not window.closed(now=now):
            windows.append(window)
    return windows
