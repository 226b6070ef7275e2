"""The django-q2 schedules: created once by name, updated when settings change, old ones migrated."""

from __future__ import annotations

import datetime
import io

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.utils.module_loading import import_string
from django_q.models import Schedule

from pipeline.schedules import (
    DELIVER_SCHEDULE,
    GENERATE_SCHEDULE,
    PURGE_SCHEDULE,
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


def test_generate_every_15_minutes_and_deliver_every_minute():
    setup_schedules()
    generate = Schedule.objects.get(name=GENERATE_SCHEDULE)
    deliver = Schedule.objects.get(name=DELIVER_SCHEDULE)
    assert (generate.schedule_type, generate.minutes, generate.repeats) == (
        Schedule.MINUTES,
        15,
        -1,
    )
    assert (deliver.schedule_type, deliver.minutes, deliver.repeats) == (Schedule.MINUTES, 1, -1)


def test_schedule_functions_exist_and_take_no_baked_in_date():
    setup_schedules()
    for schedule in Schedule.objects.all():
        assert callable(import_string(schedule.func))
        assert not schedule.args
        assert not schedule.kwargs
        assert not schedule.intended_date_kwarg


def test_a_new_schedule_runs_first_now():
    schedules_apply(now=NOW)
    assert Schedule.objects.get(name=GENERATE_SCHEDULE).next_run == NOW


def test_changing_the_interval_updates_the_schedule_in_place():
    with override_settings(PIPELINE_GENERATE_EVERY_MINUTES=15):
        schedules_apply(now=NOW)
    later = NOW + datetime.timedelta(minutes=3)
    with override_settings(PIPELINE_GENERATE_EVERY_MINUTES=5):
        results = schedules_apply(now=later)
    [generate] = Schedule.objects.filter(name=GENERATE_SCHEDULE)
    assert (generate.minutes, generate.next_run) == (5, later)
    assert {r.name: r.outcome for r in results}[GENERATE_SCHEDULE] == "updated"


def test_reapplying_keeps_a_due_run_instead_of_skipping_it():
    schedules_apply(now=NOW)
    Schedule.objects.filter(name=GENERATE_SCHEDULE).update(
        next_run=NOW + datetime.timedelta(minutes=15)
    )
    # Re-deployed 7 minutes later: the run due in 8 minutes stays where it is.
    results = schedules_apply(now=NOW + datetime.timedelta(minutes=7))
    generate = Schedule.objects.get(name=GENERATE_SCHEDULE)
    assert generate.next_run == NOW + datetime.timedelta(minutes=15)
    assert {r.name: r.outcome for r in results}[GENERATE_SCHEDULE] == "unchanged"


def test_the_daily_generate_of_an_older_release_becomes_the_interval_one():
    tomorrow_six = datetime.datetime(2026, 11, 23, 6, 0, tzinfo=datetime.UTC)
    Schedule.objects.create(
        name=GENERATE_SCHEDULE,
        func=GENERATE_TASK,
        schedule_type=Schedule.DAILY,
        repeats=-1,
        next_run=tomorrow_six,
    )
    results = schedules_apply(now=NOW)
    [generate] = Schedule.objects.filter(name=GENERATE_SCHEDULE)
    assert (generate.schedule_type, generate.minutes) == (Schedule.MINUTES, 15)
    # Not tomorrow at six: the interval schedule starts now.
    assert generate.next_run == NOW
    assert {r.name: r.outcome for r in results}[GENERATE_SCHEDULE] == "updated"


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


@pytest.mark.parametrize(
    "func", ["delivery.tasks.notifications_generate_today", GENERATE_TASK], ids=["old", "new"]
)
def test_a_pending_generate_retry_of_an_older_release_is_removed(func):
    Schedule.objects.create(
        name="pipeline: retry generate 2026-11-22",
        func=func,
        args=repr(("2026-11-22",)),
        schedule_type=Schedule.ONCE,
        repeats=1,
        next_run=NOW + datetime.timedelta(minutes=15),
    )
    results = schedules_apply(now=NOW)
    assert not Schedule.objects.filter(name__startswith="pipeline: retry generate").exists()
    assert {r.name: r.outcome for r in results}["pipeline: retry generate 2026-11-22"] == "removed"
    assert Schedule.objects.count() == 3
