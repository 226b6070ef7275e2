"""The stages as the command and the tasks share them: parsing, choice, defaults, summary lines."""

from __future__ import annotations

import datetime

import pytest

from delivery.worker import DeliverySummary
from outbox.generation import GenerationSummary
from pipeline.stages import (
    DeliverResult,
    GenerateResult,
    StageConfigError,
    delivery_run,
    generate_date_parse,
    generator_choose,
)


def test_no_date_is_the_horizon_decided_when_the_run_starts() -> None:
    assert generate_date_parse(None) is None


def test_a_date_is_read_as_yyyy_mm_dd() -> None:
    assert generate_date_parse("2026-11-22") == datetime.date(2026, 11, 22)


@pytest.mark.parametrize("text", ["2026-13-01", "yesterday", ""])
def test_a_bad_date_is_a_config_error(text: str) -> None:
    with pytest.raises(StageConfigError, match="--date must be a date as YYYY-MM-DD"):
        generate_date_parse(text)


def test_an_unknown_generator_is_a_config_error() -> None:
    with pytest.raises(StageConfigError, match="unknown generator 'gpt5'"):
        generator_choose("gpt5")


def test_openai_without_a_key_is_a_config_error(settings) -> None:
    settings.OPENAI_API_KEY = ""
    with pytest.raises(StageConfigError, match="needs OPENAI_API_KEY"):
        generator_choose("openai")


def test_an_unusable_delivery_setting_is_a_config_error(settings) -> None:
    settings.NOTIFICATIONS_URL = "ftp://example.com/notifications"
    with pytest.raises(StageConfigError, match="NOTIFICATIONS_URL must be an http"):
        delivery_run()


def summary(**counts) -> GenerationSummary:
    fields = {"created": 2, "existing": 1, "fallback": 0, "elapsed_seconds": 0.3, "complete": True}
    return GenerationSummary(**{**fields, **counts})


def test_the_generate_line_says_when_users_remain() -> None:
    result = GenerateResult(
        date=datetime.date(2026, 11, 22),
        generator_name="offline",
        summary=summary(complete=False),
    )
    assert result.line == (
        "2026-11-22 offline: created 2, existing 1, fallback 0, disabled 0, closed 0 in 0.3s"
        "; stopped at the time limit, users remain"
    )


def test_the_horizon_line_has_no_date_and_no_closed_count() -> None:
    result = GenerateResult(date=None, generator_name="offline", summary=summary(disabled=4))
    assert result.line == "offline: created 2, existing 1, fallback 0, disabled 4 in 0.3s"


def test_the_other_counts_follow_when_not_zero() -> None:
    result = GenerateResult(
        date=None,
        generator_name="openai:m",
        summary=summary(left=7, muted=1, unknown_zone=2, outage="down"),
    )
    assert result.line == (
        "openai:m: created 2, existing 1, fallback 0, disabled 0, left 7, all muted 1, "
        "unknown zone 2 in 0.3s"
    )


def test_users_left_make_one_line_saying_how_many_and_why() -> None:
    result = GenerateResult(
        date=None, generator_name="openai:m", summary=summary(left=812, outage="m: 5 failures")
    )
    assert result.left_line == "model unavailable (m: 5 failures): 812 users left for the next run"


def test_no_user_left_no_line() -> None:
    assert GenerateResult(date=None, generator_name="x", summary=summary()).left_line is None


def test_the_deliver_line() -> None:
    summary = DeliverySummary(delivered=4, retrying=1, failed=1, elapsed_seconds=2.0)
    assert DeliverResult(summary=summary).line == (
        "delivered 4, retrying 1, failed 1, expired 0, cancelled 0 in 2.0s (3.0/s)"
    )


def test_the_deliver_line_counts_expired_and_cancelled() -> None:
    summary = DeliverySummary(
        delivered=4, retrying=1, failed=1, expired=3, cancelled=1, elapsed_seconds=2.0
    )
    assert DeliverResult(summary=summary).line == (
        "delivered 4, retrying 1, failed 1, expired 3, cancelled 1 in 2.0s (5.0/s)"
    )
