"""Notification generators (offline templates, OpenAI) and the choice between them."""

from __future__ import annotations

from django.conf import settings

from outbox.generators.base import (
    FALLBACK_GENERATED_BY,
    OFFLINE_GENERATED_BY,
    OPENAI_FAMILY,
    GeneratedText,
    GeneratorError,
    GeneratorUnavailable,
    NotificationGenerator,
    UnknownGenerator,
    WriteRequest,
)
from outbox.generators.offline import OfflineGenerator

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

GENERATOR_NAMES = (OPENAI_FAMILY, OFFLINE_GENERATED_BY)


def generator_for(name: str | None) -> NotificationGenerator:
    """The generator called ``name``; with None, OpenAI when ``OPENAI_API_KEY`` is set, else offline.

    Raises ``UnknownGenerator`` for any other name, or for ``openai`` without a key.
    """
    if name is None:
        name = OPENAI_FAMILY if settings.OPENAI_API_KEY else OFFLINE_GENERATED_BY
    if name == OFFLINE_GENERATED_BY:
        return OfflineGenerator()
    if name == OPENAI_FAMILY:
        if not settings.OPENAI_API_KEY:
            raise UnknownGenerator("the openai generator needs OPENAI_API_KEY to be set")
        # Imported here so that the offline path never loads the client library.
        from outbox.generators.openai_chat import OpenAIGenerator

        return OpenAIGenerator(
            api_key=settings.OPENAI_API_KEY,
            model=settings.OPENAI_MODEL,
            base_url=settings.OPENAI_BASE_URL,
            timeout=settings.OPENAI_TIMEOUT_SECONDS,
            max_retries=settings.OPENAI_MAX_RETRIES,
        )
    raise UnknownGenerator(
        f"unknown generator {name!r}: choose one of {', '.join(GENERATOR_NAMES)}"
    )
