"""Generation by local time: the plan per (zone, send time), each row's window, preferences, closed days."""

from __future__ import annotations

import datetime
import threading

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from outbox.categories import category_for
from outbox.generation import notifications_generate
from outbox.generators import OfflineGenerator, generator_for
from outbox.models import DailyNotification
from outbox.planning import generation_plan
from tests.factories import notification_create, user_build, user_create, users_create
from tests.outbox.test_generation import CountingGenerator, chunk_write_statements

UTC = datetime.UTC
DAY = datetime.date(2026, 11, 22)

pytestmark = pytest.mark.django_db


def at(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text).replace(tzinfo=UTC)


def generate(
    *, now: datetime.datetime, date: datetime.date | None = None, generator=None, **options
):
    return notifications_generate(
        date=date, now=now, generator=generator or OfflineGenerator(), concurrency=2, **options
    )


def rows() -> dict[tuple[str, datetime.date], DailyNotification]:
    return {(row.user_id, row.date): row for row in DailyNotification.objects.all()}


def test_each_row_carries_the_window_of_its_users_zone_and_send_time() -> None:
    user_create(user_id="tokyo", timezone="Asia/Tokyo", send_time=datetime.time(7, 0))
    user_create(user_id="lima", timezone="America/Lima")

    generate(now=at("2026-11-21T12:00"), date=DAY)

    tokyo, lima = rows()[("tokyo", DAY)], rows()[("lima", DAY)]
    # 07:00 in Tokyo (UTC+9) on the 22nd is 22:00 UTC on the 21st; it closes at 21:00 there.
    assert (tokyo.send_at, tokyo.expires_at) == (at("2026-11-21T22:00"), at("2026-11-22T12:00"))
    # Lima (UTC-5) with the default 08:00.
    assert (lima.send_at, lima.expires_at) == (at("2026-11-22T13:00"), at("2026-11-23T02:00"))


def test_without_expiry_a_row_has_no_expires_at(settings) -> None:
    settings.NOTIFICATIONS_DELIVER_UNTIL = None
    user_create(user_id="1")

    generate(now=at("2026-11-22T07:00"))

    assert rows()[("1", DAY)].expires_at is None


@pytest.mark.parametrize("site_zone", ["UTC", "Europe/Paris"])
def test_the_empty_zone_and_time_zone_are_one_zone_and_null_the_default_time(
    settings, site_zone
) -> None:
    settings.TIME_ZONE = site_zone
    user_create(user_id="empty", timezone="")
    user_create(user_id="named", timezone=site_zone, send_time=settings.NOTIFICATIONS_SEND_TIME)

    generate(now=at("2026-11-21T12:00"), date=DAY)

    found = rows()
    assert found[("empty", DAY)].send_at == found[("named", DAY)].send_at
    assert found[("empty", DAY)].expires_at == found[("named", DAY)].expires_at


def test_the_horizon_writes_the_rows_opening_soon_and_no_others(settings) -> None:
    settings.NOTIFICATIONS_GENERATE_AHEAD_HOURS = 3
    now = at("2026-11-22T10:00")
    user_create(user_id="opened", timezone="UTC", send_time=datetime.time(8, 0))  # open since 08:00
    user_create(user_id="soon", timezone="UTC", send_time=datetime.time(12, 59))
    user_create(user_id="later", timezone="UTC", send_time=datetime.time(13, 1))
    # Midnight in Kiritimati (UTC+14): the 22nd's window closed at 21:00, the 23rd's opens in 7 h.
    user_create(user_id="kiritimati", timezone="Pacific/Kiritimati", send_time=datetime.time(7, 0))
    # Auckland (UTC+13): 23:00 on the 22nd; tomorrow's 01:30 opens in 2.5 h.
    user_create(user_id="auckland", timezone="Pacific/Auckland", send_time=datetime.time(1, 30))

    summary = generate(now=now)

    assert sorted(rows()) == [
        ("auckland", datetime.date(2026, 11, 23)),
        ("opened", DAY),
        ("soon", DAY),
    ]
    assert (summary.created, summary.closed) == (3, 0)


def test_with_a_date_every_user_gets_it_except_where_its_window_closed() -> None:
    # At 22:00 UTC: 21:00 has passed in London, not yet in New York (17:00) or Lima.
    user_create(user_id="london", timezone="Europe/London")
    user_create(user_id="new-york", timezone="America/New_York")
    user_create(user_id="lima", timezone="America/Lima")
    generator = CountingGenerator()

    summary = generate(now=at("2026-11-22T22:00"), date=DAY, generator=generator)

    assert sorted(rows()) == [("lima", DAY), ("new-york", DAY)]
    assert (summary.created, summary.closed) == (2, 1)
    assert sorted(generator.asked) == ["lima", "new-york"]


