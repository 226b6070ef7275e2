"""The retry policy, as a table: attempt outcome in, decision out."""

from __future__ import annotations

import datetime

import pytest

from delivery.retry import Outcome, RetryPolicy, retry_after_seconds

NOW = datetime.datetime(2026, 11, 22, 12, 0, 0, tzinfo=datetime.UTC)


def policy(*, jitter: float = 0.0, max_attempts: int = 8) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=max_attempts,
        backoff_seconds=30.0,
        backoff_max_seconds=600.0,
        random=lambda: jitter,
    )


@pytest.mark.parametrize(
    ("attempts", "http_status", "retry_after", "outcome", "delay_seconds"),
    [
        (1, 200, None, Outcome.DELIVERED, None),
        (1, 204, None, Outcome.DELIVERED, None),
        (8, 201, None, Outcome.DELIVERED, None),  # success on the last allowed attempt
        (1, 400, None, Outcome.FAILED, None),
        (1, 401, None, Outcome.FAILED, None),
        (1, 404, None, Outcome.FAILED, None),
        (1, 422, None, Outcome.FAILED, None),
        (1, 301, None, Outcome.FAILED, None),  # redirects are not followed
        (1, 500, None, Outcome.RETRY, 30),
        (1, 503, None, Outcome.RETRY, 30),
        (1, 408, None, Outcome.RETRY, 30),
        (1, 425, None, Outcome.RETRY, 30),
        (1, 429, None, Outcome.RETRY, 30),
        (1, None, None, Outcome.RETRY, 30),  # timeout or connection error
        (2, 503, None, Outcome.RETRY, 60),  # doubling
        (3, None, None, Outcome.RETRY, 120),
        (6, 502, None, Outcome.RETRY, 600),  # 960 capped at 600
        (7, 502, None, Outcome.RETRY, 600),
        (8, 503, None, Outcome.FAILED, None),  # max attempts reached
        (9, None, None, Outcome.FAILED, None),
        (1, 429, "120", Outcome.RETRY, 120),  # Retry-After in seconds
        (1, 503, "5000", Outcome.RETRY, 600),  # Retry-After bounded by the cap
        (1, 429, "Sun, 22 Nov 2026 12:03:00 GMT", Outcome.RETRY, 180),  # an HTTP-date
        # Retry-After lengthens a delay, never shortens it below the backoff.
        (1, 429, "Sun, 22 Nov 2026 11:00:00 GMT", Outcome.RETRY, 30),  # a date already past
        (1, 503, "0", Outcome.RETRY, 30),
        (3, 503, "0", Outcome.RETRY, 120),
        (1, 503, "10", Outcome.RETRY, 30),
        (2, 429, "59", Outcome.RETRY, 60),
        (2, 429, "61", Outcome.RETRY, 61),
        (1, 429, "Sun, 22 Nov 2026 12:00:10 GMT", Outcome.RETRY, 30),
        (1, 429, "soon", Outcome.RETRY, 30),  # unreadable: our own backoff
        (1, 503, "\xb2", Outcome.RETRY, 30),  # "²": a digit to str.isdigit(), not to float()
        (1, 503, "\xb3", Outcome.RETRY, 30),  # "³"
        (1, 503, "\xb9", Outcome.RETRY, 30),  # "¹"
        (1, 503, "1\xb2", Outcome.RETRY, 30),
        (1, 503, "\u0663", Outcome.RETRY, 30),  # an Arabic-Indic three
        (1, 503, "-5", Outcome.RETRY, 30),
        (1, 503, "", Outcome.RETRY, 30),
        (8, 429, "1", Outcome.FAILED, None),  # Retry-After does not beat max attempts
        (1, 400, "10", Outcome.FAILED, None),  # nor a permanent error
    ],
)
def test_decide(attempts, http_status, retry_after, outcome, delay_seconds):
    decision = policy().decide(
        attempts=attempts, http_status=http_status, retry_after=retry_after, now=NOW
    )
    assert decision.outcome is outcome
    if delay_seconds is None:
        assert decision.next_attempt_at is None
    else:
        assert decision.next_attempt_at == NOW + datetime.timedelta(seconds=delay_seconds)


@pytest.mark.parametrize(("jitter", "delay"), [(0.0, 60.0), (0.5, 54.0), (0.999, 48.012)])
def test_jitter_shortens_the_delay_by_up_to_a_fifth(jitter, delay):
    assert policy(jitter=jitter).backoff_delay(attempts=2) == pytest.approx(delay)


def test_jitter_never_exceeds_the_cap():
    assert policy(jitter=0.0).backoff_delay(attempts=50) == 600.0


def test_a_huge_attempt_count_does_not_overflow():
    assert policy().backoff_delay(attempts=10_000) == 600.0


@pytest.mark.parametrize(("retry_after", "delay"), [("0", 24.0), ("20", 24.0), ("25", 25.0)])
def test_retry_after_shorter_than_the_jittered_backoff_keeps_the_backoff(retry_after, delay):
    decision = policy(jitter=1.0).decide(
        attempts=1, http_status=503, retry_after=retry_after, now=NOW
    )
    assert decision.next_attempt_at == NOW + datetime.timedelta(seconds=delay)


def test_retry_after_date_without_zone_is_gmt():
    assert retry_after_seconds("Sun, 22 Nov 2026 12:00:10", now=NOW) == 10.0


@pytest.mark.parametrize(
    ("attempts", "http_status", "retry_after", "expires_in", "outcome", "delay_seconds"),
    [
        (1, 503, None, None, Outcome.RETRY, 30),  # no expiry: the window never closes
        (1, 503, None, 31, Outcome.RETRY, 30),  # the retry falls inside the window
        (1, 503, None, 30, Outcome.EXPIRED, None),  # at expires_at: too late
        (1, 503, None, 29, Outcome.EXPIRED, None),  # after it
        (1, None, None, 10, Outcome.EXPIRED, None),  # a network error alike
        (3, 429, None, 121, Outcome.RETRY, 120),
        (3, 429, None, 119, Outcome.EXPIRED, None),
        (1, 429, "120", 100, Outcome.EXPIRED, None),  # Retry-After pushes it past the end
        (1, 429, "120", 121, Outcome.RETRY, 120),
        (1, 503, None, -5, Outcome.EXPIRED, None),  # the window closed during the attempt
        (1, 200, None, -5, Outcome.DELIVERED, None),  # an answer in flight still counts
        (1, 400, None, 10, Outcome.FAILED, None),  # a permanent error stays failed
        (8, 503, None, 10, Outcome.FAILED, None),  # out of attempts: failed, no retry to expire
    ],
)
def test_decide_across_the_window_end(
    attempts, http_status, retry_after, expires_in, outcome, delay_seconds
):
    expires_at = None if expires_in is None else NOW + datetime.timedelta(seconds=expires_in)

    decision = policy().decide(
        attempts=attempts,
        http_status=http_status,
        retry_after=retry_after,
        now=NOW,
        expires_at=expires_at,
    )

    assert decision.outcome is outcome
    if delay_seconds is None:
        assert decision.next_attempt_at is None
    else:
        assert decision.next_attempt_at == NOW + datetime.timedelta(seconds=delay_seconds)
