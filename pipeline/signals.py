"""Stopping a worker on SIGTERM or SIGINT: wind down first, and exit for sure after a grace period.

The first signal sets a stop event: the worker claims nothing new, finishes what is
in flight and returns. A process still running ``STOP_GRACE_SECONDS`` later (waiting
on a database that accepts connections and never answers, say) exits at once with
status 128 + the signal's number and one line; the rows it held go back to pending
when their lease expires, as after a crash, and a resend carries the same
``Idempotency-Key``. A second signal exits at once.

The countdown runs on a thread that the interpreter wakes through
``signal.set_wakeup_fd`` as soon as a signal arrives. Python runs signal handlers on
the main thread only, between bytecodes, so a main thread held in a blocking C call
could otherwise delay the exit without end.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# Long enough for the attempts in flight to finish and be recorded in the usual case,
# short enough to end well inside a container runtime's stop timeout before its SIGKILL.
STOP_GRACE_SECONDS = 5.0
# Written to the watcher's pipe to end it; no signal has the number 0.
_WATCHER_END = b"\0"


def process_exit(status: int) -> None:
    """End the process now, whatever its other threads are doing (no clean-up runs)."""
    for stream in (sys.stdout, sys.stderr):
        # A closed or broken stream must not keep the process alive.
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(status)


@contextlib.contextmanager
def stop_on_signals(
    *,
    say: Callable[[str], None],
    grace_seconds: float = STOP_GRACE_SECONDS,
    exit_now: Callable[[int], None] = process_exit,
) -> Iterator[threading.Event]:
    """An event set by SIGTERM or SIGINT; the process exits ``grace_seconds`` later if still running.

    ``say`` writes one line for the operator. Outside the main thread (a django-q2
    worker, a test's thread) signal handlers cannot be installed: the event is never set.
    """
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    watcher = _SignalWatcher(stop=stop, say=say, grace_seconds=grace_seconds, exit_now=exit_now)
    # The handler itself does nothing: the interpreter writes the signal to the wakeup
    # fd before running it, and the watcher acts on that. It replaces the default
    # action (SIGTERM kills, SIGINT raises KeyboardInterrupt) so the worker winds down.
    previous = {sig: signal.signal(sig, _on_stop_signal) for sig in STOP_SIGNALS}
    previous_fd = signal.set_wakeup_fd(watcher.write_fd, warn_on_full_buffer=False)
    watcher.start()
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        signal.set_wakeup_fd(previous_fd)
        watcher.close()


def _on_stop_signal(signum: int, frame: object) -> None:
    """Replaces the default action; the watcher thread handles the signal."""


class _SignalWatcher:
    """A thread reading signal numbers from a pipe: first a stop request, then the exit."""

    def __init__(
        self,
        *,
        stop: threading.Event,
        say: Callable[[str], None],
        grace_seconds: float,
        exit_now: Callable[[int], None],
    ) -> None:
        self.stop = stop
        self.say = say
        self.grace_seconds = grace_seconds
        self.exit_now = exit_now
        self.read_fd, self.write_fd = os.pipe()
        # The interpreter needs a wakeup fd that never blocks the signal handler.
        os.set_blocking(self.write_fd, False)
        self.thread = threading.Thread(target=self.watch, name="stop-on-signals", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def close(self) -> None:
        os.write(self.write_fd, _WATCHER_END)
        self.thread.join()
        os.close(self.read_fd)
        os.close(self.write_fd)

    def watch(self) -> None:
        first: signal.Signals | None = None
        deadline: float | None = None
        while True:
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([self.read_fd], [], [], timeout)
            if not ready and first is not None:  # the countdown ran out
                self.say(
                    f"{first.name}: still running {self.grace_seconds:g}s after the stop "
                    "request, exiting now; the rows it held go back to pending when their "
                    "lease expires"
                )
                self.exit_now(128 + first)
                return
            for number in os.read(self.read_fd, 64):
                if number == _WATCHER_END[0]:
                    return
                if number not in STOP_SIGNALS:
                    continue  # another signal with a Python handler, not ours
                received = signal.Signals(number)
                if first is None:
                    first = received
                    deadline = time.monotonic() + self.grace_seconds
                    self.say(f"{received.name}: finishing what is in flight…")
                    self.stop.set()
                else:
                    self.say(
                        f"{received.name} again: exiting now; the rows it held go back to "
                        "pending when their lease expires"
                    )
                    self.exit_now(128 + received)
                    return
