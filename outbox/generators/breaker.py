"""The run's circuit breaker for model requests: stop before an outage becomes fallback text.

Fallback rows are permanent, so when the model API is down the run must stop and
leave its users to a later run rather than write offline text for all of them,
however few users the run has.
"""

from __future__ import annotations

from outbox.generators.base import GeneratorUnavailable

# Users in a row whose request failed before the run stops. With the client's
# retries and several requests in flight, a random blip never reaches it; an
# outage does within seconds.
CONSECUTIVE_FAILURE_LIMIT = 20
# Before any user of the run has been served, a few failures in a row already say
# the model is down: a run with fewer users than the limit above must stop too.
FIRST_FAILURES_LIMIT = 5


class FailureBreaker:
    """Counts the users in a row whose request failed (on the generator's event loop); opens on an outage.

    It opens at ``limit`` failures in a row, or at ``first_limit`` before any user
    of the run succeeded, or when a whole batch (``batch_failed``) failed before
    any success. Once open it stays open: every later ``check`` raises
    ``GeneratorUnavailable``, so requests still queued are never sent.
    """

    def __init__(self, *, limit: int, first_limit: int = FIRST_FAILURES_LIMIT) -> None:
        self.limit = limit
        self.first_limit = first_limit
        self._in_a_row = 0
        self._any_succeeded = False
        self._last_reason = ""
        self._open: str | None = None

    def check(self) -> None:
        """Raise ``GeneratorUnavailable`` if the breaker has opened."""
        if self._open is not None:
            raise GeneratorUnavailable(self._open)

    def succeeded(self) -> None:
        """A user got the model's text: the failures so far were not an outage."""
        self._in_a_row = 0
        self._any_succeeded = True

    def failed(self, *, generator: str, reason: str) -> None:
        """Count one failed user; raise ``GeneratorUnavailable`` if that opens the breaker."""
        self._in_a_row += 1
        self._last_reason = reason
        limit = self.limit if self._any_succeeded else min(self.limit, self.first_limit)
        if self._in_a_row >= limit:
            self._trip(generator)
        self.check()

    def batch_failed(self, *, generator: str) -> None:
        """Every user of a batch failed: raise ``GeneratorUnavailable`` unless one of the run succeeded."""
        if not self._any_succeeded and self._in_a_row:
            self._trip(generator)
        self.check()

    def _trip(self, generator: str) -> None:
        if self._open is None:
            self._open = (
                f"{generator}: {self._in_a_row} consecutive failures "
                f"(last: {self._last_reason[:160]}): the model API looks down; re-run later"
            )
