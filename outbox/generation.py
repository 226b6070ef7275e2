"""Generation for a date: write the DailyNotification rows that are missing, once per user.

Users are read in primary-key order, a chunk at a time (keyset pagination, so
memory stays flat however many users there are). For each chunk one query finds
who already has a row for the date; only the others are written, so a re-run
asks the model nothing. Rows go in with ``bulk_create(ignore_conflicts=True)``:
if another run inserted a user's row meanwhile, the unique constraint keeps the
first and this run counts that user as existing, not created.
"""

from __future__ import annotations

import datetime
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from accounts.models import User
from outbox.categories import category_for
from outbox.generators.base import FALLBACK_GENERATED_BY, NotificationGenerator, WriteRequest
from outbox.models import DailyNotification

logger = logging.getLogger(__name__)

CHUNK_SIZE = 1000
PROGRESS_INTERVAL_SECONDS = 0.2

ProgressCallback = Callable[[int, int | None], None]


@dataclass(frozen=True, slots=True)
class GenerationSummary:
    """What a run did: rows it inserted, users that already had one, inserted rows that fell back."""

    created: int
    existing: int
    fallback: int
    elapsed_seconds: float


def notifications_generate(
    *,
    date: datetime.date,
    generator: NotificationGenerator,
    concurrency: int,
    limit: int | None = None,
    on_progress: ProgressCallback | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> GenerationSummary:
    """Write the missing notifications of ``date`` for the first ``limit`` users (all by default).

    Safe to re-run and to run twice at once: each user ends with exactly one row.
    ``on_progress(done, total)`` is called as users are processed.
    """
    started = time.monotonic()
    total = User.objects.count()
    if limit is not None:
        total = min(total, limit)
    created = existing = fallback = done = 0
    last_pk: str | None = None
    last_report = 0.0
    if on_progress:
        on_progress(0, total)
    while done < total:
        users = User.objects.order_by("pk")
        if last_pk is not None:
            users = users.filter(pk__gt=last_pk)
        chunk = list(users[: min(chunk_size, total - done)])
        if not chunk:
            break  # users were deleted since counting
        last_pk = chunk[-1].pk
        have_row = set(
            DailyNotification.objects.filter(
                date=date, user_id__in=[user.pk for user in chunk]
            ).values_list("user_id", flat=True)
        )
        requests = [
            WriteRequest(user=user, category=category_for(user_id=user.pk, date=date), date=date)
            for user in chunk
            if user.pk not in have_row
        ]
        rows = []
        for request, text in generator.write_many(requests=requests, concurrency=concurrency):
            rows.append(
                DailyNotification(
                    user=request.user,
                    date=date,
                    category=request.category,
                    title=text.title,
                    body=text.body,
                    generated_by=text.generated_by,
                )
            )
            now = time.monotonic()
            if on_progress and now - last_report >= PROGRESS_INTERVAL_SECONDS:
                last_report = now
                on_progress(done + len(have_row) + len(rows), total)
        inserted = _rows_insert(rows)
        created += len(inserted)
        fallback += sum(
            1 for row in rows if row.id in inserted and row.generated_by == FALLBACK_GENERATED_BY
        )
        existing += len(chunk) - len(inserted)
        done += len(chunk)
        if on_progress:
            on_progress(done, total)
    summary = GenerationSummary(
        created=created,
        existing=existing,
        fallback=fallback,
        elapsed_seconds=time.monotonic() - started,
    )
    logger.info(
        "action=notifications_generate date=%s generator=%s created=%d existing=%d fallback=%d seconds=%.1f",
        date,
        generator.name,
        summary.created,
        summary.existing,
        summary.fallback,
        summary.elapsed_seconds,
        extra={
            "action": "notifications_generate",
            "date": date.isoformat(),
            "generator": generator.name,
            # Not "created": LogRecord has an attribute of that name.
            "rows_created": summary.created,
            "users_existing": summary.existing,
            "rows_fallback": summary.fallback,
        },
    )
    return summary


def _rows_insert(rows: list[DailyNotification]) -> set:
    """Insert ``rows``, skipping users who have a row by now; the ids of the rows that went in.

    Ids are made here, not by the database, so the rows that survived the conflict
    check are exactly those whose id is in the table afterwards.
    """
    if not rows:
        return set()
    DailyNotification.objects.bulk_create(rows, ignore_conflicts=True)
    return set(
        DailyNotification.objects.filter(id__in=[row.id for row in rows]).values_list(
            "id", flat=True
        )
    )
