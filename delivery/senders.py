"""How a claimed row gets its attempt: a slot among the worker's concurrency, then the rules, then the POST.

Two ways to hold ``concurrency`` attempts in flight, one per kind of transport:
``LoopSender`` runs that many consumer coroutines on an asynchronous transport's
event loop (one thread for any number), ``ThreadSender`` that many threads around
a blocking transport. Both apply the same rules when an attempt is about to
start (``AttemptRules``): nothing starts once the run is stopping, nor so late
that it could outlive its row's lease, nor against the circuit breaker, nor
faster than the rate limit. A row that does not start yields None: the worker
gives it back without counting an attempt.

Neither touches the database: the worker's thread claims and settles.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from django.utils import timezone

from delivery.protection import Admission, CircuitBreaker, RateLimiter, attempt_failed
from delivery.transport import AsyncTransport, OutgoingNotification, SendResult, Transport
from outbox.window import window_closed

# An attempt told to wait for the breaker asks again at least this often: on threads
# a wake-up can slip between the question and the wait, which costs no more than this.
WAIT_SECONDS = 0.25
# On the loop the answer and the wake-up share one thread and cannot cross: this is
# only a safety net, long enough that a thousand waiting attempts cost nothing.
LOOP_WAIT_SECONDS = 2.0
# How long closing waits beyond the attempt deadline for attempts still under way.
CLOSE_GRACE_SECONDS = 2.0

OnDone = Callable[[], None]


class Attempt(Protocol):
    """One row's attempt as the worker waits for it: the two methods of a Future it uses.

    ``result`` is read only once ``done`` (or the row's ``on_done``) said so.
    """

    def done(self) -> bool: ...

    def result(self) -> SendResult | None: ...


class LoopAttempt:
    """A ``LoopSender`` attempt's outcome: set once on the loop, read on the worker's thread.

    Not a ``concurrent.futures.Future``: each of those builds a lock and a condition,
    thousands a second on the worker's thread, and nothing here waits on one (the
    worker counts ``on_done`` calls instead).
    """

    __slots__ = ("_done", "_error", "_result")

    def __init__(self) -> None:
        self._result: SendResult | None = None
        self._error: BaseException | None = None
        self._done = False

    def done(self) -> bool:
        return self._done

    def result(self) -> SendResult | None:
        if not self._done:
            raise RuntimeError("the attempt has not ended")
        if self._error is not None:
            raise self._error
        return self._result

    def set_result(self, result: SendResult | None) -> None:
        # The result before the flag: a reader that sees done sees the result.
        self._result = result
        self._done = True

    def set_exception(self, error: BaseException) -> None:
        self._error = error
        self._done = True


@dataclass(kw_only=True)
class AttemptRules:
    """What every attempt must pass when it is about to start."""

    stop: threading.Event
    abort: threading.Event
    breaker: CircuitBreaker
    limiter: RateLimiter | None = None

    def too_late(self, send_by: float) -> bool:
        """Stopping, or past the last instant an attempt can start and still end inside its lease."""
        return self.stop.is_set() or self.abort.is_set() or time.monotonic() > send_by

    @staticmethod
    def window_closed(notification: OutgoingNotification) -> bool:
        """The row's delivery window closed while it waited: no request may start at or after it.

        It goes back unsent, and the next claim expires it.
        """
        return window_closed(expires_at=notification.expires_at, now=timezone.now())


class Sender(abc.ABC):
    """Runs attempts ``concurrency`` at a time; ``submit`` returns a future per row (None: not sent)."""

    @property
    @abc.abstractmethod
    def in_flight(self) -> int:
        """Requests on the wire now."""

    @abc.abstractmethod
    def submit(
        self, notifications: Iterable[OutgoingNotification], *, send_by: float, on_done: OnDone
    ) -> list[Attempt]:
        """Queue one attempt per row; ``on_done`` is called (on any thread) as each future completes."""

    @abc.abstractmethod
    def wake(self) -> None:
        """The run is stopping: attempts waiting for their turn look at the rules again now."""

    @abc.abstractmethod
    def close(self) -> None:
        """Wait for the attempts under way (queued ones end unsent), then release the slots."""


def sender_build(
    *, transport: Transport, concurrency: int, rules: AttemptRules, timeout_seconds: float
) -> Sender:
    """The sender that suits ``transport``: its event loop if it has one, else threads."""
    if isinstance(transport, AsyncTransport):
        return LoopSender(
            transport=transport,
            concurrency=concurrency,
            rules=rules,
            timeout_seconds=timeout_seconds,
        )
    return ThreadSender(transport=transport, concurrency=concurrency, rules=rules)


class ThreadSender(Sender):
    """``concurrency`` threads, each sending one attempt at a time with a blocking transport."""

    def __init__(self, *, transport: Transport, concurrency: int, rules: AttemptRules) -> None:
        self.transport = transport
        self.rules = rules
        self.executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="deliver")
        self.changed = threading.Condition()
        self.lock = threading.Lock()
        self._in_flight = 0

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def submit(
        self, notifications: Iterable[OutgoingNotification], *, send_by: float, on_done: OnDone
    ) -> list[Attempt]:
        futures = []
        for notification in notifications:
            future = self.executor.submit(self._attempt, notification, send_by)
            future.add_done_callback(lambda _: on_done())
            futures.append(future)
        return futures

    def _admit(self, send_by: float) -> Admission | None:
        breaker = self.rules.breaker
        while True:
            if self.rules.too_late(send_by):
                return None
            admission = breaker.admit()
            if admission is Admission.REFUSE:
                return None
            if admission is not Admission.WAIT:
                break
            with self.changed:
                self.changed.wait(WAIT_SECONDS)
        if self.rules.limiter is not None:
            delay = self.rules.limiter.reserve()
            if delay > 0:
                self.rules.stop.wait(delay)
        if self.rules.too_late(send_by):
            breaker.cancel(admission)
            return None
        return admission

    def _attempt(self, notification: OutgoingNotification, send_by: float) -> SendResult | None:
        admission = self._admit(send_by)
        if admission is None:
            return None
        if self.rules.window_closed(notification):
            self.rules.breaker.cancel(admission)
            return None
        with self.lock:
            self._in_flight += 1
        try:
            result = self.transport.send(notification)
        except BaseException:
            self.rules.breaker.cancel(admission)
            raise
        finally:
            with self.lock:
                self._in_flight -= 1
        if self.rules.breaker.record(admission, failed=attempt_failed(result.http_status)):
            with self.changed:
                self.changed.notify_all()
        return result

    def wake(self) -> None:
        with self.changed:
            self.changed.notify_all()

    def close(self) -> None:
        self.wake()
        self.executor.shutdown(wait=True, cancel_futures=True)


# One queued attempt: the row, its last start instant, its future, the completion callback.
Job = tuple[OutgoingNotification, float, LoopAttempt, OnDone]


class LoopSender(Sender):
    """``concurrency`` consumer coroutines on the transport's event loop, one attempt each at a time."""

    def __init__(
        self,
        *,
        transport: AsyncTransport,
        concurrency: int,
        rules: AttemptRules,
        timeout_seconds: float,
    ) -> None:
        self.transport = transport
        self.rules = rules
        self.timeout_seconds = timeout_seconds
        self.loop_thread = transport.loop_thread
        self._in_flight = 0
        self.loop_thread.call(self._start(concurrency))

    async def _start(self, concurrency: int) -> None:
        """Runs on the loop: the queue, the events and the consumers belong to it."""
        self.queue: asyncio.Queue[Job] = asyncio.Queue()
        self.changed = asyncio.Event()
        self.stopping = asyncio.Event()
        self.consumers = [asyncio.create_task(self._consume()) for _ in range(concurrency)]

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def submit(
        self, notifications: Iterable[OutgoingNotification], *, send_by: float, on_done: OnDone
    ) -> list[Attempt]:
        jobs: list[Job] = [
            (notification, send_by, LoopAttempt(), on_done) for notification in notifications
        ]
        # One hand-over to the loop per batch, not one per row.
        self.loop_thread.loop.call_soon_threadsafe(self._enqueue, jobs)
        return [job[2] for job in jobs]

    def _enqueue(self, jobs: list[Job]) -> None:
        for job in jobs:
            self.queue.put_nowait(job)

    async def _consume(self) -> None:
        while True:
            notification, send_by, future, on_done = await self.queue.get()
            try:
                result = await self._attempt(notification, send_by)
            except asyncio.CancelledError:
                future.set_result(None)
                on_done()
                raise
            except Exception as error:  # a bug: surfaces where the worker reads the future
                future.set_exception(error)
            else:
                future.set_result(result)
            on_done()

    async def _admit(self, send_by: float) -> Admission | None:
        breaker = self.rules.breaker
        while True:
            if self.rules.too_late(send_by):
                return None
            admission = breaker.admit()
            if admission is Admission.REFUSE:
                return None
            if admission is not Admission.WAIT:
                break
            await self._pause(LOOP_WAIT_SECONDS, until=self.changed)
        if self.rules.limiter is not None:
            delay = self.rules.limiter.reserve()
            if delay > 0:
                await self._pause(delay, until=self.stopping)
        if self.rules.too_late(send_by):
            breaker.cancel(admission)
            return None
        return admission

    async def _attempt(
        self, notification: OutgoingNotification, send_by: float
    ) -> SendResult | None:
        admission = await self._admit(send_by)
        if admission is None:
            return None
        if self.rules.window_closed(notification):
            self.rules.breaker.cancel(admission)
            return None
        self._in_flight += 1
        try:
            result = await self.transport.send_async(notification)
        except BaseException:
            self.rules.breaker.cancel(admission)
            raise
        finally:
            self._in_flight -= 1
        if self.rules.breaker.record(admission, failed=attempt_failed(result.http_status)):
            self._changed_notify()
        return result

    async def _pause(self, seconds: float, *, until: asyncio.Event) -> None:
        """Sleep ``seconds``, or less if ``until`` is set meanwhile."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(until.wait(), seconds)

    def _changed_notify(self) -> None:
        """Wake every consumer waiting on the breaker (a fresh event for the next wait)."""
        self.changed.set()
        self.changed = asyncio.Event()

    def wake(self) -> None:
        def notify() -> None:
            self.stopping.set()
            self._changed_notify()

        if not self.loop_thread.loop.is_closed():
            self.loop_thread.loop.call_soon_threadsafe(notify)

    def close(self) -> None:
        if self.loop_thread.loop.is_closed():
            return
        self.loop_thread.call(self._shutdown())

    async def _shutdown(self) -> None:
        """Let queued rows end unsent and attempts under way finish (bounded), then stop the consumers."""
        self.stopping.set()
        self._changed_notify()
        limit = time.monotonic() + self.timeout_seconds + CLOSE_GRACE_SECONDS
        while (not self.queue.empty() or self._in_flight) and time.monotonic() < limit:
            await asyncio.sleep(0.01)
        for consumer in self.consumers:
            consumer.cancel()
        await asyncio.gather(*self.consumers, return_exceptions=True)
        while not self.queue.empty():
            _, _, future, on_done = self.queue.get_nowait()
            future.set_result(None)
            on_done()
