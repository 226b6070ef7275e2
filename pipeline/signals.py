"""Stopping a worker on SIGTERM or SIGINT: a stop event, so it finishes what is in flight and exits."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@contextmanager
def stop_on_signals(*, say: Callable[[str], None]) -> Iterator[threading.Event]:
    """An event set by SIGTERM or SIGINT, so the worker stops claiming and winds down.

    ``say`` writes one line for the operator. Outside the main thread (a django-q2
    worker, a test's thread) signal handlers cannot be installed: the event is never set.
    """
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def request_stop(signum: int, frame: object) -> None:
        say(f"{signal.Signals(signum).name}: finishing what is in flight…")
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in STOP_SIGNALS}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
