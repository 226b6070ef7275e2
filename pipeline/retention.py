"""Retention: final outbox rows and their delivery attempts go once they are older than the policy.

A notification that reached a final status (``DailyNotification.FINAL_STATUSES``) never
moves again, so after ``OUTBOX_RETENTION_DAYS`` it and its attempt log are deleted:
the tables stop growing without bound and health messages are not kept forever.
Pending and sending rows are never touched, whatever their date.

Deleting millions of rows in one statement would hold its locks (and bloat the
write-ahead log) for minutes, so the purge goes in bounded transactions: each one
takes at most ``PURGE_BATCH_SIZE`` rows of one date through the (date, status) index,
locks them (``SKIP LOCKED``: a row an operator is requeueing right now waits for the
next run) and deletes them with their attempts in one statement. Going date by date,
oldest first, keeps each batch's index scan off the entries of the dates already
purged: until a vacuum they stay in the index, and a scan over the whole range would
step over all of them again in every batch. A purge lost in a crash is simply done
again, so its commits do not wait for the disk. It lives in ``pipeline`` because it
deletes from both ``outbox`` and ``delivery``.
"""

from __future__ import annotations

import datetime
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Min, QuerySet
from django.utils import timezone

from core.db import commit_without_flush, rows_delete_with_dependants
from core.logs import log_action
from core.progress import ProgressCallback
from delivery.models import DeliveryAttempt
from outbox.models import DailyNotification

logger = logging.getLogger(__name__)

# Rows per transaction: small enough that no lock is held long, large enough that the
# per-transaction cost (a commit, an index probe) is spread thin.
PURGE_BATCH_SIZE = 10_000
# What one transaction should take: when the database is busy (a checkpoint, other
# load) the next batch shrinks so that no lock is held for long, and grows back after.
# Well under a second, so that a batch slowed down a few times over still stays under.
PURGE_TARGET_SECONDS = 0.15
PURGE_MIN_BATCH_SIZE = 500
# A worker's first batch, on a cold cache: the next ones grow toward the target from it.
PURGE_FIRST_BATCH_SIZE = 2_000
# Connections purging side by side on PostgreSQL: each batch is mostly index probes and
# foreign-key checks, one CPU's work, and SKIP LOCKED keeps the workers' rows apart.
PURGE_WORKERS = 2
# The dotted path the daily schedule calls, and its bound: well under the cluster's
# ``timeout``; what is left is purged the next day.
PURGE_TASK = "pipeline.retention.notifications_purge_scheduled"
PURGE_MAX_SECONDS = 300
INCOMPLETE_NOTE = "; stopped at the time limit, rows remain"


@dataclass(frozen=True, kw_only=True)
class PurgeSummary:
    """What a purge deleted, in how many transactions, and the longest of them."""

    cutoff: datetime.date
    notifications: int
    attempts: int
    batches: int
    elapsed_seconds: float
    longest_batch_seconds: float
    complete: bool

    @property
    def line(self) -> str:
        """The summary line an operator reads."""
        return (
            f"purged {self.notifications:,} notifications and {self.attempts:,} attempts "
            f"dated before {self.cutoff} in {self.elapsed_seconds:.1f}s "
            f"({self.batches} batches, longest {self.longest_batch_seconds:.2f}s)"
            + ("" if self.complete else INCOMPLETE_NOTE)
        )


def purge_cutoff(*, older_than_days: int, today: datetime.date | None = None) -> datetime.date:
    """The first date kept: rows dated before it are old enough to purge."""
    return (today or timezone.localdate()) - datetime.timedelta(days=older_than_days)


def notifications_purgeable(*, cutoff: datetime.date) -> QuerySet[DailyNotification]:
    """Final rows dated before ``cutoff``, unordered (read through the (date, status) index)."""
    return DailyNotification.objects.filter(
        date__lt=cutoff, status__in=DailyNotification.FINAL_STATUSES
    ).order_by()


