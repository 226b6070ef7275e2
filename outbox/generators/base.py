"""The generator interface: what writes a notification's title and body for one user.

A generator has a ``name`` (recorded in ``DailyNotification.generated_by``) and one
method to implement, ``write``. ``write_many`` is what generation calls; its default
writes one after the other, and a generator that waits on the network overrides it
to keep several requests in flight. The markers and bounds every generator and
reader of ``generated_by`` share are defined here, once.
"""

from __future__ import annotations

import datetime
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from typing import NamedTuple

from outbox.generators.profile import Profile

# What ``DailyNotification.generated_by`` says about who wrote a row's text.
OFFLINE_GENERATED_BY = "offline"
FALLBACK_GENERATED_BY = "offline-fallback"  # offline text because the model failed for the user
OPENAI_FAMILY = "openai"  # the generator's name on the command line and in the admin's filter
OPENAI_GENERATED_BY_PREFIX = f"{OPENAI_FAMILY}:"  # followed by the model's name
# Text written through the Batch API a day ahead (billed at the batch discount).
OPENAI_BATCH_FAMILY = "openai-batch"
OPENAI_BATCH_GENERATED_BY_PREFIX = f"{OPENAI_BATCH_FAMILY}:"  # followed by the model's name

# What a generator may return: a one-line title and a message a phone shows whole.
# (The ``title`` column is wider; narrowing it would rewrite the table for no gain.)
TITLE_MAX_CHARS = 120
MESSAGE_MAX_CHARS = 600


def openai_generated_by(model: str) -> str:
    """The ``generated_by`` of text written by ``model`` through the OpenAI API."""
    return f"{OPENAI_GENERATED_BY_PREFIX}{model}"


def openai_batch_generated_by(model: str) -> str:
    """The ``generated_by`` of text written by ``model`` through the OpenAI Batch API."""
    return f"{OPENAI_BATCH_GENERATED_BY_PREFIX}{model}"


class GeneratorError(Exception):
    """A generator cannot be used at all; the command reports it in one line."""


class UnknownGenerator(GeneratorError, ValueError):
    """The generator asked for does not exist or is not configured (e.g. no API key)."""


class GeneratorUnavailable(GeneratorError):
    """The generator's service refuses every request (bad key, unknown model, no quota).

    Nobody can be served until the operator acts: generation asks it nothing more
    in the run, and writes offline text only for the users at their fallback deadline.
    """


class GeneratedText(NamedTuple):
    """A notification's text, who wrote it (one of the ``generated_by`` markers above) and its cost.

    The token counts are the model's ``usage`` for this text; None when no model wrote it.
    """

    title: str
    body: str
    generated_by: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None

    @property
    def is_fallback(self) -> bool:
        return self.generated_by == FALLBACK_GENERATED_BY


class WriteRequest(NamedTuple):
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

        The title is at most ``TITLE_MAX_CHARS`` and the body at most
        ``MESSAGE_MAX_CHARS`` characters, neither empty. Never raises for one
        user's bad luck: the text is then offline text marked
        ``FALLBACK_GENERATED_BY``, which generation keeps or drops by the user's
        send time. Raises ``GeneratorUnavailable`` only when no user can be served.
        """

    def outage(self) -> str | None:
        """Why the generator has stopped asking its service (an outage), in one line; None while it asks.

        Once set it stays set for the generator's life (one run): every later text is fallback.
        """
        return None

    def write_many(
        self, *, requests: Sequence[WriteRequest], concurrency: int = 1
    ) -> Iterator[tuple[WriteRequest, GeneratedText]]:
        """Each request with its text, in any order; at most ``concurrency`` written at once."""
        for request in requests:
            yield (
                request,
                self.write(user=request.user, category=request.category, date=request.date),
            )
