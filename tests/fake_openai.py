"""A fake of the OpenAI chat-completions, files and batches APIs on 127.0.0.1, for the real client.

Each test scripts the answers with ``fake_openai.respond = lambda request: Reply(...)``;
the fake records every request (parsed JSON body, arrival time) and the most
requests it ever had in flight at once. A reply can also trickle its body a byte at
a time (``trickle``), as a hostile or broken server would, plain JSON or SSE.

The files and batches endpoints (``FakeBatches``, at ``fake_openai.batches``) keep
uploaded files, run batches through the API's statuses one step per retrieve, and
answer each request line with ``batches.answer(line)`` (a valid completion with
usage by default), into an output and an error file. Failure modes: a batch that
ends ``expired``, ``failed`` or ``cancelled`` (``batches.outcome``) with only part of
its work done (``batches.done_fraction``), error-file lines and malformed output
lines (what ``answer`` returns).
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

MODEL = "test-model"
# A trickling answer stops (and the connection closes) after this long, so a client
# without a deadline makes its test fail rather than hang.
TRICKLE_MAX_SECONDS = 10.0


def completion_json(content: str | None, *, finish_reason: str = "stop") -> bytes:
    """A chat-completion response body whose one choice carries ``content``."""
    return json.dumps(
        {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": 1763769600,
            "model": MODEL,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": None},
                    "finish_reason": finish_reason,
                    "logprobs": None,
                }
            ],
            "usage": {"prompt_tokens": 50, "completion_tokens": 20, "total_tokens": 70},
        }
    ).encode()


def event_stream(content: str) -> bytes:
    """A chat-completion answer as server-sent events (what ``stream=true`` would get)."""
    chunk = json.loads(completion_json(content))
    chunk["object"] = "chat.completion.chunk"
    return b"data: " + json.dumps(chunk).encode() + b"\n\ndata: [DONE]\n\n"


def notification_json(
    title: str = "Stay hydrated", message: str = "Drink a glass of water."
) -> str:
    """What a well-behaved model puts in the message content."""
    return json.dumps({"title": title, "message": message})


@dataclass
class Reply:
    """One scripted HTTP answer.

    With ``trickle`` the status and headers go out at once, then the body one byte
    every ``trickle`` seconds (for at most ``TRICKLE_MAX_SECONDS``); an SSE body is
    sent without a length, the end of the connection ending it.
    """

    status: int = 200
    body: bytes = field(default_factory=lambda: completion_json(notification_json()))
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    content_type: str = "application/json"
    trickle: float = 0.0


@dataclass
class SeenRequest:
    """A request as the fake received it (``body`` is {} unless it was JSON)."""

    path: str
    headers: dict[str, str]
    body: dict
    at: float
    method: str = "POST"
    raw: bytes = b""


# What ``FakeBatches.answer`` may return for one request line: an answer of the model
# (``OutputLine``), a line of the error file (``ErrorLine``), a line that is not JSON
# (``MalformedLine``), or nothing at all (``Missing``).
@dataclass
class OutputLine:
    content: str | None = field(default_factory=notification_json)
    status_code: int = 200
    usage: dict | None = field(
        default_factory=lambda: {"prompt_tokens": 50, "completion_tokens": 20, "total_tokens": 70}
    )


@dataclass
class ErrorLine:
    code: str = "server_error"
    message: str = "the request failed"


@dataclass
class MalformedLine:
    text: bytes = b"{this is not json"


@dataclass
class Missing:
    pass


@dataclass
class FakeBatch:
    id: str
    input_file_id: str
    metadata: dict
    created_at: int
    status: str = "validating"
    output_file_id: str | None = None
    error_file_id: str | None = None
    total: int = 0
    completed: int = 0
    failed: int = 0
    retrieves: int = 0


class FakeBatches:
    """The files and batches endpoints' state and script."""

    # The statuses a batch walks through, one per retrieve, before its outcome.
    STEPS = ("validating", "in_progress", "finalizing")

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.purposes: dict[str, str] = {}
        self.batches: dict[str, FakeBatch] = {}
        self.answer: Callable[[dict], OutputLine | ErrorLine | MalformedLine | Missing] = (
            lambda line: OutputLine()
        )
        self.outcome = "completed"  # or "expired", "failed", "cancelled"
        # The share of requests answered when the outcome is not "completed".
        self.done_fraction = 0.5
        # Retrieves a batch stays at each step (0: it is finished at the first retrieve).
        self.retrieves_per_step = 1
        self.upload_delay = 0.0
        self.ids = itertools.count(1)
        self.lock = threading.Lock()

    def new_id(self, prefix: str) -> str:
        return f"{prefix}-{next(self.ids)}"

    def upload(self, content: bytes, purpose: str, filename: str) -> dict:
        if self.upload_delay:
            time.sleep(self.upload_delay)
        file_id = self.new_id("file")
        with self.lock:
            self.files[file_id] = content
            self.purposes[file_id] = purpose
        return {
            "id": file_id,
            "object": "file",
            "bytes": len(content),
            "created_at": 1763769600,
            "filename": filename,
            "purpose": purpose,
            "status": "processed",
        }

    def create(self, body: dict) -> tuple[int, dict]:
        if body.get("input_file_id") not in self.files:
            return 404, {"error": {"message": "No such file", "type": "invalid_request_error"}}
        batch = FakeBatch(
            id=self.new_id("batch"),
            input_file_id=body["input_file_id"],
            metadata=body.get("metadata") or {},
            created_at=int(time.time()),
        )
        batch.total = len(self.input_lines(batch))
        with self.lock:
            self.batches[batch.id] = batch
        return 200, self.as_json(batch)

    def listing(self, query: dict[str, list[str]]) -> tuple[int, dict]:
        """A page of batches, newest first, after the ``after`` id (as the API pages)."""
        limit = int(query.get("limit", ["20"])[0])
        with self.lock:
            newest_first = list(reversed(self.batches.values()))
        after = query.get("after", [None])[0]
        if after is not None:
            ids = [batch.id for batch in newest_first]
            newest_first = newest_first[ids.index(after) + 1 :]
        page = newest_first[:limit]
        return 200, {
            "object": "list",
            "data": [self.as_json(batch) for batch in page],
            "first_id": page[0].id if page else None,
            "last_id": page[-1].id if page else None,
            "has_more": len(newest_first) > limit,
        }

    def input_lines(self, batch: FakeBatch) -> list[dict]:
        return [json.loads(line) for line in self.files[batch.input_file_id].splitlines() if line]

    def retrieve(self, batch_id: str) -> tuple[int, dict]:
        batch = self.batches.get(batch_id)
        if batch is None:
            return 404, {"error": {"message": "No such batch", "type": "invalid_request_error"}}
        with self.lock:
            if batch.status in ("validating", "in_progress", "finalizing", "cancelling"):
                batch.retrieves += 1
                step = batch.retrieves // max(self.retrieves_per_step, 1)
                if batch.status == "cancelling":
                    self.finish(batch, "cancelled")
                elif step >= len(self.STEPS):
                    self.finish(batch, self.outcome)
                else:
                    batch.status = self.STEPS[step]
        return 200, self.as_json(batch)

    def cancel(self, batch_id: str) -> tuple[int, dict]:
        batch = self.batches.get(batch_id)
        if batch is None:
            return 404, {"error": {"message": "No such batch", "type": "invalid_request_error"}}
        with self.lock:
            if batch.status in ("validating", "in_progress", "finalizing"):
                batch.status = "cancelling"
        return 200, self.as_json(batch)

    def finish(self, batch: FakeBatch, outcome: str) -> None:
        """Answer the batch's requests into its files and end it with ``outcome``."""
        lines = self.input_lines(batch)
        done = len(lines) if outcome == "completed" else int(len(lines) * self.done_fraction)
        if outcome == "failed":
            done = 0
        output, errors = [], []
        for index, line in enumerate(lines):
            custom_id = line["custom_id"]
            if index >= done:
                if outcome != "failed":
                    errors.append(error_line(custom_id, f"batch_{outcome}", "not done in time"))
                continue
            answer = self.answer(line)
            if isinstance(answer, OutputLine):
                output.append(output_line(custom_id, answer))
            elif isinstance(answer, ErrorLine):
                errors.append(error_line(custom_id, answer.code, answer.message))
            elif isinstance(answer, MalformedLine):
                output.append(answer.text)
        if output:
            batch.output_file_id = self.new_id("file")
            self.files[batch.output_file_id] = b"\n".join(output) + b"\n"
        if errors:
            batch.error_file_id = self.new_id("file")
            self.files[batch.error_file_id] = b"\n".join(errors) + b"\n"
        batch.completed = len(output)
        batch.failed = len(errors)
        batch.status = outcome

    @staticmethod
    def as_json(batch: FakeBatch) -> dict:
        return {
            "id": batch.id,
            "object": "batch",
            "endpoint": "/v1/chat/completions",
            "input_file_id": batch.input_file_id,
            "completion_window": "24h",
            "status": batch.status,
            "output_file_id": batch.output_file_id,
            "error_file_id": batch.error_file_id,
            "created_at": batch.created_at,
            "metadata": batch.metadata,
            "request_counts": {
                "total": batch.total,
                "completed": batch.completed,
                "failed": batch.failed,
            },
        }