def test_a_closed_window_is_never_written_late_even_with_a_date() -> None:
    user_create(user_id="1")

    summary = generate(now=at("2026-11-30T09:00"), date=DAY)

    assert (summary.created, summary.closed) == (0, 1)
    assert not DailyNotification.objects.exists()


def test_a_disabled_user_gets_no_row_and_is_never_asked_about() -> None:
    user_create(user_id="on")
    user_create(user_id="off", notifications_enabled=False)
    generator = CountingGenerator()

    summary = generate(now=at("2026-11-22T07:00"), date=DAY, generator=generator)

    assert sorted(rows()) == [("on", DAY)]
    assert generator.asked == ["on"]
    assert (summary.created, summary.disabled) == (1, 1)


def test_disabled_users_cost_no_model_request(openai_settings, fake_openai) -> None:
    users_create(3)
    users_create(2, notifications_enabled=False)

    summary = generate(now=at("2026-11-22T07:00"), generator=generator_for("openai"))

    assert (summary.created, summary.disabled) == (3, 2)
    assert len(fake_openai.requests) == 3


def test_a_muted_category_is_never_written() -> None:
    for slot in range(3):
        user_create(user_id=f"u{slot}", rotation_slot=slot, muted_categories=["tip", "insight"])

    generate(now=at("2026-11-22T07:00"), date=DAY)

    assert set(DailyNotification.objects.values_list("category", flat=True)) == {"reminder"}


def test_a_user_who_muted_everything_gets_no_row_and_is_counted() -> None:
    user_create(user_id="1", muted_categories=["reminder", "insight", "tip"])
    user_create(user_id="2")
    generator = CountingGenerator()

    summary = generate(now=at("2026-11-22T07:00"), date=DAY, generator=generator)

    assert sorted(rows()) == [("2", DAY)]
    assert (summary.created, summary.muted) == (1, 1)
    assert generator.asked == ["2"]


def test_yesterdays_category_is_not_repeated_after_the_mutes_changed() -> None:
    # Slot 0 on the 22nd walks to "insight" among all three; among reminder and
    # insight (tip muted since) it walks to (ordinal % 2) = "insight" too.
    user = user_create(user_id="1", rotation_slot=0, muted_categories=["tip"])
    walked = category_for(rotation_slot=0, date=DAY, muted=["tip"])
    notification_create(user=user, date=DAY - datetime.timedelta(days=1), category=walked)

    generate(now=at("2026-11-22T07:00"), date=DAY)

    today = rows()[("1", DAY)].category
    assert today != walked
    assert today == category_for(rotation_slot=0, date=DAY, muted=["tip"], yesterday=walked)


def test_the_plan_costs_two_queries_however_many_groups() -> None:
    zones = ["UTC", "Asia/Tokyo", "America/Lima", "Europe/Paris", "Pacific/Kiritimati"]
    for number in range(40):
        user_create(
            user_id=str(number),
            timezone=zones[number % len(zones)],
            send_time=datetime.time(6 + number % 8, 0),
        )

    with CaptureQueriesContext(connection) as queries:
        plan = generation_plan(now=at("2026-11-21T12:00"), date=DAY)

    assert len(plan.windows) == 40
    assert len(queries.captured_queries) == 2


def test_the_plan_serves_the_earliest_send_time_first() -> None:
    user_create(user_id="late", timezone="America/Lima")
    user_create(user_id="early", timezone="Asia/Tokyo")
    user_create(user_id="mid", timezone="Europe/Paris")

    plan = generation_plan(now=at("2026-11-21T12:00"), date=DAY)

    assert [item.group.timezone for item in plan.windows] == [
        "Asia/Tokyo",
        "Europe/Paris",
        "America/Lima",
    ]


def test_a_stored_zone_no_zone_file_knows_costs_only_its_users() -> None:
    user_create(user_id="bad")
    User.objects.filter(user_id="bad").update(timezone="Mars/Olympus")
    user_create(user_id="good")

    summary = generate(now=at("2026-11-22T07:00"), date=DAY)

    assert sorted(rows()) == [("good", DAY)]
    assert summary.unknown_zone == 1


