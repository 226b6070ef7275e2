"""A TCP listener that accepts connections and never answers: a database that hangs."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest


class SilentServer:
    """Accepts every connection on 127.0.0.1 and holds it open without sending a byte."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self) -> None:
        self.listener.close()
        for conn in self.held:
            conn.close()


@pytest.fixture
def silent_database_url() -> Iterator[str]:
    """A PostgreSQL ``DATABASE_URL`` whose server accepts and then never answers."""
    server = SilentServer()
    yield f"postgres://postgres@127.0.0.1:{server.port}/notifications"
    server.close()
