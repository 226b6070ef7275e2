"""A tiny real HTTP server whose raw answer bytes (and their pacing) a test chooses per request.

The mock endpoint always answers well-formed JSON at once; this one can send NUL bytes,
odd header bytes or a response that trickles in one byte at a time.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

# One piece of an answer: the bytes and the pause before sending them.
Piece = tuple[bytes, float]
Answer = Callable[[int, str], Iterable[Piece]]

OK = [(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok", 0.0)]


def raw_response(head: bytes, body: bytes = b"") -> list[Piece]:
    """A complete answer sent at once: status line and headers (CRLF-separated) and a body."""
    return [
        (
            head + b"\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body,
            0.0,
        )
    ]


def trickled(pieces: list[Piece], *, every: float) -> list[Piece]:
    """The same bytes, one at a time, ``every`` seconds apart."""
    data = b"".join(chunk for chunk, _ in pieces)
    return [(bytes([byte]), every) for byte in data]


@dataclass(frozen=True)
class RawRequest:
    """One request as it came off the wire: request line, headers (names lower case), body."""

    line: str
    headers: dict[str, str]
    body: bytes


class RawServer:
    """Serves on 127.0.0.1 and a free port; ``answer(n, key)`` picks the n-th request's answer.

    The answer may be any iterable of pieces, an endless generator too.
    """

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.keys: list[str] = []
        self.requests: list[RawRequest] = []
        self.answered: dict[str, float] = {}
        self.lock = threading.Lock()
        self.closing = threading.Event()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.sock.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/notifications"
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self) -> None:
        while not self.closing.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self.handle, args=(conn,), daemon=True).start()

    def handle(self, conn: socket.socket) -> None:
        try:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, body = data.split(b"\r\n\r\n", 1)
            request_line, *header_lines = head.decode("latin-1").split("\r\n")
            headers = {}
            for line in header_lines:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0"))
            while len(body) < length:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                body += chunk
            key = headers.get("idempotency-key", "")
            with self.lock:
                self.keys.append(key)
                self.requests.append(RawRequest(line=request_line, headers=headers, body=body))
                index = len(self.keys)
            for piece, delay in self.answer(index, key):
                if self.closing.wait(delay):
                    return
                conn.sendall(piece)
            with self.lock:
                self.answered[key] = time.time()
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self.closing.set()
        self.thread.join(5)
        self.sock.close()
