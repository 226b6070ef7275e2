"""The functions django-q2 runs: the due generate, a time-bounded deliver, harmless overlaps."""

from __future__ import annotations

import ast
import datetime
import io
import logging
import threading
from functools import partial
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import OperationalError, connection
from django.test import override_settings
from django.utils.module_loading import import_string
from django_q.models import OrmQ, Schedule

from delivery.worker import DeliverySummary
from outbox.generation import notifications_generate
from outbox.models import DailyNotification
from pipeline import stages, tasks
from pipeline.stages import StageConfigError
from tests.factories import notification_create, users_create
from tests.fake_openai import Reply

Status = DailyNotification.Status
# 23:30 UTC on the 22nd is already the 23rd in Auckland (UTC+13 in November).
LATE_EVENING_UTC = datetime.datetime(2026, 11, 22, 23, 30, tzinfo=datetime.UTC)


@pytest.fixture
def fixed_now(monkeypatch):
    monkeypatch.setattr("django.utils.timezone.now", lambda: LATE_EVENING_UTC)


@pytest.mark.django_db
@override_settings(TIME_ZONE="Pacific/Auckland", OPENAI_API_KEY="")
def test_generate_task_writes_what_is_due_by_the_clock_at_run_time(fixed_now):
    users_create(4)
    tasks.notifications_generate_today()
    # 12:30 on the 23rd in Auckland: the 23rd's 08:00 window is open.
    dates = set(DailyNotification.objects.values_list("date", flat=True))
    assert dates == {datetime.date(2026, 11, 23)}
    assert DailyNotification.objects.count() == 4


@pytest.mark.django_db
@override_settings(TIME_ZONE="Pacific/Auckland", OPENAI_API_KEY="")
def test_generate_task_run_twice_writes_nothing_new(fixed_now):
    users_create(3)
    tasks.notifications_generate_today()
    assert "created 0, existing 3," in tasks.notifications_generate_today()
    assert DailyNotification.objects.count() == 3


@pytest.mark.django_db
@override_settings(TIME_ZONE="Pacific/Auckland", OPENAI_API_KEY="")
def test_a_complete_generate_task_queues_nothing(fixed_now):
    users_create(3)
    tasks.notifications_generate_today()
    assert not OrmQ.objects.exists()


def test_generate_task_bound_stays_below_the_cluster_timeout(settings):
    # The chunk in progress at the bound still runs to its end.
    assert settings.Q_CLUSTER["timeout"] >= 2 * tasks.GENERATE_MAX_SECONDS


@pytest.fixture
def bounded_in_chunks_of_two(monkeypatch):
    """A generate task that stops after its first chunk of 2 users."""
    monkeypatch.setattr(tasks, "GENERATE_MAX_SECONDS", 0.000001)
    monkeypatch.setattr(
        stages, "notifications_generate", partial(notifications_generate, chunk_size=2)
    )


@pytest.mark.django_db
@override_settings(TIME_ZONE="Pacific/Auckland", OPENAI_API_KEY="")
def test_an_incomplete_generate_task_queues_itself_with_no_date(
    fixed_now, bounded_in_chunks_of_two
):
    users_create(5)
    summary = tasks.notifications_generate_today()
    assert summary.endswith("users remain")
    assert DailyNotification.objects.count() == 2
    queued = OrmQ.objects.get()
    assert queued.task["func"] == "pipeline.tasks.notifications_generate_today"
    # The continuation reads the clock again when it runs.
    assert queued.task["args"] == ()


@pytest.mark.django_db
@override_settings(TIME_ZONE="Pacific/Auckland", OPENAI_API_KEY="")
def test_an_incomplete_generate_of_a_date_continues_that_date(fixed_now, bounded_in_chunks_of_two):
    users_create(5)
    tasks.notifications_generate_today("2026-11-24")
    assert OrmQ.objects.get().task["args"] == ("2026-11-24",)


@pytest.mark.django_db
@override_settings(TIME_ZONE="Pacific/Auckland", OPENAI_API_KEY="")
def test_the_queued_generate_tasks_finish_the_work(fixed_now, bounded_in_chunks_of_two):
    users_create(5)
    tasks.notifications_generate_today()
    runs = 1
    while OrmQ.objects.exists() and runs < 10:
        queued = OrmQ.objects.get()
        queued.delete()
        tasks.notifications_generate_today(*queued.task["args"])
        runs += 1
    assert not OrmQ.objects.exists()
    assert runs == 3
    assert DailyNotification.objects.filter(date="2026-11-23").count() == 5


def test_deliver_task_is_bounded_by_the_setting(monkeypatch, settings):
    settings.PIPELINE_DELIVER_MAX_SECONDS = 7
    calls = []

    def deliver(**kwargs):
        calls.append(kwargs["max_seconds"])
        return DeliverySummary()

    monkeypatch.setattr(stages, "notifications_deliver", deliver)
    tasks.notifications_deliver_due()
    assert calls == [7]


def test_deliver_task_bound_stays_below_the_cluster_timeout(settings):
    assert settings.Q_CLUSTER["timeout"] > settings.PIPELINE_DELIVER_MAX_SECONDS
    assert settings.Q_CLUSTER["timeout"] < settings.Q_CLUSTER["retry"]
    assert settings.Q_CLUSTER["catch_up"] is False


