"""The run's circuit breaker for model requests: stop asking once the model API is down.

When the API is down every request fails after the client's retries, so a run
would spend its time (and the API's patience) on requests bound to fail. Once the
breaker opens, the generator makes no more requests for the rest of the run: the
users still to do get offline text, which generation keeps only for those at their
fallback deadline and drops for the others, left to a later run, however few users
the run has.
"""

from __future__ import annotations

# Users in a row whose request failed before the breaker opens. With the client's
# retries and several requests in flight, a random blip never reaches it; an
# outage does within seconds.
CONSECUTIVE_FAILURE_LIMIT = 20
# Before any user of the run has been served, a few failures in a row already say
# the model is down: a run with fewer users than the limit above must stop asking too.
FIRST_FAILURES_LIMIT = 5


class FailureBreaker:
    """Counts the users in a row whose request failed (on the generator's event loop); opens on an outage.

    It opens at ``limit`` failures in a row, or at ``first_limit`` before any user
    of the run succeeded, or when a whole batch (``batch_failed``) failed before
    any success. Once open it stays open for the run: ``reason`` says why.
    """

    def __init__(self, *, limit: int, first_limit: int = FIRST_FAILURES_LIMIT) -> None:
        self.limit = limit
        self.first_limit = first_limit
        self._in_a_row = 0
        self._any_succeeded = False
        self._last_reason = ""
        self._open: str | None = None

    @property
    def is_open(self) -> bool:
        return self._open is not None

    @property
    def reason(self) -> str | None:
        """Why the breaker opened, in one line; None while it is closed."""
        return self._open

    def succeeded(self) -> None:
        """A user got the model's text: the failures so far were not an outage."""
        self._in_a_row = 0
        self._any_succeeded = True

    def failed(self, *, generator: str, reason: str) -> None:
        """Count one failed user; open the breaker if that reaches the limit."""
        self._in_a_row += 1
        self._last_reason = reason
        limit = self.limit if self._any_succeeded else min(self.limit, self.first_limit)
        if self._in_a_row >= limit:
            self._trip(generator)

    def batch_failed(self, *, generator: str) -> None:
        """Every user of a batch failed: open the breaker unless one of the run succeeded."""
        if not self._any_succeeded and self._in_a_row:
            self._trip(generator)

    def _trip(self, generator: str) -> None:
        if self._open is None:
            self._open = (
                f"{generator}: {self._in_a_row} consecutive failures "
                f"(last: {self._last_reason[:160]}): the model API looks down"
            )