def output_line(custom_id: str, answer: OutputLine) -> bytes:
    body = json.loads(completion_json(answer.content))
    body["usage"] = answer.usage
    return json.dumps(
        {
            "id": f"batch_req_{custom_id}",
            "custom_id": custom_id,
            "response": {"status_code": answer.status_code, "request_id": "req", "body": body},
            "error": None,
        }
    ).encode()


def error_line(custom_id: str, code: str, message: str) -> bytes:
    return json.dumps(
        {
            "id": f"batch_req_{custom_id}",
            "custom_id": custom_id,
            "response": None,
            "error": {"code": code, "message": message},
        }
    ).encode()


def multipart_fields(content_type: str, raw: bytes) -> dict[str, tuple[str, bytes]]:
    """The parts of a ``multipart/form-data`` body: name -> (filename, content)."""
    boundary = re.search(r"boundary=\"?([^\";]+)", content_type).group(1).encode()
    found = {}
    for part in raw.split(b"--" + boundary):
        head, _, content = part.partition(b"\r\n\r\n")
        name = re.search(rb'name="([^"]*)"', head)
        if not name:
            continue
        filename = re.search(rb'filename="([^"]*)"', head)
        found[name.group(1).decode()] = (
            filename.group(1).decode() if filename else "",
            content.removesuffix(b"\r\n"),
        )
    return found


