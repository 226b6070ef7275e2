"""The generator interface: what writes a notification's title and body for one user.

A generator has a ``name`` (recorded in ``DailyNotification.generated_by``) and one
method to implement, ``write``. ``write_many`` is what generation calls; its default
writes one after the other, and a generator that waits on the network overrides it
to keep several requests in flight.
"""

from __future__ import annotations

import datetime
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from outbox.generators.profile import Profile

FALLBACK_GENERATED_BY = "offline-fallback"


class GeneratorError(Exception):
    """A generator cannot be used at all; the command reports it in one line."""


class UnknownGenerator(GeneratorError, ValueError):
    """The generator asked for does not exist or is not configured (e.g. no API key)."""


class GeneratorUnavailable(GeneratorError):
    """The generator's service refuses every request (bad key, unknown model): stop the run."""


@dataclass(frozen=True, slots=True)
class GeneratedText:
    """A notification's text and who wrote it (``openai:<model>``, ``offline``, ``offline-fallback``)."""

    title: str
    body: str
    generated_by: str

    @property
    def is_fallback(self) -> bool:
        return self.generated_by == FALLBACK_GENERATED_BY


@dataclass(frozen=True, slots=True)
class WriteRequest:
    """One notification to write: whose, which category, for which date."""

    user: Profile
    category: str
    date: datetime.date


class NotificationGenerator(ABC):
    """Writes notification text from a user's profile; subclasses implement ``write``."""

    name: str

    @abstractmethod
    def write(self, *, user: Profile, category: str, date: datetime.date) -> GeneratedText:
        """The text of ``user``'s ``category`` notification for ``date``.

        Never raises for one user's bad luck (a generator falls back instead);
        raises ``GeneratorUnavailable`` only when no user can be served.
        """

    def write_many(
        self, *, requests: Sequence[WriteRequest], concurrency: int = 1
    ) -> Iterator[tuple[WriteRequest, GeneratedText]]:
        """Each request with its text, in any order; at most ``concurrency`` written at once."""
        for request in requests:
            yield (
                request,
                self.write(user=request.user, category=request.category, date=request.date),
            )
