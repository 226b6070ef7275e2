"""The run's circuit breaker for model requests: stop before an outage becomes fallback text.

Fallback rows are permanent, so when the model API is down the run must stop and
leave its users to a later run rather than write offline text for all of them.
"""

from __future__ import annotations

import threading

from outbox.generators.base import GeneratorUnavailable

# Users in a row whose request failed before the run stops. With the client's
# retries and several requests in flight, a random blip never reaches it; an
# outage does within seconds.
CONSECUTIVE_FAILURE_LIMIT = 20


class FailureBreaker:
    """Counts the users in a row whose request failed, across threads; opens at ``limit``.

    Once open it stays open: every later ``check`` raises ``GeneratorUnavailable``,
    so threads still holding requests from the queue stop without sending them.
    """

    def __init__(self, *, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._in_a_row = 0
        self._open: str | None = None

    def check(self) -> None:
        """Raise ``GeneratorUnavailable`` if the breaker has opened."""
        if self._open is not None:
            raise GeneratorUnavailable(self._open)

    def succeeded(self) -> None:
        """A user got the model's text: the failures so far were not an outage."""
        with self._lock:
            self._in_a_row = 0

    def failed(self, *, generator: str, reason: str) -> None:
        """Count one failed user; raise ``GeneratorUnavailable`` when that makes ``limit`` in a row."""
        with self._lock:
            self._in_a_row += 1
            if self._open is None and self._in_a_row >= self.limit:
                self._open = (
                    f"{generator}: {self._in_a_row} consecutive failures (last: {reason[:160]}): "
                    "the model API looks down; re-run later"
                )
        self.check()
