"""Batch request and answer lines: custom ids, the request line, each kind of answer line."""

from __future__ import annotations

import datetime
import json

import pytest

from outbox.generators.batch import (
    BatchAnswer,
    MalformedLine,
    RequestKey,
    answer_parse,
    custom_id_for,
    custom_id_parse,
    request_line,
)
from outbox.generators.openai_chat import chat_request_body
from tests.factories import user_build
from tests.fake_openai import OutputLine, error_line, output_line

DATE = datetime.date(2026, 11, 23)
KEY = RequestKey(user_id="a/b c", date=DATE, category="tip")


def test_a_custom_id_names_date_category_and_user_whatever_the_id() -> None:
    custom_id = custom_id_for(user_id="a/b c", date=DATE, category="tip")
    assert custom_id == "2026-11-23/tip/a/b c"
    assert custom_id_parse(custom_id) == KEY


@pytest.mark.parametrize("text", [None, 7, "", "tip/u1", "2026-13-01/tip/u1", "2026-11-23//u1"])
def test_a_custom_id_that_names_nothing_is_malformed(text) -> None:
    with pytest.raises(MalformedLine):
        custom_id_parse(text)


def test_a_request_line_is_the_synchronous_request() -> None:
    user = user_build()
    line = request_line(model="m", user=user, category="insight", date=DATE)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    data = json.loads(line)
    assert data["body"] == json.loads(
        json.dumps(chat_request_body(model="m", user=user, category="insight", date=DATE))
    )
    assert (data["method"], data["url"]) == ("POST", "/v1/chat/completions")


def test_a_valid_answer_becomes_text_with_its_tokens() -> None:
    answer = answer_parse(output_line("2026-11-23/tip/a/b c", OutputLine()), model="m")
    assert answer.key == KEY
    assert (answer.text.title, answer.text.generated_by) == ("Stay hydrated", "openai-batch:m")
    assert (answer.text.prompt_tokens, answer.text.completion_tokens) == (50, 20)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (error_line("2026-11-23/tip/a/b c", "batch_expired", "late"), "error: batch_expired late"),
        (output_line("2026-11-23/tip/a/b c", OutputLine(status_code=429)), "HTTP 429"),
        (
            output_line("2026-11-23/tip/a/b c", OutputLine(content="<b>hi</b>")),
            "UnusableOutput: not JSON",
        ),
        (
            output_line(
                "2026-11-23/tip/a/b c",
                OutputLine(content=json.dumps({"title": "Call", "message": "Ring 555 123 4567"})),
            ),
            "UnusableOutput: message contains an e-mail address or phone number",
        ),
        (json.dumps({"custom_id": "2026-11-23/tip/a/b c"}).encode(), "no response body"),
    ],
)
def test_an_unusable_answer_names_its_user_and_why(line: bytes, reason: str) -> None:
    answer = answer_parse(line, model="m")
    assert answer == BatchAnswer(key=KEY, text=None, reason=answer.reason)
    assert answer.reason.startswith(reason)


@pytest.mark.parametrize("line", [b"{not json", b"[1, 2]", b'{"custom_id": 5}', b"\xff\xfe"])
def test_a_line_naming_no_request_is_malformed(line: bytes) -> None:
    with pytest.raises(MalformedLine):
        answer_parse(line, model="m")
