"""Tokens on record: every model-written row carries its answer's usage, offline rows none."""

from __future__ import annotations

import datetime
import json

import pytest

from outbox.generation import GenerationSummary, notifications_generate
from outbox.generators import OfflineGenerator, generator_for
from outbox.generators.openai_chat import tokens_of
from outbox.models import DailyNotification
from pipeline.stages import GenerateResult
from tests.factories import users_create
from tests.fake_openai import Reply, completion_json

DATE = datetime.date(2026, 11, 22)
# Before the date's 08:00 UTC window opens: every user of the date is in scope.
NOW = datetime.datetime(2026, 11, 22, 6, 0, tzinfo=datetime.UTC)

pytestmark = pytest.mark.django_db


def completion_with_usage(usage: object) -> bytes:
    body = json.loads(completion_json(json.dumps({"title": "Walk", "message": "Walk a bit."})))
    body["usage"] = usage
    return json.dumps(body).encode()


def test_model_rows_record_the_usage_of_their_answer(openai_settings, fake_openai) -> None:
    users_create(3)
    fake_openai.respond = lambda request: Reply(
        body=completion_with_usage({"prompt_tokens": 123, "completion_tokens": 45})
    )
    summary = notifications_generate(
        date=DATE, now=NOW, generator=generator_for("openai"), concurrency=2
    )
    rows = DailyNotification.objects.values_list("prompt_tokens", "completion_tokens")
    assert sorted(rows) == [(123, 45)] * 3
    assert (summary.prompt_tokens, summary.completion_tokens) == (369, 135)


def test_an_answer_without_usage_keeps_its_text_and_records_no_tokens(
    openai_settings, fake_openai
) -> None:
    users_create(1)
    fake_openai.respond = lambda request: Reply(body=completion_with_usage(None))
    notifications_generate(date=DATE, now=NOW, generator=generator_for("openai"), concurrency=1)
    row = DailyNotification.objects.get()
    assert row.generated_by.startswith("openai:")
    assert (row.prompt_tokens, row.completion_tokens) == (None, None)


def test_fallback_rows_record_no_tokens(openai_settings, fake_openai) -> None:
    users_create(2)
    # The first user is served (so the breaker stays closed), the second falls back.
    fake_openai.respond = lambda request: (
        Reply() if len(fake_openai.requests) == 1 else Reply(body=completion_json("not json"))
    )
    # Within the fallback deadline of the 08:00 send time: a fallback row is written.
    at_deadline = NOW.replace(hour=7, minute=45)
    notifications_generate(
        date=DATE, now=at_deadline, generator=generator_for("openai"), concurrency=1
    )
    row = DailyNotification.objects.get(generated_by="offline-fallback")
    assert (row.prompt_tokens, row.completion_tokens) == (None, None)


def test_offline_rows_record_no_tokens() -> None:
    users_create(2)
    summary = notifications_generate(
        date=DATE, now=NOW, generator=OfflineGenerator(), concurrency=1
    )
    assert set(DailyNotification.objects.values_list("prompt_tokens", "completion_tokens")) == {
        (None, None)
    }
    assert (summary.prompt_tokens, summary.completion_tokens) == (0, 0)


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        ({"prompt_tokens": 7, "completion_tokens": 3}, (7, 3)),
        ({"prompt_tokens": 7}, (7, None)),
        ({"prompt_tokens": -1, "completion_tokens": "3"}, (None, None)),
        ({"prompt_tokens": True, "completion_tokens": 2}, (None, 2)),
        (None, (None, None)),
    ],
)
def test_tokens_of_reads_only_counts_it_can_trust(usage, expected) -> None:
    class Completion:
        pass

    completion = Completion()
    completion.usage = usage
    assert tokens_of(completion) == expected


def summary_with(**tokens) -> GenerationSummary:
    return GenerationSummary(
        created=2, existing=1, fallback=0, elapsed_seconds=0.3, complete=True, **tokens
    )


def test_the_generate_line_prints_tokens_after_the_counts() -> None:
    result = GenerateResult(
        date=DATE,
        generator_name="openai:m",
        summary=summary_with(prompt_tokens=123_456, completion_tokens=7_890),
    )
    assert result.line == (
        "2026-11-22 openai:m: created 2, existing 1, fallback 0, "
        "disabled 0, closed 0, tokens 123,456 in / 7,890 out in 0.3s"
    )


def test_the_generate_line_of_offline_text_has_no_tokens() -> None:
    result = GenerateResult(date=DATE, generator_name="offline", summary=summary_with())
    assert result.line == (
        "2026-11-22 offline: created 2, existing 1, fallback 0, disabled 0, closed 0 in 0.3s"
    )
