"""purge_outbox: exactly the final rows older than the cutoff and their attempts go, in bounded batches."""

from __future__ import annotations

import datetime
import io
from collections import Counter

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.module_loading import import_string
from django_q.models import Schedule

from delivery.models import DeliveryAttempt
from outbox.models import DailyNotification
from pipeline.retention import (
    PURGE_TASK,
    next_batch_size,
    notifications_purge,
    notifications_purge_scheduled,
    purge_cutoff,
)
from pipeline.schedules import PURGE_EVERY_MINUTES, PURGE_SCHEDULE, schedules_apply
from tests.factories import notification_create, user_create

pytestmark = pytest.mark.django_db

Status = DailyNotification.Status
TODAY = datetime.date(2026, 11, 22)
CUTOFF = TODAY - datetime.timedelta(days=90)  # 2026-08-24: rows dated before it go


def row(date: datetime.date, status: str, attempts: int = 1) -> DailyNotification:
    notification = notification_create(user=user_create(), date=date, status=status)
    DeliveryAttempt.objects.bulk_create(
        DeliveryAttempt(notification=notification, started_at=timezone.now(), duration_ms=5)
        for _ in range(attempts)
    )
    return notification


@pytest.fixture
def outbox() -> dict[str, set]:
    """Every status on both sides of the cutoff (and on it), each with attempts."""
    old, edge, recent = (
        CUTOFF - datetime.timedelta(days=30),
        CUTOFF - datetime.timedelta(days=1),
        CUTOFF,
    )
    doomed = {
        row(day, status).pk for day in (old, edge) for status in DailyNotification.FINAL_STATUSES
    }
    kept = {
        row(day, status).pk for day in (old, edge) for status in (Status.PENDING, Status.SENDING)
    }
    kept |= {row(recent, status).pk for status in Status.values}
    kept |= {row(TODAY, status).pk for status in Status.values}
    return {"doomed": doomed, "kept": kept}


def purge(**options):
    return notifications_purge(older_than_days=90, today=TODAY, **options)


def test_the_cutoff_is_days_before_today() -> None:
    assert purge_cutoff(older_than_days=90, today=TODAY) == datetime.date(2026, 8, 24)


def test_exactly_the_final_rows_older_than_the_cutoff_go(outbox) -> None:
    purge()
    assert set(DailyNotification.objects.values_list("pk", flat=True)) == outbox["kept"]


def test_their_attempts_go_and_every_other_attempt_stays(outbox) -> None:
    purge()
    remaining = set(DeliveryAttempt.objects.values_list("notification_id", flat=True))
    assert remaining == outbox["kept"]
    assert DeliveryAttempt.objects.count() == len(outbox["kept"])


def test_pending_and_sending_rows_are_never_purged_however_old() -> None:
    ancient = datetime.date(2000, 1, 1)
    kept = {row(ancient, Status.PENDING).pk, row(ancient, Status.SENDING).pk}
    summary = purge()
    assert summary.notifications == 0
    assert set(DailyNotification.objects.values_list("pk", flat=True)) == kept


def test_the_rest_is_untouched(outbox) -> None:
    before = {
        n.pk: (n.status, n.title, n.attempts, n.updated_at)
        for n in DailyNotification.objects.filter(pk__in=outbox["kept"])
    }
    purge()
    after = {
        n.pk: (n.status, n.title, n.attempts, n.updated_at) for n in DailyNotification.objects.all()
    }
    assert after == before


def test_the_summary_counts_rows_and_attempts(outbox) -> None:
    summary = purge()
    assert (summary.notifications, summary.attempts) == (len(outbox["doomed"]),) * 2
    assert summary.complete
    assert summary.line.startswith(
        f"purged {len(outbox['doomed'])} notifications and {len(outbox['doomed'])} attempts "
        "dated before 2026-08-24 in "
    )