class FakeOpenAI:
    """The server's state: the scripted answer and what was received."""

    def __init__(self) -> None:
        self.respond: Callable[[SeenRequest], Reply] = lambda request: Reply()
        self.requests: list[SeenRequest] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        self.base_url = ""
        self.batches = FakeBatches()

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        raw = self._body(handler)
        content_type = handler.headers.get("Content-Type") or ""
        seen = SeenRequest(
            path=handler.path,
            headers={key.lower(): value for key, value in handler.headers.items()},
            body=json.loads(raw or b"{}") if "json" in content_type or not raw else {},
            at=time.monotonic(),
            method=handler.command,
            raw=raw,
        )
        with self.lock:
            self.requests.append(seen)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            route = self._batch_route(seen)
            reply = route if route is not None else self.respond(seen)
            if reply.delay:
                time.sleep(reply.delay)
            handler.send_response(reply.status)
            handler.send_header("Content-Type", reply.content_type)
            if reply.content_type == "text/event-stream":
                handler.send_header("Connection", "close")
                handler.close_connection = True
            else:
                handler.send_header("Content-Length", str(len(reply.body)))
            for key, value in reply.headers.items():
                handler.send_header(key, value)
            handler.end_headers()
            if reply.trickle:
                self._trickle(handler, reply)
            else:
                handler.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting (the timeout tests)
        finally:
            with self.lock:
                self.in_flight -= 1

    @staticmethod
    def _body(handler: BaseHTTPRequestHandler) -> bytes:
        """The request body, sent with a length or in chunks (as a streamed upload is)."""
        if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(handler.rfile.readline().strip() or b"0", 16):
                chunks.append(handler.rfile.read(size))
                handler.rfile.readline()
            handler.rfile.readline()
            return b"".join(chunks)
        return handler.rfile.read(int(handler.headers.get("Content-Length") or 0))

    def _batch_route(self, seen: SeenRequest) -> Reply | None:
        """The files and batches endpoints; None for any other path."""
        path = seen.path.split("?")[0].removeprefix("/v1")
        batches = self.batches

        def json_reply(status: int, body: dict) -> Reply:
            return Reply(status=status, body=json.dumps(body).encode())

        if path == "/files" and seen.method == "POST":
            fields = multipart_fields(seen.headers["content-type"], seen.raw)
            filename, content = fields["file"]
            return json_reply(200, batches.upload(content, fields["purpose"][1].decode(), filename))
        if match := re.fullmatch(r"/files/([^/]+)/content", path):
            content = batches.files.get(match.group(1))
            if content is None:
                return json_reply(404, {"error": {"message": "No such file"}})
            return Reply(body=content, content_type="application/octet-stream")
        if path == "/batches" and seen.method == "POST":
            return json_reply(*batches.create(seen.body))
        if path == "/batches":
            return json_reply(*batches.listing(parse_qs(urlsplit(seen.path).query)))
        if match := re.fullmatch(r"/batches/([^/]+)/cancel", path):
            return json_reply(*batches.cancel(match.group(1)))
        if match := re.fullmatch(r"/batches/([^/]+)", path):
            return json_reply(*batches.retrieve(match.group(1)))
        return None

    @staticmethod
    def _trickle(handler: BaseHTTPRequestHandler, reply: Reply) -> None:
        """Send the body a byte at a time; give up (closing the connection) after a while."""
        stop_at = time.monotonic() + TRICKLE_MAX_SECONDS
        for index in range(len(reply.body)):
            if time.monotonic() >= stop_at:
                handler.close_connection = True
                return
            handler.wfile.write(reply.body[index : index + 1])
            handler.wfile.flush()
            time.sleep(reply.trickle)


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    """A running fake API; ``fake_openai.base_url`` is what ``OPENAI_BASE_URL`` should be."""
    fake = FakeOpenAI()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            fake.answer(self)

        def do_GET(self) -> None:
            fake.answer(self)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    fake.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture
def openai_settings(settings, fake_openai: FakeOpenAI):
    """Settings that point the OpenAI generator at the fake, with small timeouts and retries."""
    settings.OPENAI_API_KEY = "sk-test"
    settings.OPENAI_BASE_URL = fake_openai.base_url
    settings.OPENAI_MODEL = MODEL
    settings.OPENAI_TIMEOUT_SECONDS = 2.0
    settings.OPENAI_MAX_RETRIES = 2
    return settings
