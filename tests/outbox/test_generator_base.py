"""The generator interface: an abstract class with one method, and the markers rows carry."""

from __future__ import annotations

import pytest

from outbox.generators import NotificationGenerator
from outbox.generators.base import (
    FALLBACK_GENERATED_BY,
    OFFLINE_GENERATED_BY,
    OPENAI_GENERATED_BY_PREFIX,
    GeneratedText,
    openai_generated_by,
)


def test_a_generator_without_write_cannot_be_made() -> None:
    class Silent(NotificationGenerator):
        name = "silent"

    with pytest.raises(TypeError, match="abstract"):
        Silent()


def test_the_markers_are_the_values_stored_in_generated_by() -> None:
    assert (OFFLINE_GENERATED_BY, FALLBACK_GENERATED_BY) == ("offline", "offline-fallback")
    assert openai_generated_by("gpt-4o-mini") == "openai:gpt-4o-mini"
    assert openai_generated_by("m").startswith(OPENAI_GENERATED_BY_PREFIX)


def test_only_the_fallback_marker_is_a_fallback() -> None:
    assert GeneratedText(title="t", body="b", generated_by=FALLBACK_GENERATED_BY).is_fallback
    assert not GeneratedText(title="t", body="b", generated_by=OFFLINE_GENERATED_BY).is_fallback
