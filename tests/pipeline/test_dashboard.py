"""The delivery dashboard: figures from a hand-built fixture, constant query count, staff only."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from freezegun import freeze_time

from outbox.models import DailyNotification
from pipeline.dashboard import chart_build, dashboard_stats, median_from_histogram
from tests.factories import notification_create, users_create

pytestmark = pytest.mark.django_db

Status = DailyNotification.Status
TODAY = datetime.date(2026, 11, 22)
NOW = datetime.datetime(2026, 11, 22, 12, 0, tzinfo=datetime.UTC)
DASHBOARD = reverse("pipeline:dashboard")


def add(day_offset: int, status: str, category: str, attempts: int = 1) -> DailyNotification:
    return notification_create(
        date=TODAY - datetime.timedelta(days=day_offset),
        status=status,
        category=category,
        attempts=attempts,
    )


@pytest.fixture
def fixture_rows() -> None:
    """Today: 3 delivered, 1 failed, 2 pending, 1 sending; yesterday: 2 delivered, 2 failed;
    13 days ago: 1 delivered; 14 days ago (outside the window): 1 delivered, 1 failed;
    one pending row for 2026-11-01 created at 06:00 that day."""
    add(0, Status.DELIVERED, "tip", 1)
    add(0, Status.DELIVERED, "insight", 1)
    add(0, Status.DELIVERED, "reminder", 3)
    add(0, Status.FAILED, "tip", 8)
    add(0, Status.PENDING, "reminder", 0)
    add(0, Status.PENDING, "reminder", 0)
    add(0, Status.SENDING, "insight", 1)
    add(1, Status.DELIVERED, "tip", 2)
    add(1, Status.DELIVERED, "tip", 2)
    add(1, Status.FAILED, "insight", 8)
    add(1, Status.FAILED, "insight", 8)
    add(13, Status.DELIVERED, "reminder", 5)
    add(14, Status.DELIVERED, "reminder", 9)
    add(14, Status.FAILED, "reminder", 8)
    old = add(21, Status.PENDING, "tip", 0)
    DailyNotification.objects.filter(pk=old.pk).update(
        created_at=datetime.datetime(2026, 11, 1, 6, 0, tzinfo=datetime.UTC)
    )


def test_today_counts_by_status(fixture_rows):
    stats = dashboard_stats(today=TODAY, now=NOW)
    assert stats.today_counts.by_status == {
        "pending": 2,
        "sending": 1,
        "delivered": 3,
        "failed": 1,
        "expired": 0,
        "cancelled": 0,
    }


def test_today_counts_by_category(fixture_rows):
    stats = dashboard_stats(today=TODAY, now=NOW)
    assert stats.today_counts.by_category == {"reminder": 3, "insight": 2, "tip": 2}


def test_window_counts_leave_out_the_fifteenth_day(fixture_rows):
    stats = dashboard_stats(today=TODAY, now=NOW)
    assert stats.window_by_status == {
        "pending": 2,
        "sending": 1,
        "delivered": 6,
        "failed": 3,
        "expired": 0,
        "cancelled": 0,
    }
    assert stats.window_by_category == {"reminder": 4, "insight": 4, "tip": 4}


def test_days_cover_fourteen_dates_oldest_first_with_empty_days(fixture_rows):
    stats = dashboard_stats(today=TODAY, now=NOW)
    assert (stats.days[0].date, stats.days[-1].date) == (TODAY - datetime.timedelta(days=13), TODAY)
    assert [day.total for day in stats.days] == [1] + [0] * 11 + [4, 7]


def test_success_rate_is_delivered_over_delivered_plus_failed(fixture_rows):
    stats = dashboard_stats(today=TODAY, now=NOW)
    assert stats.success_rate == pytest.approx(6 / 9)
    assert stats.today_success_rate == pytest.approx(3 / 4)


def test_median_attempts_of_delivered_rows_in_the_window(fixture_rows):
    # Delivered in the window: attempts 1, 1, 3, 2, 2, 5 → sorted 1 1 2 2 3 5.
    assert dashboard_stats(today=TODAY, now=NOW).median_attempts == 2.0


def test_oldest_pending_age(fixture_rows):
    stats = dashboard_stats(today=TODAY, now=NOW)
    assert stats.oldest_pending_created_at == datetime.datetime(
        2026, 11, 1, 6, 0, tzinfo=datetime.UTC
    )
    assert stats.oldest_pending_age == datetime.timedelta(days=21, hours=6)


def test_empty_outbox_has_no_rates():
    stats = dashboard_stats(today=TODAY, now=NOW)
    assert (stats.success_rate, stats.median_attempts, stats.oldest_pending_age) == (
        None,
        None,
        None,
    )


@pytest.mark.parametrize(
    ("histogram", "median"),
    [
        ({}, None),
        ({3: 1}, 3.0),
        ({1: 2, 2: 1}, 1.0),
        ({1: 1, 2: 1}, 1.5),
        ({1: 1, 4: 1, 9: 1}, 4.0),
        ({1: 5, 8: 5}, 4.5),
    ],
)
def test_median_from_histogram(histogram, median):
    assert median_from_histogram(histogram) == median


def test_chart_scales_bars_to_the_busiest_day(fixture_rows):
    stats = dashboard_stats(today=TODAY, now=NOW)
    chart = chart_build(days=stats.days, height=220)
    bars = {(bar.date, bar.kind): bar for bar in chart.bars}
    tallest = bars[(TODAY, "delivered")]
    assert chart.max_value == 3
    assert tallest.y + tallest.height == chart.baseline
    assert bars[(TODAY, "failed")].height == pytest.approx(tallest.height / 3, abs=0.02)
    assert bars[(TODAY - datetime.timedelta(days=5), "failed")].height == 0


def test_dashboard_page_renders_figures_for_staff(admin_client, fixture_rows):
    with freeze_time(NOW):
        response = admin_client.get(DASHBOARD)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="window-delivered">6<' in html
    assert "66.7%" in html


def test_dashboard_chart_is_inline_svg_without_scripts(admin_client, fixture_rows):
    with freeze_time(NOW):
        html = admin_client.get(DASHBOARD).content.decode()
    svg = html.split('<svg class="dashboard-chart"', 1)[1].split("</svg>", 1)[0]
    assert svg.count('<rect class="delivered"') == 14
    assert "<script" not in html.split('id="content-main"', 1)[1]


def test_dashboard_uses_the_admin_layout(admin_client):
    response = admin_client.get(DASHBOARD)
    assert "admin/base_site.html" in [t.name for t in response.templates]


def test_dashboard_query_count_does_not_grow_with_rows(admin_client):
    def count() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert admin_client.get(DASHBOARD).status_code == 200
        return len(captured.captured_queries)

    for user in users_create(3):
        notification_create(user=user, date=datetime.date.today())
    few = count()
    for index, user in enumerate(users_create(60)):
        notification_create(
            user=user,
            date=datetime.date.today() - datetime.timedelta(days=index % 14),
            status=(Status.DELIVERED, Status.FAILED, Status.PENDING)[index % 3],
            attempts=index % 8,
        )
    assert count() == few


def delivered_after(day_offset: int, lag: datetime.timedelta) -> None:
    send_at = datetime.datetime.combine(
        TODAY - datetime.timedelta(days=day_offset), datetime.time(8), tzinfo=datetime.UTC
    )
    notification_create(
        date=send_at.date(),
        status=Status.DELIVERED,
        send_at=send_at,
        delivered_at=send_at + lag,
    )


def test_on_time_rate_and_lag_percentiles_per_day():
    seconds = datetime.timedelta(seconds=1)
    # Today: 20 rows, 17 within five minutes of their send time, then 6 min, 2 h and 30 h.
    for lag in [*(n * seconds for n in range(3, 20)), 360 * seconds, 7200 * seconds]:
        delivered_after(0, lag)
    delivered_after(0, datetime.timedelta(hours=30))
    delivered_after(1, 90 * seconds)

    today, yesterday = dashboard_stats(today=TODAY, now=NOW).lags[:-3:-1]

    assert (today.date, today.delivered) == (TODAY, 20)
    assert today.on_time_rate == 17 / 20
    assert today.median_seconds == 12  # the 10th of 20 sorted lags: 3 s … 12 s
    assert today.p95_seconds == 7200  # the 19th of 20
    assert (yesterday.delivered, yesterday.median_seconds, yesterday.p95_seconds) == (1, 90, 90)
    assert yesterday.on_time_rate == 1


def test_lags_are_bucketed_wider_as_they_grow():
    delivered_after(0, datetime.timedelta(seconds=1234.5))

    (today,) = dashboard_stats(today=TODAY, now=NOW).lags[-1:]

    assert today.median_seconds == 1230
    assert today.on_time_rate == 0


def test_days_without_deliveries_have_no_lag_figures():
    lags = dashboard_stats(today=TODAY, now=NOW).lags

    assert len(lags) == 14
    assert all(day.delivered == 0 and day.median_seconds is None for day in lags)
    assert all(day.on_time_rate is None for day in lags)


def test_dashboard_page_shows_on_time_and_lag_and_the_new_statuses(admin_client):
    for offset in range(4):
        delivered_after(0, datetime.timedelta(seconds=30 + offset))
    delivered_after(0, datetime.timedelta(minutes=10))
    notification_create(date=TODAY, status=Status.EXPIRED)
    notification_create(date=TODAY, status=Status.CANCELLED)

    with freeze_time(NOW):
        html = admin_client.get(DASHBOARD).content.decode()

    on_time = html.split('id="figure-on-time"', 1)[1].split("</div>\n    </div>", 1)[0]
    assert "80.0%" in on_time
    assert "lag median 32 s · p95 600 s" in on_time
    assert '<th id="window-expired">1</th>' in html
    assert '<th id="window-cancelled">1</th>' in html


def breaker_add(worker: str, *, state: str, next_probe_at: datetime.datetime | None = None):
    from delivery.models import DeliveryBreaker

    return DeliveryBreaker.objects.create(
        worker=worker,
        state=state,
        failures=20,
        cooldown_seconds=5.0,
        opened_at=NOW - datetime.timedelta(seconds=30),
        next_probe_at=next_probe_at,
    )


def test_no_breaker_row_means_every_worker_is_sending(admin_client):
    html = admin_client.get(DASHBOARD).content.decode()

    assert "every worker is sending" in html
    assert dashboard_stats(now=NOW).breakers_open == []


def test_an_open_breaker_is_shown_with_its_worker_and_next_probe(admin_client):
    breaker_add("host-a:101", state="open", next_probe_at=NOW + datetime.timedelta(seconds=5))
    breaker_add("host-b:202", state="closed")

    with freeze_time(NOW):
        stats = dashboard_stats(now=NOW)
        html = admin_client.get(DASHBOARD).content.decode()

    assert [breaker.worker for breaker in stats.breakers_open] == ["host-a:101"]
    assert "1 open" in html
    assert "host-a:101: open since" in html
    assert "host-b:202: closed" in html


def test_an_open_breaker_long_past_its_probe_is_stale_not_open(admin_client):
    breaker_add("host-a:101", state="open", next_probe_at=NOW - datetime.timedelta(minutes=10))

    with freeze_time(NOW):
        stats = dashboard_stats(now=NOW)
        html = admin_client.get(DASHBOARD).content.decode()

    assert stats.breakers_open == []
    assert stats.breakers[0].stale
    assert "stale (the worker stopped reporting)" in html
