"""The OpenAI Batch API side of generation: request lines out, answer lines in, the API calls.

A batch request is the synchronous path's request (``openai_chat.chat_request_body``:
the same instructions, profile as data and structured-output schema) written as one
JSONL line whose ``custom_id`` names the date, the category and the user. An answer
line is validated exactly like a synchronous answer (``output.py``); anything else
(an error line, a refusal, unusable text, a line that is not JSON) is a user the
normal path serves instead. ``BatchApi`` is the small part of the client used here;
files are uploaded from disk and read back as a stream, so no file is held in memory.
"""

from __future__ import annotations

import datetime
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import openai

from outbox.generators.base import (
    GeneratedText,
    GeneratorUnavailable,
    openai_batch_generated_by,
)
from outbox.generators.openai_chat import OpenAIGenerator, chat_request_body, tokens_of
from outbox.generators.output import UnusableOutput, content_of, text_from_output
from outbox.generators.profile import Profile

logger = logging.getLogger(__name__)

BATCH_ENDPOINT = "/v1/chat/completions"
COMPLETION_WINDOW = "24h"
# The API's limits on one input file.
BATCH_MAX_REQUESTS = 50_000
BATCH_MAX_BYTES = 200_000_000
# Batches asked for per page when looking for one whose creation went unrecorded.
LIST_PAGE_SIZE = 100


class BatchApiError(Exception):
    """The Batch API refused or failed a call; the batch's users go to the normal path."""


class BatchNotFound(BatchApiError):
    """The API no longer knows the batch or file asked for."""


class MalformedLine(ValueError):
    """An output or error line that names no request we can recognise."""


def custom_id_for(*, user_id: str, date: datetime.date, category: str) -> str:
    """``<date>/<category>/<user id>``: the user id last, so any character in it is kept."""
    return f"{date.isoformat()}/{category}/{user_id}"


@dataclass(frozen=True, slots=True)
class RequestKey:
    """What a ``custom_id`` names: whose notification, for which date, in which category."""

    user_id: str
    date: datetime.date
    category: str


def custom_id_parse(text: object) -> RequestKey:
    """The key a ``custom_id`` names, or ``MalformedLine``."""
    if not isinstance(text, str):
        raise MalformedLine(f"custom_id is not text: {text!r:.80}")
    parts = text.split("/", 2)
    try:
        date = datetime.date.fromisoformat(parts[0])
    except ValueError:
        raise MalformedLine(f"custom_id names no date: {text!r:.80}") from None
    if len(parts) != 3 or not parts[1] or not parts[2]:
        raise MalformedLine(f"custom_id is not date/category/user: {text!r:.80}")
    return RequestKey(user_id=parts[2], date=date, category=parts[1])


def request_line(*, model: str, user: Profile, category: str, date: datetime.date) -> bytes:
    """One line of a batch input file: the synchronous path's request for this user."""
    line = {
        "custom_id": custom_id_for(user_id=user.user_id, date=date, category=category),
        "method": "POST",
        "url": BATCH_ENDPOINT,
        "body": chat_request_body(model=model, user=user, category=category, date=date),
    }
    return json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


@dataclass(frozen=True, slots=True)
class BatchAnswer:
    """One answer of a batch: the request it answers and its text, or why there is none."""

    key: RequestKey
    text: GeneratedText | None
    reason: str = ""


def answer_parse(line: bytes | str, *, model: str) -> BatchAnswer:
    """An output or error file line as an answer; ``MalformedLine`` when it names no request.

    Text is checked exactly as the synchronous path checks it; a failed request
    (an ``error``, a status other than 200) or an unusable answer has ``text`` None.
    """
    try:
        data = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise MalformedLine(f"not JSON: {line[:80]!r}") from None
    if not isinstance(data, dict):
        raise MalformedLine(f"not a JSON object: {line[:80]!r}")
    key = custom_id_parse(data.get("custom_id"))
    error = data.get("error")
    response = data.get("response")
    if error:
        return BatchAnswer(key=key, text=None, reason=f"error: {_error_text(error)}")
    if not isinstance(response, dict) or not isinstance(response.get("body"), dict):
        return BatchAnswer(key=key, text=None, reason="no response body")
    if response.get("status_code") != 200:
        body_error = response["body"].get("error")
        return BatchAnswer(
            key=key,
            text=None,
            reason=f"HTTP {response.get('status_code')}: {_error_text(body_error)}",
        )
    completion = completion_view(response["body"])
    try:
        title, body = text_from_output(content_of(completion))
    except UnusableOutput as unusable:
        return BatchAnswer(key=key, text=None, reason=f"UnusableOutput: {unusable}")
    prompt_tokens, completion_tokens = tokens_of(completion)
    return BatchAnswer(
        key=key,
        text=GeneratedText(
            title=title,
            body=body,
            generated_by=openai_batch_generated_by(model),
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
        ),
    )


def completion_view(body: dict) -> SimpleNamespace:
    """A chat-completion body read through attributes, as ``content_of`` and ``tokens_of`` read one.

    The same lenient shape the client builds (any step may be missing or of the wrong
    type; the readers check each), for the first choice only, which is all they read:
    building the client's own models costs more than the rest of taking an answer in.
    """
    choices = body.get("choices")
    if isinstance(choices, list):
        choices = [
            SimpleNamespace(
                **{
                    key: SimpleNamespace(**value)
                    if key == "message" and isinstance(value, dict)
                    else value
                    for key, value in choice.items()
                }
            )
            if isinstance(choice, dict)
            else choice
            for choice in choices[:1]
        ]
    return SimpleNamespace(choices=choices, usage=body.get("usage"))