def test_batches_are_bounded(outbox) -> None:
    doomed = DailyNotification.objects.filter(pk__in=outbox["doomed"])
    # A batch takes one date's rows: the fixture's two dates of four rows each.
    per_date = Counter(doomed.values_list("date", flat=True))
    with CaptureQueriesContext(connection) as captured:
        summary = purge(batch_size=3)
    assert summary.batches == sum(-(-count // 3) for count in per_date.values()) == 4
    selects = [q["sql"] for q in captured.captured_queries if "LIMIT" in q["sql"].upper()]
    assert selects and all("LIMIT 3" in sql.upper() for sql in selects)
    assert summary.notifications == len(outbox["doomed"])


def test_each_batch_takes_one_date_oldest_first(outbox) -> None:
    dates = dict(
        DailyNotification.objects.filter(pk__in=outbox["doomed"]).values_list("pk", "date")
    )
    gone: set = set()
    batches: list[set[datetime.date]] = []

    def after_batch(done: int, total: int | None) -> None:
        left = set(DailyNotification.objects.filter(pk__in=dates).values_list("pk", flat=True))
        taken = dates.keys() - left - gone
        gone.update(taken)
        if taken:
            batches.append({dates[pk] for pk in taken})

    purge(batch_size=100, on_progress=after_batch)
    assert batches == [
        {CUTOFF - datetime.timedelta(days=30)},
        {CUTOFF - datetime.timedelta(days=1)},
    ]


def test_a_row_with_many_attempts_goes_with_all_of_them() -> None:
    row(CUTOFF - datetime.timedelta(days=1), Status.FAILED, attempts=8)
    summary = purge(batch_size=1)
    assert (summary.notifications, summary.attempts) == (1, 8)
    assert not DeliveryAttempt.objects.exists()


def test_a_time_bound_stops_between_batches(outbox) -> None:
    summary = purge(batch_size=1, max_seconds=1e-9)
    assert not summary.complete
    assert summary.line.endswith("; stopped at the time limit, rows remain")
    # The bound is checked before each batch: a second run carries on.
    assert purge().notifications == len(outbox["doomed"]) - summary.notifications


def test_a_rerun_purges_nothing(outbox) -> None:
    purge()
    assert purge().notifications == 0


def test_progress_reaches_the_total(outbox) -> None:
    calls: list[tuple[int, int | None]] = []
    purge(batch_size=2, on_progress=lambda done, total: calls.append((done, total)))
    doomed = len(outbox["doomed"])
    assert calls[0] == (0, doomed)
    assert calls[-1] == (doomed, doomed)


def test_the_command_prints_the_summary(settings, outbox) -> None:
    settings.OUTBOX_RETENTION_DAYS = 90
    out = io.StringIO()
    # The fixture's dates are relative to TODAY; the command's cutoff is relative to the real today.
    days = (timezone.localdate() - TODAY).days + 90
    call_command("purge_outbox", "--older-than", str(days), stdout=out)
    assert out.getvalue().startswith(f"purged {len(outbox['doomed'])} notifications and ")
    assert set(DailyNotification.objects.values_list("pk", flat=True)) == outbox["kept"]


def test_the_command_defaults_to_the_retention_setting(settings) -> None:
    settings.OUTBOX_RETENTION_DAYS = 30
    out = io.StringIO()
    call_command("purge_outbox", stdout=out)
    cutoff = timezone.localdate() - datetime.timedelta(days=30)
    assert f"dated before {cutoff}" in out.getvalue()


def test_the_command_refuses_zero_days() -> None:
    with pytest.raises(CommandError, match="older-than"):
        call_command("purge_outbox", "--older-than", "0")


def test_the_scheduled_purge_uses_the_retention_setting(settings) -> None:
    settings.OUTBOX_RETENTION_DAYS = 10
    old = row(timezone.localdate() - datetime.timedelta(days=11), Status.DELIVERED)
    kept = row(timezone.localdate() - datetime.timedelta(days=10), Status.DELIVERED)
    line = notifications_purge_scheduled()
    assert line.startswith("purged 1 notifications and 1 attempts")
    assert list(DailyNotification.objects.values_list("pk", flat=True)) == [kept.pk]
    assert not DailyNotification.objects.filter(pk=old.pk).exists()


def test_setup_schedules_creates_a_daily_purge_once() -> None:
    now = datetime.datetime(2026, 11, 22, 10, 0, tzinfo=datetime.UTC)
    for _ in range(2):
        schedules_apply(now=now)
    [schedule] = Schedule.objects.filter(name=PURGE_SCHEDULE)
    assert (schedule.func, schedule.schedule_type, schedule.minutes, schedule.repeats) == (
        PURGE_TASK,
        Schedule.MINUTES,
        PURGE_EVERY_MINUTES,
        -1,
    )
    assert PURGE_EVERY_MINUTES == 24 * 60
    assert import_string(schedule.func) is notifications_purge_scheduled


@pytest.mark.parametrize(
    ("size", "took", "expected"),
    [
        (10_000, 0.1, 10_000),  # fast: never above the bound
        (2_000, 0.05, 4_000),  # fast: grows, at most doubling
        (10_000, 0.3, 5_000),  # slow: shrinks toward the target
        (10_000, 40.0, 500),  # very slow: down to the floor, never to nothing
    ],
)
def test_the_next_batch_aims_at_the_target_time(size, took, expected) -> None:
    assert next_batch_size(size=size, took=took, most=10_000) == expected
