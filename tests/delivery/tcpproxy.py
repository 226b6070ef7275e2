"""A TCP proxy on 127.0.0.1 that a test can pause: the database "goes away" for one client only.

``pause()`` drops every connection through it and closes new ones at once (as a
database host that restarts or drops off the network does); ``resume()`` forwards
again. Everything else keeps talking to the database directly.
"""

from __future__ import annotations

import contextlib
import socket
import threading


class TcpProxy:
    """Forwards a free local port to ``target``; ``port`` is where to connect."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.paused = threading.Event()
        self.closing = threading.Event()
        self.lock = threading.Lock()
        self.open: list[socket.socket] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._accept, name="tcp-proxy", daemon=True)
        self.thread.start()

    def pause(self) -> None:
        """Drop every connection and refuse new ones until ``resume()``."""
        self.paused.set()
        with self.lock:
            sockets, self.open = self.open, []
        for sock in sockets:
            _close(sock)

    def resume(self) -> None:
        self.paused.clear()

    def close(self) -> None:
        self.closing.set()
        self.pause()
        self.thread.join(5)
        self.listener.close()

    def _accept(self) -> None:
        while not self.closing.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self.paused.is_set():
                _close(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _close(client)
                continue
            upstream.settimeout(None)
            with self.lock:
                self.open += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(source, sink), daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    """Copy bytes one way until either side closes, then close both."""
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        _close(source)
        _close(sink)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()
