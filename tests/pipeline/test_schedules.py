"""The django-q2 schedules: created once by name, updated when settings change, times in TIME_ZONE."""

from __future__ import annotations

import datetime
import io
import zoneinfo

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils.module_loading import import_string
from django_q.models import Schedule

from pipeline.schedules import (
    DELIVER_SCHEDULE,
    GENERATE_SCHEDULE,
    PURGE_SCHEDULE,
    daily_next_run,
    schedules_apply,
)
from pipeline.tasks import DELIVER_TASK, GENERATE_TASK

pytestmark = pytest.mark.django_db

NOW = datetime.datetime(2026, 11, 22, 10, 0, tzinfo=datetime.UTC)


def setup_schedules() -> str:
    out = io.StringIO()
    call_command("setup_schedules", stdout=out)
    return out.getvalue()


def test_setup_creates_each_schedule_once_however_often_it_runs():
    for _ in range(3):
        setup_schedules()
    names = sorted(Schedule.objects.values_list("name", flat=True))
    assert names == sorted([GENERATE_SCHEDULE, DELIVER_SCHEDULE, PURGE_SCHEDULE])


def test_second_run_reports_unchanged():
    setup_schedules()
    assert setup_schedules().count("unchanged:") == 3


def test_generate_is_daily_and_deliver_every_minute():
    setup_schedules()
    generate = Schedule.objects.get(name=GENERATE_SCHEDULE)
    deliver = Schedule.objects.get(name=DELIVER_SCHEDULE)
    assert (generate.schedule_type, generate.repeats) == (Schedule.DAILY, -1)
    assert (deliver.schedule_type, deliver.minutes, deliver.repeats) == (Schedule.MINUTES, 1, -1)


def test_schedule_functions_exist_and_take_no_baked_in_date():
    setup_schedules()
    for schedule in Schedule.objects.all():
        assert callable(import_string(schedule.func))
        assert not schedule.args
        assert not schedule.kwargs
        assert not schedule.intended_date_kwarg


@override_settings(TIME_ZONE="Europe/Paris", PIPELINE_GENERATE_AT="06:00")
def test_generate_next_run_is_the_local_time_in_time_zone():
    schedules_apply(now=NOW)
    next_run = Schedule.objects.get(name=GENERATE_SCHEDULE).next_run
    local = next_run.astimezone(zoneinfo.ZoneInfo("Europe/Paris"))
    # 10:00 UTC is 11:00 in Paris, past 06:00: the next run is tomorrow 06:00 Paris (05:00 UTC).
    assert (local.date(), local.time()) == (datetime.date(2026, 11, 23), datetime.time(6, 0))
    assert next_run == datetime.datetime(2026, 11, 23, 5, 0, tzinfo=datetime.UTC)


def test_changing_generate_time_updates_the_schedule_in_place():
    with override_settings(PIPELINE_GENERATE_AT="06:00"):
        schedules_apply(now=NOW)
    with override_settings(PIPELINE_GENERATE_AT="07:30"):
        results = schedules_apply(now=NOW)
    generate = Schedule.objects.filter(name=GENERATE_SCHEDULE)
    assert generate.count() == 1
    assert generate.get().next_run == datetime.datetime(2026, 11, 23, 7, 30, tzinfo=datetime.UTC)
    assert {r.name: r.outcome for r in results}[GENERATE_SCHEDULE] == "updated"


@override_settings(PIPELINE_GENERATE_AT="06:00")
def test_reapplying_keeps_a_due_run_instead_of_skipping_it():
    schedules_apply(now=datetime.datetime(2026, 11, 22, 5, 0, tzinfo=datetime.UTC))
    # Re-deployed at 06:00:30, before the cluster picked up the 06:00 run.
    schedules_apply(now=datetime.datetime(2026, 11, 22, 6, 0, 30, tzinfo=datetime.UTC))
    next_run = Schedule.objects.get(name=GENERATE_SCHEDULE).next_run
    assert next_run == datetime.datetime(2026, 11, 22, 6, 0, tzinfo=datetime.UTC)


def test_duplicates_from_older_deploys_are_removed():
    for _ in range(3):
        Schedule.objects.create(
            name=DELIVER_SCHEDULE, func="pipeline.tasks.notifications_deliver_due"
        )
    setup_schedules()
    assert Schedule.objects.filter(name=DELIVER_SCHEDULE).count() == 1


@pytest.mark.parametrize(
    ("name", "old_func", "new_func"),
    [
        (GENERATE_SCHEDULE, "delivery.tasks.notifications_generate_today", GENERATE_TASK),
        (DELIVER_SCHEDULE, "delivery.tasks.notifications_deliver_due", DELIVER_TASK),
    ],
)
def test_a_schedule_on_an_old_task_path_is_moved_not_duplicated(name, old_func, new_func):
    Schedule.objects.create(name=name, func=old_func, schedule_type=Schedule.MINUTES, minutes=1)
    output = setup_schedules()
    [schedule] = Schedule.objects.filter(name=name)
    assert schedule.func == new_func
    assert f"updated: {name}" in output


def test_a_pending_generate_retry_on_the_old_path_is_moved():
    next_run = NOW + datetime.timedelta(minutes=15)
    Schedule.objects.create(
        name="pipeline: retry generate 2026-11-22",
        func="delivery.tasks.notifications_generate_today",
        args=repr(("2026-11-22",)),
        schedule_type=Schedule.ONCE,
        repeats=1,
        next_run=next_run,
    )
    results = schedules_apply(now=NOW)
    retry = Schedule.objects.get(name="pipeline: retry generate 2026-11-22")
    assert (retry.func, retry.args, retry.next_run) == (GENERATE_TASK, "('2026-11-22',)", next_run)
    assert {r.name: r.outcome for r in results}[retry.name] == "moved"
    assert Schedule.objects.count() == 4


@override_settings(PIPELINE_GENERATE_AT="six o'clock")
def test_bad_generate_time_is_a_one_line_command_error():
    with pytest.raises(CommandError, match="PIPELINE_GENERATE_AT must be a time of day as HH:MM"):
        setup_schedules()
    assert not Schedule.objects.exists()


@pytest.mark.parametrize(
    ("now", "zone", "expected"),
    [
        # Before today's time: today.
        ("2026-11-22T04:00:00+00:00", "UTC", "2026-11-22T06:00:00+00:00"),
        # Exactly at the time: tomorrow (the run at 'now' is the cluster's to pick up).
        ("2026-11-22T06:00:00+00:00", "UTC", "2026-11-23T06:00:00+00:00"),
        # Local date ahead of UTC: 20:00 UTC is already 09:00 next day in Auckland.
        ("2026-11-22T20:00:00+00:00", "Pacific/Auckland", "2026-11-23T17:00:00+00:00"),
        # Across the spring DST change in New York (8 March 2026): 06:00 EDT is 10:00 UTC.
        ("2026-03-07T12:00:00+00:00", "America/New_York", "2026-03-08T10:00:00+00:00"),
    ],
)
def test_daily_next_run(now, zone, expected):
    result = daily_next_run(
        at=datetime.time(6, 0),
        now=datetime.datetime.fromisoformat(now),
        zone=zoneinfo.ZoneInfo(zone),
    )
    assert result == datetime.datetime.fromisoformat(expected)
