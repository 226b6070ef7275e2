"""The rate limit and the circuit breaker as pure state machines, on a clock the test moves."""

from __future__ import annotations

import threading

import pytest

from delivery.protection import (
    Admission,
    BreakerState,
    CircuitBreaker,
    RateLimiter,
    attempt_failed,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("status", "failed"),
    [
        (None, True),
        (500, True),
        (503, True),
        (429, True),
        (408, True),
        (200, False),
        (204, False),
        (301, False),
        (400, False),
        (401, False),
        (404, False),
    ],
)
def test_what_counts_against_the_endpoint(status, failed):
    assert attempt_failed(status) is failed


def test_the_rate_limiter_spaces_reservations_exactly():
    clock = Clock()
    limiter = RateLimiter(rate=10, clock=clock)

    delays = [limiter.reserve() for _ in range(5)]

    assert delays == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])


def test_the_rate_limiter_lets_a_burst_through_then_spaces():
    clock = Clock()
    limiter = RateLimiter(rate=10, burst=3, clock=clock)

    delays = [limiter.reserve() for _ in range(5)]

    assert delays == pytest.approx([0.0, 0.0, 0.0, 0.1, 0.2])


def test_the_rate_limiter_does_not_save_up_idle_time():
    clock = Clock()
    limiter = RateLimiter(rate=10, clock=clock)
    limiter.reserve()
    clock.now += 60

    assert [limiter.reserve(), limiter.reserve()] == pytest.approx([0.0, 0.1])


def test_reservations_from_many_threads_are_distinct_slots():
    clock = Clock()
    limiter = RateLimiter(rate=1000, clock=clock)
    delays: list[float] = []
    lock = threading.Lock()

    def take() -> None:
        for _ in range(250):
            delay = limiter.reserve()
            with lock:
                delays.append(delay)

    threads = [threading.Thread(target=take) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    slots = sorted(round(delay * 1000) for delay in delays)
    assert slots == list(range(2000))


def breaker(clock: Clock, **overrides) -> CircuitBreaker:
    options = {"threshold": 3, "cooldown_seconds": 5.0, "max_cooldown_seconds": 300.0}
    return CircuitBreaker(clock=clock, **(options | overrides))


def answered(b: CircuitBreaker) -> None:
    """One attempt admitted and answered."""
    b.record(b.admit(), failed=False)


def test_unproven_at_start_it_admits_only_the_threshold_at_once():
    b = breaker(Clock())

    admissions = [b.admit() for _ in range(4)]

    assert admissions == [Admission.GUARDED] * 3 + [Admission.WAIT]
    b.record(admissions[0], failed=False)
    assert b.admit() is Admission.GO


def test_once_proven_any_number_goes():
    b = breaker(Clock())
    answered(b)

    assert {b.admit() for _ in range(1000)} == {Admission.GO}


def test_after_a_failure_what_starts_is_bounded_until_an_answer():
    b = breaker(Clock())
    answered(b)
    in_flight = [b.admit() for _ in range(10)]  # all GO

    b.record(in_flight[0], failed=True)

    assert [b.admit(), b.admit(), b.admit()] == [
        Admission.GUARDED,
        Admission.GUARDED,
        Admission.WAIT,
    ]
    b.record(in_flight[1], failed=False)
    assert b.admit() is Admission.GO


def test_threshold_failures_in_a_row_open_it_and_refuse_everything():
    b = breaker(Clock())
    answered(b)
    attempts = [b.admit() for _ in range(3)]

    for admission in attempts:
        b.record(admission, failed=True)

    assert b.state is BreakerState.OPEN
    assert b.claim_limit() == 0
    assert b.admit() is Admission.REFUSE
    [event] = b.events_take()
    assert (event.state, event.failures, event.cooldown_seconds) == (BreakerState.OPEN, 3, 5.0)


def test_an_answer_between_failures_resets_the_count():
    b = breaker(Clock())
    for failed in (True, True, False, True, True):
        b.record(b.admit(), failed=failed)

    assert b.state is BreakerState.CLOSED


def opened(clock: Clock) -> CircuitBreaker:
    b = breaker(clock)
    for _ in range(3):
        b.record(b.admit(), failed=True)
    b.events_take()
    return b


def test_after_the_cooldown_one_probe_is_admitted():
    clock = Clock()
    b = opened(clock)
    clock.now += 4.9
    assert b.claim_limit() == 0
    clock.now += 0.1

    assert b.claim_limit() == 1
    assert b.admit() is Admission.PROBE
    assert b.admit() is Admission.REFUSE
    assert b.claim_limit() == 0


def test_a_failed_probe_doubles_the_cooldown_up_to_the_cap():
    clock = Clock()
    b = opened(clock)
    cooldowns = []
    for _ in range(8):
        clock.now += b.seconds_to_probe()
        b.record(b.admit(), failed=True)
        cooldowns.append(b.events_take()[-1].cooldown_seconds)

    assert cooldowns == [10, 20, 40, 80, 160, 300, 300, 300]
    assert b.probes == 8


def test_an_answered_probe_closes_it_and_resets_the_cooldown():
    clock = Clock()
    b = opened(clock)
    clock.now += 5
    b.record(b.admit(), failed=True)
    clock.now += 10

    b.record(b.admit(), failed=False)

    assert b.state is BreakerState.CLOSED
    assert b.admit() is Admission.GO
    assert [event.state for event in b.events_take()] == [BreakerState.OPEN, BreakerState.CLOSED]
    for _ in range(3):
        b.record(b.admit(), failed=True)
    assert b.events_take()[-1].cooldown_seconds == 5


def test_results_of_attempts_started_before_it_opened_do_not_decide():
    clock = Clock()
    b = breaker(clock)
    answered(b)
    early = [b.admit() for _ in range(5)]
    for admission in early[:3]:
        b.record(admission, failed=True)

    assert b.record(early[3], failed=False) is False
    assert b.state is BreakerState.OPEN


def test_a_cancelled_probe_can_be_taken_again():
    clock = Clock()
    b = opened(clock)
    clock.now += 5
    probe = b.admit()

    b.cancel(probe)

    assert b.admit() is Admission.PROBE
