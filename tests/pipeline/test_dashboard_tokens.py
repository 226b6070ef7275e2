"""The dashboard's tokens per day and estimated cost: batch rows at their discount, constant queries."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from pipeline.dashboard import DayTokens, dashboard_stats, tokens_cost
from tests.factories import notification_create

pytestmark = pytest.mark.django_db

TODAY = datetime.date(2026, 11, 22)
DASHBOARD = reverse("pipeline:dashboard")


@pytest.fixture(autouse=True)
def prices(settings):
    settings.OPENAI_PRICE_INPUT_PER_MTOK = 1.0
    settings.OPENAI_PRICE_OUTPUT_PER_MTOK = 4.0
    settings.OPENAI_BATCH_DISCOUNT = 0.5


def model_row(day_offset: int, generated_by: str, prompt: int | None, completion: int | None):
    return notification_create(
        date=TODAY - datetime.timedelta(days=day_offset),
        generated_by=generated_by,
        prompt_tokens=prompt,
        completion_tokens=completion,
    )


def test_tokens_per_day_split_sync_and_batch() -> None:
    model_row(0, "openai:m", 100, 10)
    model_row(0, "openai:m", 200, 20)
    model_row(0, "openai-batch:m", 1000, 100)
    model_row(0, "offline", None, None)
    model_row(1, "openai-batch:m", 50, 5)
    stats = dashboard_stats(today=TODAY)
    assert stats.today_tokens == DayTokens(
        date=TODAY,
        prompt_tokens=300,
        completion_tokens=30,
        batch_prompt_tokens=1000,
        batch_completion_tokens=100,
    )
    assert stats.tokens[-2] == DayTokens(
        date=TODAY - datetime.timedelta(days=1), batch_prompt_tokens=50, batch_completion_tokens=5
    )
    assert [day.date for day in stats.tokens] == [day.date for day in stats.days]


def test_days_outside_the_window_are_not_counted() -> None:
    model_row(14, "openai:m", 999, 99)
    assert dashboard_stats(today=TODAY).window_tokens.total_prompt_tokens == 0


def test_batch_tokens_cost_the_discounted_price() -> None:
    # 1M in at $1 + 1M out at $4 = $5; through the Batch API half of that.
    assert tokens_cost(prompt_tokens=1_000_000, completion_tokens=1_000_000) == pytest.approx(5.0)
    assert tokens_cost(
        prompt_tokens=1_000_000, completion_tokens=1_000_000, batch=True
    ) == pytest.approx(2.5)


def test_the_day_cost_adds_both_kinds() -> None:
    model_row(0, "openai:m", 500_000, 250_000)  # $0.5 + $1.0
    model_row(0, "openai-batch:m", 1_000_000, 500_000)  # ($1 + $2) / 2
    assert dashboard_stats(today=TODAY).today_tokens.cost == pytest.approx(3.0)


def test_page_shows_the_cost_of_today(admin_client) -> None:
    today = timezone.localdate()
    notification_create(
        date=today, generated_by="openai:m", prompt_tokens=500_000, completion_tokens=250_000
    )
    notification_create(
        date=today,
        generated_by="openai-batch:m",
        prompt_tokens=1_000_000,
        completion_tokens=500_000,
    )
    page = admin_client.get(DASHBOARD).content.decode()
    assert 'id="tokens-in">500000<' in page
    assert 'id="batch-tokens-out">500000<' in page
    assert 'id="tokens-cost">$3.0000<' in page


def test_tokens_cost_one_query_whatever_the_rows(admin_client) -> None:
    def count() -> int:
        with CaptureQueriesContext(connection) as captured:
            dashboard_stats(today=TODAY)
        return len(captured.captured_queries)

    model_row(0, "openai:m", 1, 1)
    few = count()
    for offset in range(14):
        model_row(offset, "openai:m", 10, 1)
        model_row(offset, "openai-batch:m", 10, 1)
        model_row(offset, "offline", None, None)
    assert count() == few
