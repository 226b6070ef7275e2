"""Notification generators (offline templates, OpenAI) and the choice between them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings

from outbox.generators.base import (
    FALLBACK_GENERATED_BY,
    OFFLINE_GENERATED_BY,
    OPENAI_BATCH_FAMILY,
    OPENAI_FAMILY,
    GeneratedText,
    GeneratorError,
    GeneratorUnavailable,
    NotificationGenerator,
    UnknownGenerator,
    WriteRequest,
)
from outbox.generators.offline import OfflineGenerator

if TYPE_CHECKING:
    from outbox.generators.batch import BatchApi

__all__ = [
    "FALLBACK_GENERATED_BY",
    "OFFLINE_GENERATED_BY",
    "OPENAI_FAMILY",
    "GeneratedText",
    "GeneratorError",
    "GeneratorUnavailable",
    "NotificationGenerator",
    "OfflineGenerator",
    "UnknownGenerator",
    "WriteRequest",
    "generator_for",
]

GENERATOR_NAMES = (OPENAI_FAMILY, OPENAI_BATCH_FAMILY, OFFLINE_GENERATED_BY)


def generator_for(name: str | None) -> NotificationGenerator:
    """The generator called ``name``; None is the default (see ``default_generator_name``).

    Raises ``UnknownGenerator`` for any other name, or for ``openai`` or
    ``openai-batch`` without a key.
    """
    if name is None:
        name = default_generator_name()
    if name == OFFLINE_GENERATED_BY:
        return OfflineGenerator()
    if name in (OPENAI_FAMILY, OPENAI_BATCH_FAMILY):
        if not settings.OPENAI_API_KEY:
            raise UnknownGenerator(f"the {name} generator needs OPENAI_API_KEY to be set")
        # Imported here so that the offline path never loads the client library.
        from outbox.generators.batch import OpenAIBatchGenerator
        from outbox.generators.openai_chat import OpenAIGenerator

        generator_class = OpenAIGenerator if name == OPENAI_FAMILY else OpenAIBatchGenerator
        return generator_class(
            api_key=settings.OPENAI_API_KEY,
            model=settings.OPENAI_MODEL,
            base_url=settings.OPENAI_BASE_URL,
            timeout=settings.OPENAI_TIMEOUT_SECONDS,
            max_retries=settings.OPENAI_MAX_RETRIES,
        )
    raise UnknownGenerator(
        f"unknown generator {name!r}: choose one of {', '.join(GENERATOR_NAMES)}"
    )


def default_generator_name() -> str:
    """A run's generator when none is named (the schedule's): offline without a key; with one,
    ``openai-batch`` when ``OPENAI_USE_BATCH`` is on, else ``openai``."""
    if not settings.OPENAI_API_KEY:
        return OFFLINE_GENERATED_BY
    return OPENAI_BATCH_FAMILY if settings.OPENAI_USE_BATCH else OPENAI_FAMILY


def batch_api_from_settings() -> BatchApi | None:
    """The Batch API client of the settings, to poll open batches whatever the run's generator.

    None without ``OPENAI_API_KEY``.
    """
    if not settings.OPENAI_API_KEY:
        return None
    from outbox.generators.batch import BatchApi

    return BatchApi(
        api_key=settings.OPENAI_API_KEY,
        model=settings.OPENAI_MODEL,
        base_url=settings.OPENAI_BASE_URL,
        timeout=max(60.0, settings.OPENAI_TIMEOUT_SECONDS),
        max_retries=settings.OPENAI_MAX_RETRIES,
    )
