"""The delivery worker: claim a batch → POST it concurrently → record the outcomes in bulk.

Delivery is at-least-once on the wire: a row is only marked once the endpoint
answered, and a worker that dies leaves its rows ``sending`` until their lease
expires and another worker claims them. Every attempt carries the row's UUID as
``Idempotency-Key``, so the receiver can make the effect exactly-once.

All database work happens on the calling thread; the sending threads only speak
HTTP. While one batch is being sent the next is already claimed and queued
behind it, so the senders never wait for the database.
"""

from __future__ import annotations

import datetime
import logging
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

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

from core.logs import log_action
from core.progress import ProgressCallback
from delivery.claims import (
    Claim,
    Settlement,
    notifications_claim,
    notifications_due_count,
    notifications_release,
    notifications_settle,
)
from delivery.conf import DeliverySettings
from delivery.models import DeliveryAttempt
from delivery.retry import Outcome, RetryPolicy
from delivery.transport import RequestsTransport, SendResult, Transport
from outbox.models import DailyNotification
from outbox.window import Window

logger = logging.getLogger(__name__)

# Batches claimed and queued at once: one being sent, one waiting behind it.
PIPELINE_DEPTH = 2
# A batch is settled whole when it completes within this long; otherwise what has
# finished so far is settled every this often, so one slow attempt cannot keep the
# rest of its batch unsettled (and their leases running out).
SETTLE_INTERVAL_SECONDS = 0.75
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
    """A claimed batch on its way: its claim and the futures of rows not settled yet.

    Each future yields the attempt's result, or None when the row was not sent.
    """

    claim: Claim
    pending: dict[Future[SendResult | None], DailyNotification]
    # time.monotonic() at which the claim's lease runs out.
    lease_ends: float


class DeliveryWorker:
    """One run of the loop; holds the pool, the pipeline and the running summary."""

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
    ) -> None:
        self.config = config
        self.transport = transport
        self.policy = policy
        self.batch_size = batch_size
        self.stop = stop
        self.on_progress = on_progress or (lambda done, total: None)
        self.executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="deliver")
        self.summary = DeliverySummary()
        # Set when the run ends abnormally: queued sends return without sending.
        self.abort = threading.Event()
        # An attempt must not start so late that it could outlive the lease: another
        # worker could then claim and send the row while this one still is.
        self.start_margin = START_MARGIN_TIMEOUTS * config.timeout_seconds
        # Database errors in a row; `forever` waits longer after each.
        self.database_errors = 0
        # Attempts made whose log could not be written with their rows' state (the
        # settle was given up in an outage): written alone once the database answers.
        self.unlogged: list[DeliveryAttempt] = []

    def run(self, *, forever: bool, max_seconds: float | None) -> DeliverySummary:
        started = time.monotonic()
        deadline = started + max_seconds if max_seconds else None
        total = None if forever else notifications_due_count()
        self.on_progress(0, total)
        in_flight: deque[_Batch] = deque()
        try:
            while True:
                may_claim = not self.stop.is_set() and (
                    deadline is None or time.monotonic() < deadline
                )
                if may_claim and len(in_flight) < PIPELINE_DEPTH:
                    try:
                        self._unlogged_write()
                        batch = self._claim_and_send()
                    except TRANSIENT_DATABASE_ERRORS as error:
                        if not forever:
                            raise
                        self._database_wait(error, during="claim")
                        continue
                    self.database_errors = 0
                    if batch is not None:
                        in_flight.append(batch)
                        continue
                if in_flight:
                    self._settle_finished(in_flight, forever=forever)
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
                self.stop.wait(IDLE_SECONDS)
                # A worker that polls for days must survive a database restart
                # (never inside a caller's transaction, whose connection it would break).
                if not connection.in_atomic_block:
                    close_old_connections()
        finally:
            self.abort.set()
            self.executor.shutdown(wait=True, cancel_futures=True)
            self.transport.close()
            self._unlogged_write_last()
            self.summary.elapsed_seconds = time.monotonic() - started
        return self.summary

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

    def _claim_and_send(self) -> _Batch | None:
        """Claim a batch and queue its sends; None when nothing is due.

        A claim that only expired or cancelled rows is followed by another at once:
        sendable rows may wait behind them.
        """
        while True:
            claimed_at = time.monotonic()
            claim = notifications_claim(
                batch_size=self.batch_size, lease_seconds=self.config.lease_seconds
            )
            self.summary.expired += claim.expired
            self.summary.cancelled += claim.cancelled
            if claim.notifications:
                break
            if not (claim.expired or claim.cancelled) or self.stop.is_set():
                return None
        lease_ends = claimed_at + self.config.lease_seconds
        send_by = lease_ends - self.start_margin
        pending = {
            self.executor.submit(self._attempt, notification, send_by): notification
            for notification in claim.notifications
        }
        return _Batch(claim=claim, pending=pending, lease_ends=lease_ends)

    def _attempt(self, notification: DailyNotification, send_by: float) -> SendResult | None:
        """Runs on a sending thread: one POST, unless stopping or too close to the lease's end.

        Nor once the row's window has closed while it waited in the queue: it goes
        back unsent, and the next claim expires it.
        """
        if self.stop.is_set() or self.abort.is_set() or time.monotonic() > send_by:
            return None
        if window_closed(notification, now=timezone.now()):
            return None
        return self.transport.send(notification)

    def _settle_finished(self, in_flight: deque[_Batch], *, forever: bool) -> None:
        """Wait briefly for the oldest batch, then settle what has finished.

        A batch that completes within ``SETTLE_INTERVAL_SECONDS`` is settled whole (one
        write for it all); when the wait runs out, every batch's finished rows are
        settled now and the rest later.
        """
        oldest = in_flight[0]
        _, not_done = wait(oldest.pending, timeout=SETTLE_INTERVAL_SECONDS)
        for batch in list(in_flight):
            if batch is not oldest and not not_done:
                continue
            finished = [future for future in batch.pending if future.done()]
            if finished:
                self._settle(batch, finished, forever=forever)

    def _settle(self, batch: _Batch, finished: list[Future], *, forever: bool) -> None:
        """Log the finished attempts of a batch and write their rows' state, in bulk.

        With ``forever``, a transient database error does not lose the results: the
        write is retried until it succeeds, the lease runs out or a stop is requested.
        """
        sent: list[tuple[DailyNotification, SendResult]] = []
        unsent: list = []
        for future in finished:
            notification = batch.pending.pop(future)
            result = future.result()
            if result is None:
                unsent.append(notification.id)
            else:
                sent.append((notification, result))
        # Backoff counts from now, when these answers are in.
        now = timezone.now()
        settlements = [
            self._settlement(notification, result, now=now) for notification, result in sent
        ]
        attempts = [_attempt_row(result) for _, result in sent]
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
        log_action(logger, "delivery.batch", level=logging.DEBUG, sent=len(sent), released=released)

    def _settle_write(
        self,
        *,
        batch: _Batch,
        attempts: list[DeliveryAttempt],
        settlements: list[Settlement],
        unsent: list,
    ) -> tuple[set, int]:
        """One transaction: the attempts logged, the rows settled, the unsent released."""
        with transaction.atomic():
            DeliveryAttempt.objects.bulk_create(attempts)
            written = notifications_settle(lease=batch.claim.lease, settlements=settlements)
            released = notifications_release(lease=batch.claim.lease, ids=unsent) if unsent else 0
        return written, released

    def _unlogged_write(self) -> None:
        """Write the attempts whose settle was given up, in one transaction (raises if it fails)."""
        if not self.unlogged:
            return
        with transaction.atomic():
            DeliveryAttempt.objects.bulk_create(self.unlogged)
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
        self, notification: DailyNotification, result: SendResult, *, now: datetime.datetime
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


