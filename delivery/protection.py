"""Endpoint protection per worker process: a rate limit and a circuit breaker.

Both are shared by every attempt of a worker, whatever thread or event loop it runs
on, so each keeps its state under a lock and only hands out decisions: neither ever
sleeps. A thread waits the delay it is given; a coroutine awaits it.

The breaker counts failed attempts in a row (no answer, a timeout, 5xx, 408, 429).
Its ``admit`` decides at each attempt's start, so that what an outage costs is
bounded by what starts, not by what happens to be in flight: while the endpoint
is unproven (at start-up, or once an attempt has failed since the last answer)
at most ``threshold`` attempts may be under way, so a dead endpoint gets
``threshold`` attempts and then the breaker opens. Open, it refuses every attempt
(the worker gives those rows back uncounted) until a cool-down has passed, then
admits one probe; a probe that fails doubles the cool-down (up to a cap), one
that gets an answer closes the breaker.
"""

from __future__ import annotations

import datetime
import enum
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

# The longest cool-down between two probes, however long the outage.
MAX_COOLDOWN_SECONDS = 300.0
# Statuses that say the endpoint is in trouble (besides every 5xx and no answer at all).
FAILURE_STATUSES = frozenset({408, 429})

Clock = Callable[[], float]


def attempt_failed(http_status: int | None) -> bool:
    """Whether an attempt's outcome counts against the endpoint (any other answer proves it up)."""
    return http_status is None or http_status >= 500 or http_status in FAILURE_STATUSES


class RateLimiter:
    """A token bucket of ``rate`` tokens a second holding at most ``burst``, exact under concurrency.

    Each ``reserve`` takes the next free slot (the generic cell rate algorithm):
    however many callers at once, at most ``burst + rate * T`` attempts start in
    any ``T`` seconds, and the slots never drift, since each is an absolute instant.
    """

    def __init__(self, *, rate: float, burst: int = 1, clock: Clock = time.monotonic) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.interval = 1.0 / rate
        self.tolerance = (burst - 1) * self.interval
        self.clock = clock
        self.lock = threading.Lock()
        # The theoretical arrival time of the next token.
        self.next_at = -math.inf

    def reserve(self) -> float:
        """Take a slot; returns how many seconds to wait before starting (0 for now)."""
        with self.lock:
            now = self.clock()
            due = max(self.next_at, now)
            start = max(now, due - self.tolerance)
            self.next_at = due + self.interval
        return start - now


class BreakerState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"


class Admission(enum.Enum):
    """The breaker's answer to an attempt about to start."""

    GO = "go"
    # Admitted while the endpoint is unproven: counted against the threshold.
    GUARDED = "guarded"
    PROBE = "probe"
    # Not now: wait for an attempt under way to end, then ask again.
    WAIT = "wait"
    # The breaker is open: give the row back unsent.
    REFUSE = "refuse"


@dataclass(frozen=True, kw_only=True, slots=True)
class BreakerEvent:
    """A change of the breaker, for the worker to log and publish."""

    state: BreakerState
    # Failed attempts in a row when it opened (0 when it closed).
    failures: int
    cooldown_seconds: float
    at: datetime.datetime
    # Wall-clock instant of the next probe (None when closed).
    next_probe_at: datetime.datetime | None
    probe_failed: bool = False


