"""The delivery worker: claim a batch → POST it concurrently → record the outcomes in bulk.

Delivery is at-least-once on the wire: a row is only marked once the endpoint
answered, and a worker that dies leaves its rows ``sending`` until their lease
expires and another worker claims them. Every attempt carries the row's UUID as
``Idempotency-Key``, so the receiver can make the effect exactly-once.

All database work happens on the calling thread; the sender (``senders``: the
transport's event loop, or threads) only speaks HTTP. Batches are claimed ahead
while others are in flight, so that a batch's worth of rows always waits behind
the attempts under way and the senders never wait for the database.

Endpoint protection (``protection``) sits between the two: the rate limit and the
circuit breaker decide when each attempt may start. While the breaker is open the
worker claims nothing, rows not yet started go back unsent (uncounted), and after
the cool-down one row is claimed as the probe.
"""

from __future__ import annotations

import datetime
import logging
import os
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from django.conf import settings
from django.db import (
    InterfaceError,
    OperationalError,
    close_old_connections,
    connection,
    reset_queries,
    transaction,
)
from django.utils import timezone

from core.collector import collections_spaced
from core.logs import log_action
from core.progress import ProgressCallback
from delivery.attempts import attempts_write
from delivery.claims import (
    Claim,
    ClaimedNotification,
    Settlement,
    notifications_claim,
    notifications_due_count,
    notifications_release,
    notifications_settle,
)
from delivery.conf import DeliverySettings, DeliverySettingsError
from delivery.metrics import WorkerMetrics
from delivery.models import DeliveryBreaker
from delivery.protection import BreakerEvent, BreakerState, CircuitBreaker, RateLimiter
from delivery.retry import Outcome, RetryPolicy
from delivery.senders import Attempt, AttemptRules, sender_build
from delivery.transport import SendResult, Transport, transport_build
from outbox.models import DailyNotification

logger = logging.getLogger(__name__)

# A batch is settled whole when it completes within this long; otherwise what has
# finished so far is settled every this often, so one slow attempt cannot keep the
# rest of its batch unsettled (and their leases running out).
SETTLE_INTERVAL_SECONDS = 0.75
# Rows held at most (claimed, not settled yet): the attempts in flight plus this many
# batches behind them. Rows whose attempt has finished count until their settle, so
# that fast senders cannot have the worker claim ahead without bound. A new batch is
# claimed as soon as one batch's worth of room opens (finished rows are settled
# first to make it), so one more is always queued while the claim runs.
QUEUED_BATCHES = 2
# Rows claimed per batch unless configured: so many per request in flight, at most the
# cap. A claim and a settle cost the same few database round trips whatever their
# size, on the thread the event loop shares the interpreter with; batches a few times
# the concurrency keep that small per row and the senders fed (bench/deliver.py, README),
# while a batch stays short to send at any latency, well inside its lease.
BATCH_PER_REQUEST_IN_FLIGHT = 8
BATCH_SIZE_MAX = 2000
# An attempt starts no later than this many timeouts before its lease ends: it then
# ends (hard deadline) a timeout before the lease does, which leaves that for the settle.
START_MARGIN_TIMEOUTS = 2
# How long `forever` sleeps when nothing is due (a stop request wakes it at once).
IDLE_SECONDS = 1.0
# How much of the last error the row keeps (the attempt log keeps the detail).
LAST_ERROR_CHARS = 300
# Errors of a database that is restarting, gone for a moment or locked by another
# writer: `forever` waits them out instead of dying.
TRANSIENT_DATABASE_ERRORS = (OperationalError, InterfaceError)
# The wait after the first such error; it doubles per error in a row, up to the cap.
DATABASE_RETRY_SECONDS = 0.5
DATABASE_RETRY_MAX_SECONDS = 30.0
# Allocations between two collections of the youngest generation while a run lasts
# (CPython's default is 700). The rows held, their requests and results live a batch
# long and die by reference count; collecting among them every 700 allocations held
# the interpreter lock, which the event loop waits for, for much of a run (README,
# delivery figures). Only reference cycles wait longer to be freed: a few MB at most.
GC_YOUNG_THRESHOLD = 50_000


