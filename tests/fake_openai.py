"""A fake of the OpenAI chat-completions API on 127.0.0.1, for the real ``openai`` client.

Each test scripts the answers with ``fake_openai.respond = lambda request: Reply(...)``;
the fake records every request (parsed JSON body, arrival time) and the most
requests it ever had in flight at once. A reply can also trickle its body a byte at
a time (``trickle``), as a hostile or broken server would, plain JSON or SSE.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

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
    """A request as the fake received it."""

    path: str
    headers: dict[str, str]
    body: dict
    at: float


class FakeOpenAI:
    """The server's state: the scripted answer and what was received."""

    def __init__(self) -> None:
        self.respond: Callable[[SeenRequest], Reply] = lambda request: Reply()
        self.requests: list[SeenRequest] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        self.base_url = ""

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length)
        seen = SeenRequest(
            path=handler.path,
            headers={key.lower(): value for key, value in handler.headers.items()},
            body=json.loads(raw or b"{}"),
            at=time.monotonic(),
        )
        with self.lock:
            self.requests.append(seen)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            reply = self.respond(seen)
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