def window_closed(notification: DailyNotification, *, now: datetime.datetime) -> bool:
    """Whether the row's delivery window has closed: no request may start at or after it."""
    window = Window(
        date=notification.date, send_at=notification.send_at, expires_at=notification.expires_at
    )
    return window.closed(now=now)


def _attempt_row(result: SendResult) -> DeliveryAttempt:
    """The attempt log's row for one attempt (unsaved)."""
    return DeliveryAttempt(
        notification_id=result.notification_id,
        started_at=result.started_at,
        duration_ms=result.duration_ms,
        http_status=result.http_status,
        error=result.error,
        response_excerpt=result.response_excerpt,
    )


def _attempt_error(result: SendResult) -> str:
    """A one-line reason an attempt did not deliver, for the row's ``last_error``."""
    if result.http_status is None:
        return result.error[:LAST_ERROR_CHARS]
    # A redirect says where it points; any other answer, what its body began with.
    detail = result.error or " ".join(result.response_excerpt.split())
    return f"HTTP {result.http_status}: {detail}"[:LAST_ERROR_CHARS]


def notifications_deliver(
    *,
    concurrency: int,
    batch_size: int,
    forever: bool = False,
    max_seconds: float | None = None,
    stop: threading.Event | None = None,
    on_progress: ProgressCallback | None = None,
    transport: Transport | None = None,
) -> DeliverySummary:
    """Deliver due notifications with ``concurrency`` POSTs in flight; returns what happened.

    Drains what is due and returns; with ``forever``, polls until ``stop`` is set.
    ``max_seconds`` stops claiming new batches after that long. When ``stop`` is
    set, no new batch is claimed, attempts already under way finish and are
    recorded, and queued rows not yet sent go back to ``pending``.
    Raises ``DeliverySettingsError`` when the settings cannot work.
    """
    config = DeliverySettings.from_settings()
    worker = DeliveryWorker(
        config=config,
        transport=transport or RequestsTransport(config=config),
        policy=RetryPolicy.from_config(config),
        concurrency=concurrency,
        batch_size=batch_size,
        stop=stop or threading.Event(),
        on_progress=on_progress,
    )
    return worker.run(forever=forever, max_seconds=max_seconds)