@dataclass(kw_only=True)
class DeliverySummary:
    """What a run did. ``retrying`` counts attempts that ended with a retry scheduled.

    ``expired`` counts rows whose window closed: at claim, or after an attempt whose
    retry would have fallen past it. ``cancelled`` counts rows whose user opted out or
    muted the category since the row was written.
    """

    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    expired: int = 0
    cancelled: int = 0
    released: int = 0
    elapsed_seconds: float = 0.0

    @property
    def settled(self) -> int:
        """Rows whose state the run wrote (an attempt's outcome, or expired/cancelled unsent)."""
        return self.delivered + self.retrying + self.failed + self.expired + self.cancelled

    @property
    def rate_per_second(self) -> float:
        """Rows settled per second of the run."""
        return self.settled / self.elapsed_seconds if self.elapsed_seconds > 0 else 0.0


@dataclass(kw_only=True)
class _Batch:
    """A claimed batch on its way: its claim and the attempts of rows not settled yet.

    Each attempt yields the attempt's result, or None when the row was not sent.
    """

    claim: Claim
    pending: dict[Attempt, ClaimedNotification] = field(default_factory=dict)
    # time.monotonic() at which the claim's lease runs out.
    lease_ends: float
    # Rows whose attempt has not finished yet (counted down by the senders).
    unfinished: int = 0


