"""The horizon rule, checked at many instants over users from UTC-12 to UTC+14.

The oracle here reads the design's rule directly: for each user, each local date
(today, tomorrow) whose window opens within the horizon and has not closed. It
is checked against what generation writes, then again after a later re-run.
"""

from __future__ import annotations

import datetime
import io
import zoneinfo

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from freezegun import freeze_time
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import User
from outbox.generation import notifications_generate
from outbox.generators import OfflineGenerator
from outbox.models import DailyNotification
from outbox.window import window_for
from tests.factories import user_create

UTC = datetime.UTC
ZONES = (
    "Etc/GMT+12",  # UTC-12
    "Pacific/Pago_Pago",  # UTC-11
    "America/Los_Angeles",  # DST
    "America/Sao_Paulo",
    "",  # TIME_ZONE
    "UTC",
    "Europe/London",  # DST
    "Asia/Kolkata",  # +05:30
    "Asia/Kathmandu",  # +05:45
    "Australia/Lord_Howe",  # half-hour DST
    "Pacific/Chatham",  # +12:45 / +13:45
    "Pacific/Kiritimati",  # UTC+14
)
SEND_TIMES = (None, datetime.time(6, 0), datetime.time(12, 30), datetime.time(22, 30))
ONE_DAY = datetime.timedelta(days=1)

instants = st.datetimes(
    datetime.datetime(2026, 1, 1), datetime.datetime(2027, 12, 31), timezones=st.just(UTC)
)
aheads = st.sampled_from([0.5, 3.0, 12.0])
deliver_untils = st.sampled_from([datetime.time(21, 0), datetime.time(9, 0), None])
# Hypothesis re-uses the test's database between examples; each example starts with no rows.
hypothesis_settings = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def users_everywhere(db) -> list[User]:
    """One user per zone and send time (the default included), and one disabled."""
    users = [
        user_create(user_id=f"{index:02d}-{zone or 'site'}-{at}", timezone=zone, send_time=at)
        for index, (zone, at) in enumerate((z, t) for z in ZONES for t in SEND_TIMES)
    ]
    user_create(user_id="disabled", timezone="UTC", notifications_enabled=False)
    return users


def expected_rows(
    users: list[User], *, now: datetime.datetime
) -> dict[tuple[str, datetime.date], tuple]:
    """The (user, local date) rows the rule says are in scope at ``now``, with their window."""
    ahead = datetime.timedelta(hours=django_settings.NOTIFICATIONS_GENERATE_AHEAD_HOURS)
    wanted = {}
    for user in users:
        zone = zoneinfo.ZoneInfo(user.timezone or django_settings.TIME_ZONE)
        send_time = user.send_time or django_settings.NOTIFICATIONS_SEND_TIME
        today = now.astimezone(zone).date()
        for day in (today, today + ONE_DAY):
            window = window_for(
                day=day,
                send_time=send_time,
                deliver_until=django_settings.NOTIFICATIONS_DELIVER_UNTIL,
                zone=zone,
            )
            closed = window.expires_at is not None and now >= window.expires_at
            if window.send_at <= now + ahead and not closed:
                wanted[(user.user_id, day)] = (window.send_at, window.expires_at)
    return wanted


def written_rows() -> dict[tuple[str, datetime.date], tuple]:
    return {
        (user_id, day): (send_at, expires_at)
        for user_id, day, send_at, expires_at in DailyNotification.objects.values_list(
            "user_id", "date", "send_at", "expires_at"
        )
    }


def generate(now: datetime.datetime):
    return notifications_generate(
        generator=OfflineGenerator(), concurrency=1, now=now, chunk_size=3
    )


@hypothesis_settings
@given(now=instants, ahead=aheads, deliver_until=deliver_untils)
def test_the_horizon_writes_exactly_the_rows_the_rule_says(
    users_everywhere, settings, now, ahead, deliver_until
) -> None:
    DailyNotification.objects.all().delete()
    settings.NOTIFICATIONS_GENERATE_AHEAD_HOURS = ahead
    settings.NOTIFICATIONS_DELIVER_UNTIL = deliver_until

    summary = generate(now)

    wanted = expected_rows(users_everywhere, now=now)
    assert written_rows() == wanted
    assert (summary.created, summary.existing, summary.disabled) == (len(wanted), 0, 1)
    assert not DailyNotification.objects.filter(user_id="disabled").exists()


@hypothesis_settings
@given(
    now=instants,
    later_by=st.timedeltas(min_value=datetime.timedelta(0), max_value=datetime.timedelta(hours=60)),
    ahead=aheads,
    deliver_until=deliver_untils,
)
def test_a_later_rerun_writes_only_what_came_into_scope_and_never_a_second_row(
    users_everywhere, settings, now, later_by, ahead, deliver_until
) -> None:
    DailyNotification.objects.all().delete()
    settings.NOTIFICATIONS_GENERATE_AHEAD_HOURS = ahead
    settings.NOTIFICATIONS_DELIVER_UNTIL = deliver_until
    generate(now)
    first = dict(DailyNotification.objects.values_list("id", "updated_at"))
    later = now + later_by

    summary = generate(later)

    before = expected_rows(users_everywhere, now=now)
    after = expected_rows(users_everywhere, now=later)
    # The rows written first are untouched; the new ones are exactly those the
    # rule brought into scope since, which were not written before.
    assert (
        dict(DailyNotification.objects.filter(id__in=first).values_list("id", "updated_at"))
        == first
    )
    assert written_rows() == before | after
    assert summary.created == len(after.keys() - before.keys())
    assert summary.existing == len(after.keys() & before.keys())
    # And once more at the same instant: nothing at all.
    assert generate(later).created == 0


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(now=instants)
def test_the_command_reads_the_horizon_from_the_clock(users_everywhere, now) -> None:
    DailyNotification.objects.all().delete()

    with freeze_time(now):
        call_command("runpipeline", "generate", "--generator", "offline", stdout=io.StringIO())

    assert written_rows() == expected_rows(users_everywhere, now=now)
    assert set(DailyNotification.objects.values_list("created_at", flat=True)) <= {now}
