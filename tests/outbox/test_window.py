"""The delivery window: the send time on the user's wall clock, DST gaps and folds included."""

from __future__ import annotations

import datetime
import zoneinfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from outbox.window import local_instant, window_for, windows_in_horizon, zone_for

UTC = datetime.UTC
SECOND = datetime.timedelta(seconds=1)
ZONES = sorted(zoneinfo.available_timezones() - {"Factory", "localtime"})

zones = st.sampled_from(ZONES).map(zone_for)
days = st.dates(datetime.date(1995, 1, 1), datetime.date(2037, 12, 31))
times = st.times().map(lambda t: t.replace(microsecond=0))
instants = st.datetimes(
    datetime.datetime(1995, 1, 2), datetime.datetime(2037, 12, 30), timezones=st.just(UTC)
)


def wall(instant: datetime.datetime, zone: zoneinfo.ZoneInfo) -> datetime.datetime:
    return instant.astimezone(zone).replace(tzinfo=None, fold=0)


@settings(max_examples=3000, deadline=None)
@given(zone=zones, day=days, at=times)
def test_send_at_reads_the_send_time_on_the_local_wall_clock(zone, day, at):
    wanted = datetime.datetime.combine(day, at)
    instant = local_instant(day=day, at=at, zone=zone)

    assert instant.tzinfo is UTC or instant.utcoffset() == datetime.timedelta(0)
    if wall(instant, zone) == wanted:
        # It exists: the first occurrence is taken (a fold's second reading has fold=1).
        assert instant.astimezone(zone).fold == 0
    else:
        # It falls in a gap: the first instant after it, the one before still reads earlier.
        assert wall(instant, zone) > wanted
        assert wall(instant - SECOND, zone) < wanted


@pytest.mark.parametrize(
    ("zone", "day", "at", "expected_utc"),
    [
        # New York springs forward at 02:00 → 03:00: 02:30 does not exist.
        ("America/New_York", datetime.date(2026, 3, 8), "02:30", "2026-03-08T07:00:00"),
        # New York falls back at 02:00 → 01:00: 01:30 happens twice; the first is EDT.
        ("America/New_York", datetime.date(2026, 11, 1), "01:30", "2026-11-01T05:30:00"),
        # Lord Howe moves by half an hour.
        ("Australia/Lord_Howe", datetime.date(2026, 10, 4), "02:15", "2026-10-03T15:30:00"),
        # Samoa skipped 30 December 2011 altogether.
        ("Pacific/Apia", datetime.date(2011, 12, 30), "08:00", "2011-12-30T10:00:00"),
        ("Asia/Tokyo", datetime.date(2026, 11, 22), "08:00", "2026-11-21T23:00:00"),
        ("UTC", datetime.date(2026, 11, 22), "08:00", "2026-11-22T08:00:00"),
    ],
)
def test_gaps_and_folds_by_example(zone, day, at, expected_utc):
    instant = local_instant(day=day, at=datetime.time.fromisoformat(at), zone=zone_for(zone))

    assert instant == datetime.datetime.fromisoformat(expected_utc).replace(tzinfo=UTC)


@settings(max_examples=2000, deadline=None)
@given(zone=zones, day=days, send_time=times, until=times)
def test_expires_at_is_the_first_deliver_until_after_send_at(zone, day, send_time, until):
    window = window_for(day=day, send_time=send_time, deliver_until=until, zone=zone)

    assert window.expires_at > window.send_at
    assert window.expires_at == min(
        instant
        for instant in (
            local_instant(day=day + datetime.timedelta(days=n), at=until, zone=zone)
            for n in (0, 1, 2)
        )
        if instant > window.send_at
    )


def test_no_deliver_until_means_no_expiry():
    window = window_for(
        day=datetime.date(2026, 11, 22),
        send_time=datetime.time(8),
        deliver_until=None,
        zone=zone_for("Europe/Paris"),
    )

    assert window.expires_at is None
    assert not window.closed(now=datetime.datetime(2099, 1, 1, tzinfo=UTC))


@settings(max_examples=2000, deadline=None)
@given(
    zone=zones,
    now=instants,
    send_time=times,
    until=st.one_of(st.none(), times),
    ahead_hours=st.integers(0, 30),
)
def test_the_horizon_holds_exactly_the_open_windows_of_today_and_tomorrow(
    zone, now, send_time, until, ahead_hours
):
    ahead = datetime.timedelta(hours=ahead_hours)
    picked = windows_in_horizon(
        now=now, send_time=send_time, deliver_until=until, zone=zone, ahead=ahead
    )

    today = now.astimezone(zone).date()
    for offset in range(-2, 4):
        day = today + datetime.timedelta(days=offset)
        window = window_for(day=day, send_time=send_time, deliver_until=until, zone=zone)
        wanted = (
            offset in (0, 1)
            and window.send_at <= now + ahead
            and (window.expires_at is None or now < window.expires_at)
        )
        assert (window in picked) == wanted, (day, window)