class CircuitBreaker:
    """Opens after ``threshold`` failed attempts in a row; probes after a doubling cool-down."""

    def __init__(
        self,
        *,
        threshold: int,
        cooldown_seconds: float,
        max_cooldown_seconds: float = MAX_COOLDOWN_SECONDS,
        clock: Clock = time.monotonic,
        wall_clock: Callable[[], datetime.datetime] | None = None,
    ) -> None:
        self.threshold = threshold
        self.base_cooldown = cooldown_seconds
        self.max_cooldown = max(max_cooldown_seconds, cooldown_seconds)
        self.clock = clock
        self.wall_clock = wall_clock or (lambda: datetime.datetime.now(tz=datetime.UTC))
        self.lock = threading.Lock()
        self.state = BreakerState.CLOSED
        self.failures = 0
        # Nothing answered yet: the first attempts are guarded like after a failure.
        self.proven = False
        self.guarded_in_flight = 0
        self.cooldown = cooldown_seconds
        self.probe_at = 0.0
        self.probe_in_flight = False
        self.probes = 0
        self.events: list[BreakerEvent] = []

    @property
    def is_open(self) -> bool:
        return self.state is BreakerState.OPEN

    def claim_limit(self) -> int | None:
        """Rows the worker may claim now: None for any number, 1 for a probe, 0 for none."""
        with self.lock:
            if self.state is BreakerState.CLOSED:
                return None
            if self.probe_in_flight or self.clock() < self.probe_at:
                return 0
            return 1

    def seconds_to_probe(self) -> float | None:
        """How long until a probe may start (None when closed)."""
        with self.lock:
            if self.state is BreakerState.CLOSED:
                return None
            return max(0.0, self.probe_at - self.clock())

    def admit(self) -> Admission:
        """Whether an attempt may start now; every admitted attempt must be ``record``-ed or ``cancel``-led."""
        with self.lock:
            if self.state is BreakerState.OPEN:
                if self.probe_in_flight or self.clock() < self.probe_at:
                    return Admission.REFUSE
                self.probe_in_flight = True
                self.probes += 1
                return Admission.PROBE
            if self.proven and self.failures == 0:
                return Admission.GO
            if self.failures + self.guarded_in_flight < self.threshold:
                self.guarded_in_flight += 1
                return Admission.GUARDED
            return Admission.WAIT

    def cancel(self, admission: Admission) -> None:
        """An admitted attempt did not start after all (stopping, too late for its lease)."""
        with self.lock:
            self._release(admission)

    def record(self, admission: Admission, *, failed: bool) -> bool:
        """An admitted attempt ended (``failed``: see ``attempt_failed``); returns whether the state changed."""
        with self.lock:
            self._release(admission)
            if admission is Admission.PROBE:
                if failed:
                    self.cooldown = min(self.cooldown * 2, self.max_cooldown)
                    self._open(probe_failed=True)
                else:
                    self._close()
                return True
            if self.state is BreakerState.OPEN:
                # Under way before the breaker opened: only a probe decides now.
                return False
            if not failed:
                changed = self.failures > 0 or not self.proven
                self.failures = 0
                self.proven = True
                return changed
            self.failures += 1
            if self.failures >= self.threshold:
                self.cooldown = self.base_cooldown
                self._open(probe_failed=False)
            return True

    def events_take(self) -> list[BreakerEvent]:
        """The changes since the last call, oldest first."""
        with self.lock:
            events, self.events = self.events, []
        return events

    def _release(self, admission: Admission) -> None:
        if admission is Admission.GUARDED:
            self.guarded_in_flight -= 1
        elif admission is Admission.PROBE:
            self.probe_in_flight = False

    def _open(self, *, probe_failed: bool) -> None:
        self.state = BreakerState.OPEN
        self.probe_at = self.clock() + self.cooldown
        now = self.wall_clock()
        self.events.append(
            BreakerEvent(
                state=BreakerState.OPEN,
                failures=self.failures,
                cooldown_seconds=self.cooldown,
                at=now,
                next_probe_at=now + datetime.timedelta(seconds=self.cooldown),
                probe_failed=probe_failed,
            )
        )

    def _close(self) -> None:
        self.state = BreakerState.CLOSED
        self.failures = 0
        self.proven = True
        self.cooldown = self.base_cooldown
        self.events.append(
            BreakerEvent(
                state=BreakerState.CLOSED,
                failures=0,
                cooldown_seconds=self.cooldown,
                at=self.wall_clock(),
                next_probe_at=None,
            )
        )