@pytest.mark.django_db
def test_deliver_task_delivers_due_rows(mock_endpoint):
    for user in users_create(5):
        notification_create(user=user)
    summary = tasks.notifications_deliver_due()
    assert summary.startswith("delivered 5,")
    assert DailyNotification.objects.filter(status=Status.DELIVERED).count() == 5
    assert mock_endpoint.app.recorder.accepted == 5


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_scheduled_and_manual_deliver_at_once_send_each_notification_once(mock_endpoint, settings):
    settings.NOTIFICATIONS_BATCH_SIZE = 5
    settings.NOTIFICATIONS_CONCURRENCY = 2
    notifications = [notification_create(user=user) for user in users_create(80)]
    start = threading.Barrier(2)
    summaries: dict[str, str] = {}
    errors: list[BaseException] = []

    def scheduled() -> str:
        return tasks.notifications_deliver_due()

    def manual() -> str:
        out = io.StringIO()
        call_command("runpipeline", "deliver", "--batch-size", "5", stdout=out)
        return out.getvalue().strip()

    def run(name: str, job) -> None:
        try:
            start.wait()
            summaries[name] = job()
        except BaseException as error:  # re-raised by the assertions below, in the test thread
            errors.append(error)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=run, args=("scheduled", scheduled)),
        threading.Thread(target=run, args=("manual", manual)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert not errors
    recorder = mock_endpoint.app.recorder
    assert recorder.accepted_keys == {str(n.pk) for n in notifications}
    assert (recorder.accepted, recorder.duplicates) == (80, 0)
    assert DailyNotification.objects.filter(status=Status.DELIVERED).count() == 80
    # Both runs really overlapped: each delivered part of the batch.
    assert all(not summary.startswith("delivered 0,") for summary in summaries.values())


@pytest.mark.django_db
def test_a_generate_that_left_users_raises_after_its_work_and_schedules_nothing(
    fixed_now, openai_settings, fake_openai, caplog
):
    openai_settings.OPENAI_MAX_RETRIES = 0
    # 23:30 UTC: the 23rd's 08:00 is 8.5 hours away, in a 12-hour horizon, far from the deadline.
    openai_settings.NOTIFICATIONS_GENERATE_AHEAD_HOURS = 12
    fake_openai.respond = lambda request: Reply(status=503, body=b"{}")
    users_create(3)
    with (
        caplog.at_level(logging.WARNING, logger="pipeline"),
        pytest.raises(tasks.UsersLeft, match=r"^model unavailable \(.*: 3 users left for the next"),
    ):
        tasks.notifications_generate_today()

    # The every-15-minutes schedule is the retry: no one-off retry, no task queued.
    assert not Schedule.objects.exists()
    assert not OrmQ.objects.exists()
    assert not DailyNotification.objects.exists()
    [record] = [r for r in caplog.records if r.action == "pipeline.generate_users_left"]
    assert "left 3" in record.getMessage()


@pytest.mark.django_db
@override_settings(OPENAI_API_KEY="")
def test_a_past_date_is_counted_closed_and_not_written():
    users_create(2)
    summary = tasks.notifications_generate_today("2020-01-01")
    assert summary.startswith(
        "2020-01-01 offline: created 0, existing 0, fallback 0, disabled 0, closed 2"
    )
    assert not DailyNotification.objects.exists()


def test_each_task_path_names_its_function():
    assert import_string(tasks.GENERATE_TASK) is tasks.notifications_generate_today
    assert import_string(tasks.DELIVER_TASK) is tasks.notifications_deliver_due


@pytest.mark.parametrize("module", [tasks, stages])
def test_the_tasks_never_go_through_a_management_command(module):
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            imported.add(node.module)
        elif isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
    assert not [name for name in imported if "management" in name]


@pytest.mark.django_db
@override_settings(OPENAI_API_KEY="")
def test_a_bad_date_is_logged_and_raised_but_never_retried(caplog):
    with (
        caplog.at_level(logging.ERROR, logger="pipeline"),
        pytest.raises(StageConfigError, match="--date must be a date as YYYY-MM-DD"),
    ):
        tasks.notifications_generate_today("2026-13-01")

    assert not Schedule.objects.exists()
    assert not OrmQ.objects.exists()
    [record] = [r for r in caplog.records if r.action == "pipeline.generate_config_error"]
    assert "2026-13-01" in record.getMessage()


@pytest.mark.django_db
def test_an_unusable_delivery_setting_is_logged_and_raised(settings, caplog):
    settings.NOTIFICATIONS_URL = "ftp://example.com/notifications"
    with (
        caplog.at_level(logging.ERROR, logger="pipeline"),
        pytest.raises(StageConfigError, match="NOTIFICATIONS_URL"),
    ):
        tasks.notifications_deliver_due()

    assert not Schedule.objects.exists()
    assert any(r.action == "pipeline.deliver_config_error" for r in caplog.records)


@pytest.mark.django_db
@override_settings(OPENAI_API_KEY="")
def test_a_database_outage_during_generate_propagates_and_schedules_nothing(monkeypatch):
    def database_gone(**kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(stages, "notifications_generate", database_gone)
    with pytest.raises(OperationalError):
        tasks.notifications_generate_today()

    assert not Schedule.objects.exists()
