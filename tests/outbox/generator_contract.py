"""What every NotificationGenerator promises, as one test class run against each implementation.

A subclass provides a ``generator`` fixture; the tests here need no database.
"""

from __future__ import annotations

import datetime

import pytest

from outbox.categories import CATEGORIES
from outbox.generators import GeneratedText, NotificationGenerator, WriteRequest
from outbox.generators.base import MESSAGE_MAX_CHARS, TITLE_MAX_CHARS
from tests.factories import user_build

DATE = datetime.date(2026, 11, 22)


class GeneratorContract:
    """Tests shared by the offline and the OpenAI generator (against the fake API)."""

    @pytest.fixture
    def generator(self) -> NotificationGenerator:
        raise NotImplementedError

    @pytest.mark.parametrize("category", CATEGORIES)
    def test_writes_a_title_and_body_within_bounds(
        self, generator: NotificationGenerator, category: str
    ) -> None:
        text = generator.write(user=user_build(), category=category, date=DATE)
        assert isinstance(text, GeneratedText)
        assert 0 < len(text.title.strip()) <= TITLE_MAX_CHARS == 120
        assert 0 < len(text.body.strip()) <= MESSAGE_MAX_CHARS == 600

    def test_is_a_notification_generator(self, generator: NotificationGenerator) -> None:
        assert isinstance(generator, NotificationGenerator)

    def test_marks_the_text_with_its_name(self, generator: NotificationGenerator) -> None:
        text = generator.write(user=user_build(), category="tip", date=DATE)
        assert text.generated_by == generator.name

    def test_write_many_answers_every_request_once(self, generator: NotificationGenerator) -> None:
        requests = [
            WriteRequest(user=user_build(), category=CATEGORIES[n % 3], date=DATE) for n in range(7)
        ]
        answered = [
            request for request, _ in generator.write_many(requests=requests, concurrency=3)
        ]
        assert sorted(r.user.user_id for r in answered) == sorted(r.user.user_id for r in requests)

    def test_write_many_of_nothing_writes_nothing(self, generator: NotificationGenerator) -> None:
        assert list(generator.write_many(requests=[], concurrency=3)) == []