def notifications_purge(
    *,
    older_than_days: int,
    today: datetime.date | None = None,
    batch_size: int = PURGE_BATCH_SIZE,
    max_seconds: float | None = None,
    on_progress: ProgressCallback | None = None,
    workers: int = PURGE_WORKERS,
) -> PurgeSummary:
    """Delete final rows dated more than ``older_than_days`` before ``today``, with their attempts.

    One transaction per at most ``batch_size`` rows of one date, oldest first (fewer
    while transactions run slower than ``PURGE_TARGET_SECONDS``); with ``max_seconds``
    no batch is started once that many seconds have passed (``complete`` says whether
    everything went). On PostgreSQL, outside a transaction, ``workers`` connections
    purge side by side. Safe to run while delivery runs and to run twice at once.
    """
    started = time.monotonic()
    cutoff = purge_cutoff(older_than_days=older_than_days, today=today)
    total = notifications_purgeable(cutoff=cutoff).count() if on_progress else None
    tally = _PurgeTally(total=total, on_progress=on_progress)
    if on_progress:
        on_progress(0, total)
    deadline = started + max_seconds if max_seconds is not None else None
    # Another connection could not see rows the caller's open transaction wrote.
    if workers > 1 and connection.vendor == "postgresql" and not connection.in_atomic_block:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            running = [
                pool.submit(
                    _purge_in_thread, cutoff=cutoff, most=batch_size, deadline=deadline, tally=tally
                )
                for _ in range(workers)
            ]
            for worker in running:
                worker.result()
    else:
        _purge_dates(cutoff=cutoff, most=batch_size, deadline=deadline, tally=tally)
    summary = PurgeSummary(
        cutoff=cutoff,
        notifications=tally.notifications,
        attempts=tally.attempts,
        batches=tally.batches,
        elapsed_seconds=time.monotonic() - started,
        longest_batch_seconds=tally.longest,
        complete=tally.complete,
    )
    log_action(
        logger,
        "pipeline.outbox_purged",
        cutoff=cutoff.isoformat(),
        notifications=summary.notifications,
        attempts=summary.attempts,
        batches=summary.batches,
        seconds=f"{summary.elapsed_seconds:.1f}",
        complete=summary.complete,
    )
    return summary


@dataclass(kw_only=True)
class _PurgeTally:
    """What the workers of one purge have done so far, added to under a lock."""

    total: int | None
    on_progress: ProgressCallback | None
    notifications: int = 0
    attempts: int = 0
    batches: int = 0
    longest: float = 0.0
    complete: bool = True
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, *, rows: int, attempts: int, took: float) -> None:
        with self.lock:
            self.notifications += rows
            self.attempts += attempts
            self.batches += 1
            self.longest = max(self.longest, took)
            if self.on_progress:
                self.on_progress(self.notifications, self.total)


def _purge_in_thread(**options) -> None:
    try:
        _purge_dates(**options)
    finally:
        connection.close()  # this thread's own


def _purge_dates(
    *, cutoff: datetime.date, most: int, deadline: float | None, tally: _PurgeTally
) -> None:
    """Purge batch after batch, date by date, until nothing is left or the deadline passed."""
    size = min(most, PURGE_FIRST_BATCH_SIZE)
    day = _next_purgeable_date(cutoff=cutoff, after=None)
    while day is not None:
        if deadline is not None and time.monotonic() >= deadline:
            tally.complete = False
            return
        batch_started = time.monotonic()
        rows, row_attempts = _batch_purge(cutoff=cutoff, day=day, batch_size=size)
        if rows < size:
            # The date is done, but for rows another transaction holds: theirs, or the next run's.
            day = _next_purgeable_date(cutoff=cutoff, after=day)
        if not rows:
            continue
        took = time.monotonic() - batch_started
        size = next_batch_size(size=size, took=took, most=most)
        tally.add(rows=rows, attempts=row_attempts, took=took)


def next_batch_size(*, size: int, took: float, most: int) -> int:
    """The size of the next batch after one of ``size`` rows took ``took`` seconds.

    Scaled toward ``PURGE_TARGET_SECONDS`` (at most doubling at a time), within
    ``PURGE_MIN_BATCH_SIZE`` (or ``most`` when smaller) and ``most``.
    """
    scale = min(2.0, PURGE_TARGET_SECONDS / took) if took > 0 else 2.0
    return max(min(most, PURGE_MIN_BATCH_SIZE), min(most, int(size * scale)))


def _next_purgeable_date(
    *, cutoff: datetime.date, after: datetime.date | None
) -> datetime.date | None:
    """The oldest date after ``after`` with a purgeable row (one probe of the index), or None."""
    queryset = notifications_purgeable(cutoff=cutoff)
    if after is not None:
        queryset = queryset.filter(date__gt=after)
    return queryset.aggregate(first=Min("date"))["first"]


@transaction.atomic
def _batch_purge(*, cutoff: datetime.date, day: datetime.date, batch_size: int) -> tuple[int, int]:
    """One transaction: up to ``batch_size`` purgeable rows of ``day`` and their attempts."""
    commit_without_flush(connection=connection)
    return rows_delete_with_dependants(
        queryset=notifications_purgeable(cutoff=cutoff).filter(date=day),
        limit=batch_size,
        dependants=[(DeliveryAttempt, DeliveryAttempt._meta.get_field("notification").column)],
    )


def notifications_purge_scheduled() -> str:
    """The daily schedule's purge at ``OUTBOX_RETENTION_DAYS``, bounded in time; its summary line."""
    return notifications_purge(
        older_than_days=settings.OUTBOX_RETENTION_DAYS, max_seconds=PURGE_MAX_SECONDS
    ).line