def worker_name() -> str:
    """This process as the breaker table names it: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


class DeliveryWorker:
    """One run of the loop; holds the sender, the protection, the pipeline and the running summary."""

    def __init__(
        self,
        *,
        config: DeliverySettings,
        transport: Transport,
        policy: RetryPolicy,
        concurrency: int,
        batch_size: int,
        stop: threading.Event,
        on_progress: ProgressCallback | None,
        metrics: WorkerMetrics | None = None,
    ) -> None:
        self.config = config
        self.transport = transport
        self.policy = policy
        self.batch_size = batch_size
        self.stop = stop
        self.on_progress = on_progress or (lambda done, total: None)
        self.summary = DeliverySummary()
        self.metrics = metrics or WorkerMetrics()
        # Set when the run ends abnormally: queued sends return without sending.
        self.abort = threading.Event()
        self.breaker = CircuitBreaker(
            threshold=config.breaker_failures, cooldown_seconds=config.breaker_cooldown_seconds
        )
        self.sender = sender_build(
            transport=transport,
            concurrency=concurrency,
            rules=AttemptRules(
                stop=stop,
                abort=self.abort,
                breaker=self.breaker,
                limiter=RateLimiter(rate=config.max_rate) if config.max_rate else None,
            ),
            timeout_seconds=config.timeout_seconds,
        )
        self.metrics.in_flight.set_function(lambda: self.sender.in_flight)
        # An attempt must not start so late that it could outlive the lease: another
        # worker could then claim and send the row while this one still is.
        self.start_margin = START_MARGIN_TIMEOUTS * config.timeout_seconds
        self.held_max = concurrency + QUEUED_BATCHES * batch_size
        if config.max_rate:
            # Rate-limited, rows wait their turn: hold no more than can start within a lease.
            sendable = int(config.max_rate * (config.lease_seconds - self.start_margin) / 2)
            self.held_max = max(1, min(self.held_max, sendable))
        # A batch is claimed once this much room has opened.
        self.claim_at = min(batch_size, self.held_max)
        # Rows claimed and not settled yet, across batches (this thread alone counts them).
        self.held = 0
        # Of those, rows whose attempt has not finished (the senders count down).
        self.unfinished = 0
        self.lock = threading.Lock()
        # Set by the senders when a batch completes or settling would make room for a claim.
        self.progress = threading.Event()
        self.last_partial_settle = time.monotonic()
        # Database errors in a row; `forever` waits longer after each.
        self.database_errors = 0
        # Attempts made whose log could not be written with their rows' state (the
        # settle was given up in an outage): written alone once the database answers.
        self.unlogged: list[SendResult] = []
        self.worker = worker_name()
        # Whether this run wrote its breaker's row (deleted when the run ends).
        self.breaker_row = False

    @property
    def claim_room(self) -> int:
        """Rows that may be claimed now without holding more than ``held_max``."""
        return self.held_max - self.held

    @property
    def settled_room(self) -> int:
        """Rows that could be claimed once every finished attempt is settled."""
        return self.held_max - self.unfinished

    def run(self, *, forever: bool, max_seconds: float | None) -> DeliverySummary:
        started = time.monotonic()
        deadline = started + max_seconds if max_seconds else None
        in_flight: deque[_Batch] = deque()
        # After a claim found nothing, the next waits for a settle (which may make
        # retries due) or, with `forever`, for the idle pause.
        drained = False
        woken = False
        try:
            # Inside the try: a database down from the start still closes the sender's loop.
            total = None if forever else notifications_due_count()
            self.on_progress(0, total)
            while True:
                if self.stop.is_set() and not woken:
                    self.sender.wake()
                    woken = True
                self._breaker_publish()
                may_claim = not self.stop.is_set() and (
                    deadline is None or time.monotonic() < deadline
                )
                size = self._claim_size() if may_claim and not drained else 0
                if size:
                    try:
                        self._unlogged_write()
                        batch = self._claim_and_send(size)
                    except TRANSIENT_DATABASE_ERRORS as error:
                        if not forever:
                            raise
                        self._database_wait(error, during="claim")
                        continue
                    self.database_errors = 0
                    if batch is not None:
                        in_flight.append(batch)
                        continue
                    drained = True
                if in_flight:
                    self._settle_ready(
                        in_flight, forever=forever, may_claim=may_claim and not drained
                    )
                    drained = False
                    while in_flight and not in_flight[0].pending:
                        in_flight.popleft()
                    self.on_progress(self.summary.settled, total)
                    # A batch is this loop's request: with DEBUG on, Django keeps every
                    # query's SQL until the next request, which a worker never gets.
                    if settings.DEBUG:
                        reset_queries()
                    continue
                if not (may_claim and forever):
                    break
                self._idle_wait()
                drained = False
                # A worker that polls for days must survive a database restart
                # (never inside a caller's transaction, whose connection it would break).
                if not connection.in_atomic_block:
                    close_old_connections()
        finally:
            self.abort.set()
            self.sender.close()
            self.transport.close()
            self._unlogged_write_last()
            self._breaker_publish(final=True)
            self.summary.elapsed_seconds = time.monotonic() - started
        return self.summary

    def _claim_size(self) -> int:
        """Rows to claim now: a batch when there is room for one, one row as the breaker's probe, or 0."""
        limit = self.breaker.claim_limit()
        if limit == 0:
            return 0
        if limit == 1:
            return 1 if self.unfinished == 0 else 0
        if self.claim_room < self.claim_at:
            return 0
        return min(self.batch_size, self.claim_room)

    def _idle_wait(self) -> None:
        """Nothing to do: wait for rows to become due, or for the breaker's next probe."""
        wait = IDLE_SECONDS
        until_probe = self.breaker.seconds_to_probe()
        # A probe already due found nothing to claim: nothing is due, wait as usual.
        if until_probe:
            wait = min(until_probe, IDLE_SECONDS)
        self.stop.wait(wait)

    def _database_wait(self, error: Exception, *, during: str) -> None:
        """Log a transient database error, drop the connection and wait (longer each time in a row).

        The next query opens a fresh connection: a restarted server or a terminated
        backend leaves the old one unusable. Never inside a caller's transaction,
        whose connection it would break.
        """
        self.database_errors += 1
        delay = min(
            DATABASE_RETRY_SECONDS * 2.0 ** min(self.database_errors - 1, 16),
            DATABASE_RETRY_MAX_SECONDS,
        )
        log_action(
            logger,
            "delivery.database_error",
            level=logging.WARNING,
            during=during,
            retry_in=f"{delay:.1f}s",
            error=" ".join(str(error).split())[:LAST_ERROR_CHARS],
        )
        if not connection.in_atomic_block:
            connection.close()
        self.stop.wait(delay)

    def _claim_and_send(self, size: int) -> _Batch | None:
        """Claim up to ``size`` rows and queue their sends; None when nothing is due.

        A claim that only expired or cancelled rows is followed by another at once:
        sendable rows may wait behind them.
        """
        while True:
            claimed_at = time.monotonic()
            claim = notifications_claim(batch_size=size, lease_seconds=self.config.lease_seconds)
            self.summary.expired += claim.expired
            self.summary.cancelled += claim.cancelled
            if claim.notifications:
                break
            if not (claim.expired or claim.cancelled) or self.stop.is_set():
                return None
        lease_ends = claimed_at + self.config.lease_seconds
        batch = _Batch(claim=claim, lease_ends=lease_ends, unfinished=len(claim.notifications))
        self.held += batch.unfinished
        with self.lock:
            self.unfinished += batch.unfinished
        futures = self.sender.submit(
            claim.notifications,
            send_by=lease_ends - self.start_margin,
            on_done=lambda: self._attempt_done(batch),
        )
        batch.pending = dict(zip(futures, claim.notifications, strict=True))
        return batch

    def _attempt_done(self, batch: _Batch) -> None:
        """Called by the senders as each row's attempt ends (sent or not), on their thread."""
        with self.lock:
            batch.unfinished -= 1
            self.unfinished -= 1
            wake = batch.unfinished == 0 or self.settled_room == self.claim_at
        if wake:
            self.progress.set()

    def _settle_ready(self, in_flight: deque[_Batch], *, forever: bool, may_claim: bool) -> None:
        """Wait for a batch to complete, room for a claim or the settle interval; then settle.

        A batch that completes is settled whole (one write for it all); once the
        interval has passed, every batch's finished rows are settled now and the rest
        later. When settling finished rows is all a claim waits for, the oldest
        batches' finished rows are settled until there is room for it.
        """
        due = self.last_partial_settle + SETTLE_INTERVAL_SECONDS
        while True:
            self.progress.clear()
            if any(batch.unfinished == 0 for batch in in_flight):
                break
            if may_claim and self._claim_size():
                return
            if may_claim and self._claim_waits_for_settle():
                break
            remaining = due - time.monotonic()
            if remaining <= 0:
                break
            self.progress.wait(remaining)
        partial = time.monotonic() >= due
        if partial:
            self.last_partial_settle = time.monotonic()
        for batch in list(in_flight):
            if batch.unfinished == 0:
                self._settle(batch, list(batch.pending), forever=forever)
            elif batch.unfinished < len(batch.pending) and (
                partial or (may_claim and self._claim_waits_for_settle())
            ):
                finished = [future for future in batch.pending if future.done()]
                if finished:
                    self._settle(batch, finished, forever=forever)

    def _claim_waits_for_settle(self) -> bool:
        """A batch could be claimed but for finished rows that are not settled yet."""
        return (
            self.breaker.claim_limit() is None
            and self.claim_room < self.claim_at <= self.settled_room
        )

    def _breaker_publish(self, *, final: bool = False) -> None:
        """Log the breaker's changes and write them where the dashboard reads them.

        At the end of the run the worker's row is deleted: its breaker ends with it.
        A database error here only delays the dashboard, never the delivery.
        """
        events = self.breaker.events_take()
        for event in events:
            self._breaker_log(event)
        self.metrics.breaker_open.set(1 if self.breaker.is_open else 0)
        if final:
            # In a caller's transaction broken by the error that ends the run, nothing can be written.
            if not self.breaker_row or connection.needs_rollback:
                return
        elif not events:
            return
        try:
            if final:
                DeliveryBreaker.objects.filter(worker=self.worker).delete()
            else:
                breaker_row_write(worker=self.worker, event=events[-1])
                self.breaker_row = True
        except TRANSIENT_DATABASE_ERRORS as error:
            log_action(
                logger,
                "delivery.breaker_unpublished",
                level=logging.WARNING,
                error=" ".join(str(error).split())[:LAST_ERROR_CHARS],
            )

    def _breaker_log(self, event: BreakerEvent) -> None:
        if event.state is BreakerState.OPEN:
            log_action(
                logger,
                "delivery.breaker_open",
                "a probe failed" if event.probe_failed else "the endpoint keeps failing",
                level=logging.WARNING,
                failures=event.failures,
                cooldown=f"{event.cooldown_seconds:g}s",
                probe_at=event.next_probe_at.isoformat() if event.next_probe_at else "",
            )
        else:
            log_action(logger, "delivery.breaker_closed", "a probe was answered")

    def _settle(self, batch: _Batch, finished: list[Attempt], *, forever: bool) -> None:
        """Log the finished attempts of a batch and write their rows' state, in bulk.

        With ``forever``, a transient database error does not lose the results: the
        write is retried until it succeeds, the lease runs out or a stop is requested.
        """
        sent: list[tuple[ClaimedNotification, SendResult]] = []
        unsent: list = []
        # Out of the pipeline's count now, whatever becomes of the write.
        self.held -= len(finished)
        for future in finished:
            notification = batch.pending.pop(future)
            result = future.result()
            if result is None:
                unsent.append(notification.id)
            else:
                sent.append((notification, result))
        began = time.perf_counter()
        # Backoff counts from now, when these answers are in.
        now = timezone.now()
        settlements = [
            self._settlement(notification, result, now=now) for notification, result in sent
        ]
        # A result has the attempt log's fields: it is written as it is, with no model built.
        attempts = [result for _, result in sent]
        while True:
            try:
                written, released = self._settle_write(
                    batch=batch, attempts=attempts, settlements=settlements, unsent=unsent
                )
            except TRANSIENT_DATABASE_ERRORS as error:
                if not forever:
                    self.unlogged += attempts
                    raise
                self._database_wait(error, during="settle")
                if self.stop.is_set() or time.monotonic() >= batch.lease_ends:
                    # The rows' state can no longer be written (another worker may hold
                    # them by now), but what was sent happened: its log waits for later.
                    self.unlogged += attempts
                    log_action(
                        logger,
                        "delivery.settle_abandoned",
                        "the database stayed unavailable; the rows are sent again after their "
                        "lease, their attempts are logged when it answers",
                        level=logging.WARNING,
                        rows=len(sent),
                    )
                    return
                continue
            self.database_errors = 0
            break
        self._summary_add(settlements=settlements, written=written, released=released)
        self._metrics_add(sent=sent, settlements=settlements, released=released, began=began)
        log_action(logger, "delivery.batch", level=logging.DEBUG, sent=len(sent), released=released)

    def _metrics_add(
        self,
        *,
        sent: list[tuple[ClaimedNotification, SendResult]],
        settlements: list[Settlement],
        released: int,
        began: float,
    ) -> None:
        """Count a settle in the worker's metrics: outcomes, durations, rows given back."""
        for _, result in sent:
            self.metrics.attempt_duration.observe(result.duration_ms / 1000)
        outcomes: dict[str, int] = {}
        for settlement in settlements:
            outcomes[settlement.status] = outcomes.get(settlement.status, 0) + 1
        for status, n in outcomes.items():
            self.metrics.attempts.labels(outcome=OUTCOME_LABELS.get(status, status)).inc(n)
        if released:
            self.metrics.released.inc(released)
        self.metrics.settle_duration.observe(time.perf_counter() - began)

    def _settle_write(
        self,
        *,
        batch: _Batch,
        attempts: list[SendResult],
        settlements: list[Settlement],
        unsent: list,
    ) -> tuple[set, int]:
        """One transaction: the attempts logged, the rows settled, the unsent released."""
        with transaction.atomic():
            attempts_write(attempts)
            written = notifications_settle(lease=batch.claim.lease, settlements=settlements)
            released = notifications_release(lease=batch.claim.lease, ids=unsent) if unsent else 0
        return written, released

    def _unlogged_write(self) -> None:
        """Write the attempts whose settle was given up, in one transaction (raises if it fails)."""
        if not self.unlogged:
            return
        with transaction.atomic():
            attempts_write(self.unlogged)
        log_action(logger, "delivery.attempts_logged_late", rows=len(self.unlogged))
        self.unlogged = []

    def _unlogged_write_last(self) -> None:
        """The run ends: one last try at the attempts still unlogged; a warning if it fails."""
        # In a caller's transaction broken by the error that ends the run, nothing can be written.
        if not self.unlogged or connection.needs_rollback:
            return
        try:
            self._unlogged_write()
        except TRANSIENT_DATABASE_ERRORS as error:
            log_action(
                logger,
                "delivery.attempts_unlogged",
                "the database stayed unavailable to the end of the run",
                level=logging.WARNING,
                rows=len(self.unlogged),
                error=" ".join(str(error).split())[:LAST_ERROR_CHARS],
            )

    def _summary_add(self, *, settlements: list[Settlement], written: set, released: int) -> None:
        """Count what a settle wrote; warn about rows whose lease another worker holds now."""
        for settlement in settlements:
            if settlement.notification_id not in written:
                continue
            if settlement.status == DailyNotification.Status.DELIVERED:
                self.summary.delivered += 1
            elif settlement.status == DailyNotification.Status.FAILED:
                self.summary.failed += 1
            elif settlement.status == DailyNotification.Status.EXPIRED:
                self.summary.expired += 1
            else:
                self.summary.retrying += 1
        self.summary.released += released
        lost = len(settlements) - len(written)
        if lost:
            log_action(
                logger,
                "delivery.lease_lost",
                "their lease ran out and another worker holds them now; "
                "the attempts are logged, the rows keep the newer state",
                level=logging.WARNING,
                rows=lost,
            )

    def _settlement(
        self, notification: ClaimedNotification, result: SendResult, *, now: datetime.datetime
    ) -> Settlement:
        """The row's new state after this attempt, as the retry policy decides it."""
        decision = self.policy.decide(
            attempts=notification.attempts + 1,
            http_status=result.http_status,
            retry_after=result.retry_after,
            now=now,
            expires_at=notification.expires_at,
        )
        if decision.outcome is Outcome.DELIVERED:
            return Settlement(
                notification_id=notification.id,
                status=DailyNotification.Status.DELIVERED,
                delivered_at=result.started_at
                + datetime.timedelta(milliseconds=result.duration_ms),
            )
        return Settlement(
            notification_id=notification.id,
            status=SETTLED_STATUS[decision.outcome],
            next_attempt_at=decision.next_attempt_at,
            last_error=_attempt_error(result),
        )


