"""Generation for a date: write the DailyNotification rows that are missing, once per user.

Users are read a chunk at a time in key order (keyset pagination: memory stays flat
however many there are); one query a chunk finds who already has a row, and only
the others are written, so a re-run asks the model nothing. Rows go in with one
``INSERT ... ON CONFLICT DO NOTHING`` a chunk, sent directly rather than through
``bulk_create``, which prepares every value through the ORM and dominated the run's
time (``bench/generate.py`` measures it): the unique constraint keeps the first row
when another run got there too. A run can be bounded in time (``max_seconds``) so
a scheduled task ends before its worker's timeout and leaves the rest to the next.
"""

from __future__ import annotations

import datetime
import logging
import time
import uuid
from dataclasses import dataclass

from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from accounts.models import User
from core.db import (
    commit_without_flush,
    copy_supported,
    insert_ignore_sql,
    rows_insert_ignore_copy,
)
from core.logs import log_action
from core.progress import ProgressCallback
from outbox.categories import category_for
from outbox.generators.base import FALLBACK_GENERATED_BY, NotificationGenerator, WriteRequest
from outbox.generators.profile import PROFILE_FIELDS, UserProfile
from outbox.models import DailyNotification

logger = logging.getLogger(__name__)

CHUNK_SIZE = 2000
PROGRESS_INTERVAL_SECONDS = 0.2


@dataclass(frozen=True, slots=True)
class GenerationSummary:
    """What a run did: rows it inserted, users that already had one, inserted rows that fell back.

    ``complete`` is False when the run stopped at its time limit with users left to do.
    """

    created: int
    existing: int
    fallback: int
    elapsed_seconds: float
    complete: bool
    # What the model's answers cost, inserted or not (the tokens are spent either way).
    prompt_tokens: int = 0
    completion_tokens: int = 0


def notifications_generate(
    *,
    date: datetime.date,
    generator: NotificationGenerator,
    concurrency: int,
    limit: int | None = None,
    on_progress: ProgressCallback | None = None,
    chunk_size: int = CHUNK_SIZE,
    max_seconds: float | None = None,
) -> GenerationSummary:
    """Write the missing notifications of ``date`` for the first ``limit`` users (all by default).

    Safe to re-run and to run twice at once: each user ends with exactly one row.
    ``on_progress(done, total)`` is called as users are processed. With
    ``max_seconds``, no chunk is started once that many seconds have passed and
    the run has asked the generator for something (so every run makes progress);
    the summary's ``complete`` says whether every user was reached.
    """
    started = time.monotonic()
    deadline = None if max_seconds is None else started + max_seconds
    total = User.objects.count()
    if limit is not None:
        total = min(total, limit)
    created = existing = fallback = done = asked = 0
    prompt_tokens = completion_tokens = 0
    last_pk: str | None = None
    last_report = 0.0
    complete = True
    if on_progress:
        on_progress(0, total)
    while done < total:
        # Only once this run has written text: users who already have a row cost
        # a query a chunk, so a continuation always gets past them to new work.
        if deadline is not None and asked and time.monotonic() >= deadline:
            complete = False
            break
        chunk = _users_after(after=last_pk, count=min(chunk_size, total - done))
        if not chunk:
            break  # users were deleted since counting
        have_row = _users_with_a_row(date=date, after=last_pk, upto=chunk[-1].user_id)
        last_pk = chunk[-1].user_id
        requests = [
            WriteRequest(
                user=user,
                category=category_for(rotation_slot=user.rotation_slot, date=date),
                date=date,
            )
            for user in chunk
            if user.user_id not in have_row
        ]
        asked += len(requests)
        rows: list[NewRow] = []
        for request, text in generator.write_many(requests=requests, concurrency=concurrency):
            rows.append(
                NewRow(
                    id=uuid.uuid4(),
                    user_id=request.user.user_id,
                    category=request.category,
                    title=text.title,
                    body=text.body,
                    generated_by=text.generated_by,
                    prompt_tokens=text.prompt_tokens,
                    completion_tokens=text.completion_tokens,
                )
            )
            prompt_tokens += text.prompt_tokens or 0
            completion_tokens += text.completion_tokens or 0
            now = time.monotonic()
            if on_progress and now - last_report >= PROGRESS_INTERVAL_SECONDS:
                last_report = now
                on_progress(done + len(chunk) - len(requests) + len(rows), total)
        inserted = _rows_insert(rows=rows, date=date)
        created += len(inserted)
        fallback += sum(1 for row in inserted if row.generated_by == FALLBACK_GENERATED_BY)
        existing += len(chunk) - len(inserted)
        done += len(chunk)
        if on_progress:
            on_progress(done, total)
    summary = GenerationSummary(
        created=created,
        existing=existing,
        fallback=fallback,
        elapsed_seconds=time.monotonic() - started,
        complete=complete,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
    )
    log_action(
        logger,
        "outbox.generation_done",
        date=date.isoformat(),
        generator=generator.name,
        created=summary.created,
        existing=summary.existing,
        fallback=summary.fallback,
        seconds=f"{summary.elapsed_seconds:.1f}",
        complete=summary.complete,
        prompt_tokens=summary.prompt_tokens,
        completion_tokens=summary.completion_tokens,
    )
    return summary


