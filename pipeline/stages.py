"""The two stages as ``runpipeline`` and the scheduled tasks both run them.

Parsing the date, choosing the generator, applying the defaults and wording the
summary line happen here once, so the command and the tasks cannot drift apart.
A request that cannot work as given (a bad date, an unknown generator, an unusable
delivery setting) is a ``StageConfigError``: running it again changes nothing.
A generate run that leaves users for the next run (the model could not serve them
and their send time is not near yet) says so in ``GenerateResult.left_line``; each
caller decides what that means for its exit. A database error is left to propagate.
"""

from __future__ import annotations

import datetime
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings

from core.progress import ProgressCallback
from delivery.conf import DeliverySettingsError
from delivery.worker import DeliverySummary, notifications_deliver
from outbox.generation import GenerationSummary, notifications_generate
from outbox.generators import (
    NotificationGenerator,
    UnknownGenerator,
    batch_api_from_settings,
    generator_for,
)

if TYPE_CHECKING:
    from outbox.batches import BatchStepSummary

INCOMPLETE_NOTE = "; stopped at the time limit, users remain"


class StageConfigError(Exception):
    """A stage cannot run as asked; the input or a setting must change, a retry would not help."""


@dataclass(frozen=True, kw_only=True)
class GenerateResult:
    """One generate run: the date asked for (None: the horizon), the generator and what it did."""

    date: datetime.date | None
    generator_name: str
    summary: GenerationSummary
    # The Batch API step run first (None when there was none).
    batch: BatchStepSummary | None = None

    @property
    def line(self) -> str:
        """The summary line an operator reads: ``created N, existing N, fallback N`` first.

        Then ``disabled N``, ``closed N`` with a date, and the other counts when not zero.
        """
        summary = self.summary
        counts = [
            f"created {summary.created}",
            f"existing {summary.existing}",
            f"fallback {summary.fallback}",
            f"disabled {summary.disabled}",
        ]
        if self.date is not None or summary.closed:
            counts.append(f"closed {summary.closed}")
        for name, value in (
            ("left", summary.left),
            ("all muted", summary.muted),
            ("unknown zone", summary.unknown_zone),
            ("in open batches", summary.in_batch),
        ):
            if value:
                counts.append(f"{name} {value}")
        scope = f"{self.date} " if self.date is not None else ""
        return (
            f"{scope}{self.generator_name}: {', '.join(counts)}{tokens_part(summary)} "
            f"in {summary.elapsed_seconds:.1f}s"
            + ("" if summary.complete else INCOMPLETE_NOTE)
            + ("" if self.batch is None else f"; {self.batch.line}")
        )

    @property
    def left_line(self) -> str | None:
        """One line saying how many users in scope have no row yet and why; None when none."""
        summary = self.summary
        if not summary.left:
            return None
        users = "user" if summary.left == 1 else "users"
        return f"model unavailable ({summary.outage}): {summary.left} {users} left for the next run"


def tokens_part(summary: GenerationSummary) -> str:
    """``, tokens 123,456 in / 7,890 out`` when the run's text cost tokens; nothing for offline text."""
    if not (summary.prompt_tokens or summary.completion_tokens):
        return ""
    return f", tokens {summary.prompt_tokens:,} in / {summary.completion_tokens:,} out"


@dataclass(frozen=True, kw_only=True)
class DeliverResult:
    """One deliver run and its summary line."""

    summary: DeliverySummary

    @property
    def line(self) -> str:
        """``delivered N, retrying N, failed N, expired N, cancelled N in Xs (R/s)``."""
        summary = self.summary
        return (
            f"delivered {summary.delivered}, retrying {summary.retrying}, "
            f"failed {summary.failed}, expired {summary.expired}, "
            f"cancelled {summary.cancelled} in {summary.elapsed_seconds:.1f}s "
            f"({summary.rate_per_second:.1f}/s)"
        )


def generate_date_parse(text: str | None) -> datetime.date | None:
    """``YYYY-MM-DD`` as a date; None stays None: the horizon, decided from the clock when the run starts."""
    if text is None:
        return None
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise StageConfigError(f"--date must be a date as YYYY-MM-DD, got {text!r}") from None


def generator_choose(name: str | None) -> NotificationGenerator:
    """The generator called ``name``; None means OpenAI when ``OPENAI_API_KEY`` is set, else offline.

    Raises ``StageConfigError`` for an unknown name, or for ``openai`` without a key.
    """
    try:
        return generator_for(name)
    except UnknownGenerator as error:
        raise StageConfigError(str(error)) from None


def generation_run(
    *,
    date: datetime.date | None,
    generator: NotificationGenerator,
    concurrency: int | None = None,
    limit: int | None = None,
    max_seconds: float | None = None,
    on_progress: ProgressCallback | None = None,
) -> GenerateResult:
    """Write the missing notifications in scope (``date``'s, or the horizon's with None).

    Concurrency defaults to ``OPENAI_CONCURRENCY``. The Batch API step (``batch_step``)
    runs first. The model being down is not an error here: the result counts the users
    left for the next run.
    """
    batch = batch_step(generator=generator)
    summary = notifications_generate(
        date=date,
        generator=generator,
        concurrency=concurrency or settings.OPENAI_CONCURRENCY,
        limit=limit,
        on_progress=on_progress,
        max_seconds=max_seconds,
    )
    return GenerateResult(date=date, generator_name=generator.name, summary=summary, batch=batch)


def batch_step(*, generator: NotificationGenerator) -> BatchStepSummary | None:
    """Poll the open batches, and submit the users a day ahead with ``openai-batch``.

    Every run polls (whatever its generator) when there is a key and an open batch;
    None when there was nothing to do.
    """
    if not settings.OPENAI_API_KEY:
        return None
    # Here, not at the top: a run without a key never loads the client library.
    from outbox.batches import batches_open_exist, batches_run
    from outbox.generators.batch import OpenAIBatchGenerator

    submit = isinstance(generator, OpenAIBatchGenerator)
    if not submit and not batches_open_exist():
        return None
    api = generator.batch_api() if submit else batch_api_from_settings()
    return batches_run(api=api, submit=submit)


def delivery_run(
    *,
    concurrency: int | None = None,
    batch_size: int | None = None,
    forever: bool = False,
    max_seconds: float | None = None,
    stop: threading.Event | None = None,
    on_progress: ProgressCallback | None = None,
    metrics_port: int | None = None,
) -> DeliverResult:
    """Deliver what is due (until ``stop`` with ``forever``); defaults come from the settings.

    With ``metrics_port``, the worker's own metrics are served on that port while it runs.

    Raises ``StageConfigError`` when the delivery settings cannot work.
    """
    try:
        summary = notifications_deliver(
            concurrency=concurrency or settings.NOTIFICATIONS_CONCURRENCY,
            batch_size=batch_size or settings.NOTIFICATIONS_BATCH_SIZE,
            forever=forever,
            max_seconds=max_seconds,
            stop=stop,
            on_progress=on_progress,
            metrics_port=metrics_port,
        )
    except DeliverySettingsError as error:
        raise StageConfigError(str(error)) from None
    return DeliverResult(summary=summary)