# The row's status after an attempt that did not deliver, by the policy's verdict.
SETTLED_STATUS = {
    Outcome.RETRY: DailyNotification.Status.PENDING,
    Outcome.FAILED: DailyNotification.Status.FAILED,
    Outcome.EXPIRED: DailyNotification.Status.EXPIRED,
}


def _attempt_error(result: SendResult) -> str:
    """A one-line reason an attempt did not deliver, for the row's ``last_error``."""
    if result.http_status is None:
        return result.error[:LAST_ERROR_CHARS]
    # A redirect says where it points; any other answer, what its body began with.
    detail = result.error or " ".join(result.response_excerpt.split())
    return f"HTTP {result.http_status}: {detail}"[:LAST_ERROR_CHARS]


def breaker_row_write(*, worker: str, event: BreakerEvent) -> None:
    """The dashboard's row for this worker's breaker, as of ``event``."""
    opened = event.state is BreakerState.OPEN
    defaults = {
        "state": event.state.value,
        "failures": event.failures,
        "cooldown_seconds": event.cooldown_seconds,
        "next_probe_at": event.next_probe_at,
    }
    if opened and not event.probe_failed:
        defaults["opened_at"] = event.at
    elif not opened:
        defaults["opened_at"] = None
    DeliveryBreaker.objects.update_or_create(worker=worker, defaults=defaults)


