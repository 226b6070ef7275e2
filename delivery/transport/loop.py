"""An asyncio event loop on a thread of its own, and the transport interface that runs on it.

The worker's database work is synchronous and stays on the worker's thread; an
asynchronous transport's attempts are coroutines on this loop, so any number of
them can be in flight on one thread. Other threads hand coroutines over with
``submit`` and get a ``concurrent.futures.Future`` back.
"""

from __future__ import annotations

import abc
import asyncio
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

from delivery.transport.base import OutgoingNotification, SendResult, Transport

T = TypeVar("T")

# How long closing waits for the loop's thread to end.
CLOSE_TIMEOUT_SECONDS = 10.0


def event_loop_new() -> asyncio.AbstractEventLoop:
    """A new event loop: uvloop's when it is installed (less work per request), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class LoopThread:
    """A running event loop on a daemon thread; ``close`` stops it and joins the thread."""

    def __init__(self, *, name: str) -> None:
        self.loop = event_loop_new()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> Future[T]:
        """Schedule ``coroutine`` on the loop from any thread."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the loop and wait for its result (never from the loop's thread)."""
        return self.submit(coroutine).result()

    def close(self) -> None:
        """Cancel what is still running, stop the loop and join its thread; safe to call twice."""
        if self.loop.is_closed():
            return
        if self.thread.is_alive():
            self.submit(_tasks_cancel()).result(CLOSE_TIMEOUT_SECONDS)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(CLOSE_TIMEOUT_SECONDS)
        self.loop.close()


async def _tasks_cancel() -> None:
    """Cancel every task of the running loop but this one, and wait for them to end."""
    current = asyncio.current_task()
    tasks = [task for task in asyncio.all_tasks() if task is not current]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


class AsyncTransport(Transport):
    """A transport whose attempts are coroutines on an event loop it owns.

    ``send_async`` runs on ``loop_thread``'s loop; ``send`` (the blocking interface
    every transport has) runs it there and waits, from any thread.
    """

    @property
    @abc.abstractmethod
    def loop_thread(self) -> LoopThread:
        """The thread and loop the attempts run on."""

    @abc.abstractmethod
    async def send_async(self, notification: OutgoingNotification) -> SendResult:
        """POST ``notification`` once (its ``user`` loaded), within the timeout; never raises."""

    def send(self, notification: OutgoingNotification) -> SendResult:
        return self.loop_thread.call(self.send_async(notification))