@dataclass(frozen=True, slots=True)
class NewRow:
    """The per-user values of a notification about to be inserted; the rest are model defaults."""

    id: uuid.UUID
    user_id: str
    category: str
    title: str
    body: str
    generated_by: str
    # The model's usage for this text; None for offline text.
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


def _users_after(*, after: str | None, count: int) -> list[UserProfile]:
    """The profiles of the next ``count`` users in key order after ``after`` (keyset pagination)."""
    users = User.objects.order_by("pk")
    if after is not None:
        users = users.filter(pk__gt=after)
    return [UserProfile(*values) for values in users.values_list(*PROFILE_FIELDS)[:count]]


def _users_with_a_row(*, date: datetime.date, after: str | None, upto: str) -> set[str]:
    """Users with a key in (``after``, ``upto``] who have a notification for ``date``.

    The keys are given as a subquery rather than a list of a chunk's thousands of
    keys: the database probes the unique (user, date) index once per user, and
    nothing is prepared per key in Python.
    """
    users = User.objects.filter(pk__lte=upto)
    if after is not None:
        users = users.filter(pk__gt=after)
    # No ordering: the model's default one would make the database sort for nothing.
    rows = DailyNotification.objects.filter(date=date, user__in=users.values("pk")).order_by()
    return set(rows.values_list("user_id", flat=True))


def _rows_insert(*, rows: list[NewRow], date: datetime.date) -> list[NewRow]:
    """Insert ``rows`` for ``date`` in one statement, skipping users who have a row by now.

    Returns the rows that went in. Usually that is all of them, which the row count
    says; when another run got some users first, the rows that went in are those
    whose id (made here, not by the database) is in the table.
    """
    if not rows:
        return []
    # The connection itself, not the thread-local proxy: it is consulted for every value.
    connection = connections[DEFAULT_DB_ALIAS]
    meta = DailyNotification._meta
    fields = meta.concrete_fields
    column = {field.attname: index for index, field in enumerate(fields)}
    now = timezone.now()
    # One template row gives every column its model default, prepared once per chunk.
    template = DailyNotification(date=date, created_at=now, updated_at=now)
    defaults = [
        field.get_db_prep_save(getattr(template, field.attname), connection) for field in fields
    ]
    params = []
    for row in rows:
        values = defaults.copy()
        values[column["id"]] = meta.pk.get_db_prep_save(row.id, connection)
        values[column["user_id"]] = row.user_id
        values[column["category"]] = row.category
        values[column["title"]] = row.title
        values[column["body"]] = row.body
        values[column["generated_by"]] = row.generated_by
        values[column["prompt_tokens"]] = row.prompt_tokens
        values[column["completion_tokens"]] = row.completion_tokens
        params.append(values)
    if copy_supported(connection):
        return _rows_insert_copy(rows=rows, params=params, connection=connection)
    insert = insert_ignore_sql(
        connection=connection, table=meta.db_table, columns=[field.column for field in fields]
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(insert, params)
        inserted_count = cursor.rowcount
    if inserted_count == len(rows):
        return rows
    ours = set(
        DailyNotification.objects.filter(id__in=[row.id for row in rows])
        .order_by()
        .values_list("id", flat=True)
    )
    return [row for row in rows if row.id in ours]


def _rows_insert_copy(
    *, rows: list[NewRow], params: list[list], connection: BaseDatabaseWrapper
) -> list[NewRow]:
    """The PostgreSQL path of ``_rows_insert``: the rows go in by ``COPY``.

    ``params`` holds every column's value of each row, in the model's field order.
    First straight into the table (in a savepoint: all or nothing); when another run
    got some users first, into a temporary table instead and from there in one
    insert that skips conflicts and returns the ids that went in. The commit does
    not wait for the disk (see below), which is most of a chunk's time on a busy one.
    """
    meta = DailyNotification._meta
    columns = [field.column for field in meta.concrete_fields]
    with transaction.atomic():
        # A chunk lost in a crash is written again by the next run, and a delivery claim
        # (which commits normally) makes it durable first: the commit need not wait.
        commit_without_flush(connection=connection)
        # Usually no user of the chunk has a row by now (they were checked before
        # writing): then the rows go straight into the table, and that is all.
        inserted = rows_insert_ignore_copy(
            connection=connection,
            table=meta.db_table,
            columns=columns,
            rows=params,
            key=meta.pk.column,
        )
    if inserted is None:
        return rows
    inserted = set(inserted)
    return [row for row in rows if row.id in inserted]