# The attempts counter's label for each status a settle writes.
OUTCOME_LABELS = {
    DailyNotification.Status.DELIVERED: "delivered",
    DailyNotification.Status.PENDING: "retry",
    DailyNotification.Status.FAILED: "failed",
}


def batch_size_default(concurrency: int) -> int:
    """Rows claimed per batch for ``concurrency`` requests in flight, when no size is set."""
    return min(BATCH_PER_REQUEST_IN_FLIGHT * concurrency, BATCH_SIZE_MAX)


def notifications_deliver(
    *,
    concurrency: int,
    batch_size: int | None = None,
    forever: bool = False,
    max_seconds: float | None = None,
    stop: threading.Event | None = None,
    on_progress: ProgressCallback | None = None,
    transport: Transport | None = None,
    metrics_port: int | None = None,
) -> DeliverySummary:
    """Deliver due notifications with ``concurrency`` POSTs in flight; returns what happened.

    Drains what is due and returns; with ``forever``, polls until ``stop`` is set.
    ``max_seconds`` stops claiming new batches after that long. When ``stop`` is
    set, no new batch is claimed, attempts already under way finish and are
    recorded, and queued rows not yet sent go back to ``pending``. A run that is not
    ``forever`` also ends once its circuit breaker opens (the next run probes).
    With ``metrics_port``, the run's own metrics are served there while it lasts.
    ``batch_size`` defaults to ``batch_size_default(concurrency)``.
    Raises ``DeliverySettingsError`` when the settings cannot work.
    """
    config = DeliverySettings.from_settings()
    metrics = WorkerMetrics()
    if metrics_port is not None:
        try:
            port = metrics.serve(port=metrics_port)
        except OSError as error:
            raise DeliverySettingsError(
                f"cannot serve metrics on port {metrics_port}: {error.strerror or error}"
            ) from None
        log_action(logger, "delivery.metrics_serving", port=port)
    transport = transport or transport_build(config=config, concurrency=concurrency)
    try:
        worker = DeliveryWorker(
            config=config,
            transport=transport,
            policy=RetryPolicy.from_config(config),
            concurrency=concurrency,
            batch_size=batch_size or batch_size_default(concurrency),
            stop=stop or threading.Event(),
            on_progress=on_progress,
            metrics=metrics,
        )
    except BaseException:
        transport.close()
        metrics.close()
        raise
    try:
        with collections_spaced(young_threshold=GC_YOUNG_THRESHOLD):
            return worker.run(forever=forever, max_seconds=max_seconds)
    finally:
        metrics.close()