def _error_text(error: object) -> str:
    if isinstance(error, dict):
        return " ".join(f"{error.get('code') or ''} {error.get('message') or ''}".split())[:200]
    return str(error)[:200]


@dataclass(frozen=True, slots=True)
class RemoteBatch:
    """What the API says about a batch (the fields generation keeps)."""

    id: str
    status: str
    input_file_id: str
    output_file_id: str
    error_file_id: str
    total: int
    completed: int
    failed: int

    @classmethod
    def of(cls, batch: object) -> RemoteBatch:
        counts = getattr(batch, "request_counts", None)
        return cls(
            id=str(getattr(batch, "id", "")),
            status=str(getattr(batch, "status", "")),
            input_file_id=getattr(batch, "input_file_id", None) or "",
            output_file_id=getattr(batch, "output_file_id", None) or "",
            error_file_id=getattr(batch, "error_file_id", None) or "",
            total=getattr(counts, "total", 0) or 0,
            completed=getattr(counts, "completed", 0) or 0,
            failed=getattr(counts, "failed", 0) or 0,
        )


class BatchApi:
    """The Batch API calls generation makes, through the official client; errors as ours.

    A refused key or an unknown model is ``GeneratorUnavailable`` (the operator's to
    fix); any other failure of a call is ``BatchApiError``.
    """

    def __init__(
        self,
        *,
        api_key: str,
        model: str,
        base_url: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 3,
    ) -> None:
        self.model = model
        self.client = openai.OpenAI(
            api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries
        )

    def upload(self, path: Path) -> str:
        """Upload a JSONL file of requests (streamed from disk); its file id."""
        with self._errors("upload"), path.open("rb") as file:
            return self.client.files.create(file=(path.name, file), purpose="batch").id

    def create(self, *, input_file_id: str, metadata: dict[str, str]) -> RemoteBatch:
        """Start a batch of the uploaded requests."""
        with self._errors("create"):
            return RemoteBatch.of(
                self.client.batches.create(
                    input_file_id=input_file_id,
                    endpoint=BATCH_ENDPOINT,
                    completion_window=COMPLETION_WINDOW,
                    metadata=metadata,
                )
            )

    def find(self, *, input_file_id: str, created_after: datetime.datetime) -> RemoteBatch | None:
        """The batch started from ``input_file_id``, if one was; None when there is none.

        Batches are listed newest first and looked at back to ``created_after``: a run
        that died between creating a batch and recording it left only the file's id.
        """
        oldest = created_after.timestamp()
        with self._errors("list"):
            for batch in self.client.batches.list(limit=LIST_PAGE_SIZE):
                if batch.input_file_id == input_file_id:
                    return RemoteBatch.of(batch)
                if batch.created_at < oldest:
                    break
        return None

    def retrieve(self, remote_id: str) -> RemoteBatch:
        with self._errors("retrieve"):
            return RemoteBatch.of(self.client.batches.retrieve(remote_id))

    def cancel(self, remote_id: str) -> RemoteBatch:
        with self._errors("cancel"):
            return RemoteBatch.of(self.client.batches.cancel(remote_id))

    @contextmanager
    def lines(self, file_id: str) -> Iterator[Iterator[bytes]]:
        """The lines of a file (an output or error file), read as they arrive."""
        with (
            self._errors("read"),
            self.client.files.with_streaming_response.content(file_id) as response,
        ):
            yield (line.encode() for line in response.iter_lines() if line)

    @contextmanager
    def _errors(self, call: str) -> Iterator[None]:
        try:
            yield
        except (
            openai.AuthenticationError,
            openai.PermissionDeniedError,
            openai.NotFoundError,
        ) as error:
            if isinstance(error, openai.NotFoundError) and call != "upload":
                # The batch or file is gone (e.g. deleted from the dashboard), not the API.
                raise BatchNotFound(f"batch {call}: {error.status_code} {error.message}") from error
            raise GeneratorUnavailable(
                f"the Batch API refused the {call} ({error.status_code}): check OPENAI_API_KEY, "
                "OPENAI_MODEL and OPENAI_BASE_URL"
            ) from error
        except (openai.APIError, json.JSONDecodeError) as error:
            raise BatchApiError(
                " ".join(f"batch {call}: {type(error).__name__}: {error}".split())[:300]
            ) from error


class OpenAIBatchGenerator(OpenAIGenerator):
    """``openai-batch``: rows a day ahead through the Batch API, the rest as ``openai`` writes them.

    As a generator it writes synchronously (its text says ``openai:<model>``); the
    generate stage sees the batch side (``batch_api``) and runs it first.
    """

    def __init__(self, *, batch_timeout: float = 60.0, **options) -> None:
        super().__init__(**options)
        self.name = openai_batch_generated_by(self.model)
        self._batch_timeout = batch_timeout

    def batch_api(self) -> BatchApi:
        options = self._client_options
        return BatchApi(
            api_key=options["api_key"],
            model=self.model,
            base_url=options["base_url"],
            timeout=max(self._batch_timeout, options["timeout"]),
            max_retries=options["max_retries"],
        )