def test_queries_per_chunk_stay_constant_across_groups() -> None:
    for number in range(30):
        user_create(user_id=str(number), send_time=datetime.time(8, number % 3))

    with CaptureQueriesContext(connection) as first:
        generate(now=at("2026-11-22T07:00"), date=DAY)
    with CaptureQueriesContext(connection) as rerun:
        summary = generate(now=at("2026-11-22T07:00"), date=DAY)

    # The plan's 2 and whether a batch is open; each group's keys and profiles; one
    # write for all three groups.
    assert len(first.captured_queries) == 3 + 3 * 2 + chunk_write_statements()
    # A re-run reads keys only: nothing to write, no profile read.
    assert len(rerun.captured_queries) == 3 + 3
    assert (summary.created, summary.existing) == (0, 30)


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_generators_at_once_leave_one_row_per_user_and_date() -> None:
    zones = ["UTC", "Asia/Tokyo", "America/Lima", "Pacific/Kiritimati", "Etc/GMT+12"]
    users = [
        User(
            user_id=f"{number:05d}",
            name="x",
            email="x@example.com",
            signup_date=DAY,
            age=30,
            height_cm=170,
            weight_kg=70,
            activity_level="Low",
            health_goals="x",
            rotation_slot=number % 3,
            timezone=zones[number % len(zones)],
        )
        for number in range(3000)
    ]
    User.objects.bulk_create(users)
    now = at("2026-11-21T20:00")
    start = threading.Barrier(2)
    summaries, errors = [], []

    def run() -> None:
        try:
            start.wait()
            summaries.append(generate(now=now, date=DAY, chunk_size=200))
        except BaseException as error:  # re-raised by the assertions below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    assert not errors
    assert DailyNotification.objects.filter(date=DAY).count() == 3000
    assert DailyNotification.objects.values("user").distinct().count() == 3000
    # Counting is honest: together the runs created each row once.
    assert sum(summary.created for summary in summaries) == 3000
    assert all(summary.created + summary.existing == 3000 for summary in summaries)


@pytest.mark.postgres_only
@pytest.mark.parametrize("first", [True, False])
def test_the_default_send_time_group_is_read_in_index_order_without_a_sort(first) -> None:
    from outbox.group_walk import _keys_sql, _profiles_sql

    User.objects.bulk_create(user_build(user_id=f"{number:05d}") for number in range(3000))
    after = [] if first else ["00100"]
    yesterday = DAY - datetime.timedelta(days=1)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE accounts_user")
        for sql, params in (
            (_keys_sql(null_time=True, first=first), [DAY, DAY, "", *after, 200]),
            (
                _profiles_sql(null_time=True, first=first, counted=True),
                [DAY, yesterday, DAY, "", *after, 200],
            ),
        ):
            cursor.execute("EXPLAIN " + sql, params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            # A chunk comes off the group's index in order, never the rest of the group
            # read and sorted (``send_time IS NULL`` is no equality the planner orders by).
            assert "accounts_user_send_group_idx" in plan, plan
            assert "Sort" not in plan, plan


@pytest.mark.postgres_only
def test_the_row_probes_use_the_user_date_index_even_when_the_date_looks_rare() -> None:
    from outbox.group_walk import _keys_sql, _profiles_sql

    # Small groups, as a base spread over many zones and send times has.
    User.objects.bulk_create(
        user_build(user_id=f"{number:05d}", send_time=datetime.time(6 + number % 2, number % 50))
        for number in range(10_000)
    )
    # The statistics know the day before, not the date being written: it looks rare.
    generate(now=at("2026-11-20T12:00"), date=DAY - datetime.timedelta(days=1))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE accounts_user")
        cursor.execute("ANALYZE outbox_dailynotification")
    generate(now=at("2026-11-21T12:00"), date=DAY)
    group = ["", datetime.time(6, 0)]
    plans = []
    with connection.cursor() as cursor:
        for sql, params in (
            (_keys_sql(null_time=False, first=True), [DAY, DAY, *group, 2000]),
            (
                _profiles_sql(null_time=False, first=True, counted=False),
                [DAY, DAY - datetime.timedelta(days=1), DAY, *group, "99999"],
            ),
            (
                _profiles_sql(null_time=False, first=True, counted=True),
                [DAY, DAY - datetime.timedelta(days=1), DAY, *group, 2000],
            ),
        ):
            cursor.execute("EXPLAIN " + sql, params)
            plans.append("\n".join(row[0] for row in cursor.fetchall()))
    for plan in plans:
        # One walk per user of the unique (user, date) index; never the whole date.
        assert plan.count("Backward using one_notification_per_user_per_day") == plan.count(
            "SubPlan"
        ), plan
        assert "outbox_date_status_idx" not in plan, plan
        assert "hashed" not in plan and "Anti Join" not in plan, plan
