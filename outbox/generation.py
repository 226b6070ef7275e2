"""Generation: write the DailyNotification rows that are due and missing, once per user and date.

A run plans first (``outbox.planning``): the (zone, send time) groups and each
group's window, computed once per group. Then it walks each group's users by
keyset, a chunk at a time (``outbox.group_walk``; memory stays flat however many
there are): one query a chunk tells who already has the window's row, one more
reads the profiles of the others with yesterday's category (for the rotation), so
a re-run asks the model nothing. The users to write for are queued across groups
and written a chunk at a time: one call of the generator and one bulk insert
(``outbox.rows``; the unique constraint keeps the first row when another run got
there too), which on PostgreSQL runs on a thread of its own while the next chunk
is read and written. Each row carries its window: ``date`` (the user's local date),
``send_at`` and ``expires_at``.

Nobody misses a day when the model is down: a user the model could not serve (the
text came back as fallback) keeps that offline text only once their ``send_at`` is
within ``OPENAI_FALLBACK_MINUTES`` (or past); the others get no row and are left
for the next run, which asks again. Once the generator reports an outage (its
breaker opened, or it refused the run outright) nothing more is asked of it:
users at their deadline get offline text directly, the others are counted as left.

A run can be bounded in time (``max_seconds``) so a scheduled task ends before its
worker's timeout and leaves the rest to the next.
"""

from __future__ import annotations

import datetime
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

from django.conf import settings
from django.utils import timezone

from core.logs import log_action
from core.progress import ProgressCallback
from outbox.batches import batches_open_exist, users_in_open_batches
from outbox.categories import category_for
from outbox.generators.base import (
    FALLBACK_GENERATED_BY,
    GeneratedText,
    GeneratorUnavailable,
    NotificationGenerator,
    WriteRequest,
)
from outbox.generators.offline import OfflineGenerator
from outbox.group_walk import WalkedUser, profiles_after, users_after, users_without_a_row
from outbox.planning import GenerationPlan, PlannedWindow, SendGroup, generation_plan
from outbox.rows import BackgroundInserts, InsertDone, NewRow, new_ids
from outbox.window import Window

logger = logging.getLogger(__name__)

CHUNK_SIZE = 2000
PROGRESS_INTERVAL_SECONDS = 0.2


@dataclass(frozen=True, slots=True)
class GenerationSummary:
    """What a run did: rows it inserted, users that already had one, inserted rows that fell back.

    ``complete`` is False when the run stopped at its time limit with users left to
    do. ``left`` counts users in scope the model could not serve, not yet at their
    fallback deadline: no row, the next run asks again (``outage`` says why).
    ``disabled`` users get nothing; ``closed`` ones (``--date`` only) had their window
    close already; ``muted`` ones muted every category; ``unknown_zone`` ones have a
    timezone no zone file knows; ``in_batch`` ones have a request in an open Batch API
    batch and are left to it until their fallback deadline.
    """

    created: int
    existing: int
    fallback: int
    elapsed_seconds: float
    complete: bool
    disabled: int = 0
    closed: int = 0
    left: int = 0
    muted: int = 0
    unknown_zone: int = 0
    in_batch: int = 0
    outage: str | None = None
    # What the model's answers cost, inserted or not (the tokens are spent either way).
    prompt_tokens: int = 0
    completion_tokens: int = 0


def notifications_generate(
    *,
    generator: NotificationGenerator,
    concurrency: int,
    date: datetime.date | None = None,
    now: datetime.datetime | None = None,
    limit: int | None = None,
    on_progress: ProgressCallback | None = None,
    chunk_size: int = CHUNK_SIZE,
    max_seconds: float | None = None,
) -> GenerationSummary:
    """Write the missing notifications in scope at ``now`` (default: the clock) for the first ``limit``.

    In scope without ``date``: each enabled user's local today and tomorrow whose
    window opens within ``NOTIFICATIONS_GENERATE_AHEAD_HOURS`` and is still open.
    With ``date``: that local date for every enabled user whose window for it has
    not closed. Safe to re-run and to run twice at once: each user ends with at most
    one row per date. ``on_progress(done, total)`` is called as users are processed.
    With ``max_seconds``, no chunk is started once that many seconds have passed and
    the run has asked the generator for something (so every run makes progress).
    ``now`` is for simulations and tests: it fixes the plan, the fallback deadline
    and the rows' ``created_at``.
    """
    run = _Run(
        generator=generator,
        concurrency=concurrency,
        clock=(lambda: now) if now is not None else timezone.now,
        limit=limit,
        on_progress=on_progress,
        chunk_size=chunk_size,
        max_seconds=max_seconds,
    )
    plan = generation_plan(now=run.clock(), date=date)
    summary = run.plan_generate(plan)
    log_action(
        logger,
        "outbox.generation_done",
        date=date.isoformat() if date else "horizon",
        generator=generator.name,
        created=summary.created,
        existing=summary.existing,
        fallback=summary.fallback,
        disabled=summary.disabled,
        closed=summary.closed,
        left=summary.left,
        in_batch=summary.in_batch,
        seconds=f"{summary.elapsed_seconds:.1f}",
        complete=summary.complete,
        prompt_tokens=summary.prompt_tokens,
        completion_tokens=summary.completion_tokens,
    )
    return summary


class _Queued(NamedTuple):
    """A user to write for: the request, its window, and whether fallback text may be kept."""

    request: WriteRequest
    window: Window
    at_deadline: bool


class _Run:
    """One run's walk over its plan, and its counts.

    Users to write for are queued across groups and written a chunk at a time (one
    call of the generator, one insert), so a thousand small groups cost a thousand
    reads but not a thousand inserts and transactions.
    """

    def __init__(
        self,
        *,
        generator: NotificationGenerator,
        concurrency: int,
        clock: Callable[[], datetime.datetime],
        limit: int | None,
        on_progress: ProgressCallback | None,
        chunk_size: int,
        max_seconds: float | None,
    ) -> None:
        self.generator = generator
        self.concurrency = concurrency
        self.clock = clock
        self.limit = limit
        self.on_progress = on_progress
        self.chunk_size = chunk_size
        self.started = time.monotonic()
        self.deadline = None if max_seconds is None else self.started + max_seconds
        self.fallback_minutes = datetime.timedelta(minutes=settings.OPENAI_FALLBACK_MINUTES)
        self.fallback_writer = OfflineGenerator(generated_by=FALLBACK_GENERATED_BY)
        self.outage: str | None = None
        self.queue: list[_Queued] = []
        self.inserts = BackgroundInserts()
        self.created = self.existing = self.fallback = self.left = self.muted = 0
        self.in_batch = 0
        self.batches_open = False
        # What the model's answers cost, inserted or not (the tokens are spent either way).
        self.prompt_tokens = self.completion_tokens = 0
        # Users read, users read but not yet written (queued or being written), text asked for.
        self.walked = self.unwritten = self.asked = self.total = 0
        self.last_report = 0.0

    def plan_generate(self, plan: GenerationPlan) -> GenerationSummary:
        self.total = plan.users if self.limit is None else min(plan.users, self.limit)
        # Checked once a run with users in scope: without an open batch (the usual
        # case) no chunk asks.
        self.batches_open = bool(plan.windows) and batches_open_exist()
        self._progress(force=True)
        complete = True
        try:
            for planned in plan.windows:
                if not self._window_walk(planned):
                    complete = False
                    break
                if self.limit is not None and self.walked >= self.limit:
                    break
            self._flush()
            self._inserted(self.inserts.wait())
        finally:
            self.inserts.close()
        self._progress(force=True)
        return GenerationSummary(
            created=self.created,
            existing=self.existing,
            fallback=self.fallback,
            elapsed_seconds=time.monotonic() - self.started,
            complete=complete,
            disabled=plan.disabled,
            closed=plan.closed,
            left=self.left,
            muted=self.muted,
            unknown_zone=plan.unknown_zone,
            in_batch=self.in_batch,
            outage=self.outage or (self.left and "the model could not serve them") or None,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
        )

    def _window_walk(self, planned: PlannedWindow) -> bool:
        """Walk one group's users for one window; False if the time bound stopped the run."""
        group, window = planned.group, planned.window
        last_pk: str | None = None
        # After a chunk where nobody had the window's row (the day's first run), the
        # next is read with its profiles at once: one query a chunk, not two.
        profiles_first = False
        while self.limit is None or self.walked < self.limit:
            count = self.chunk_size
            if self.limit is not None:
                count = min(count, self.limit - self.walked)
            users: list[WalkedUser] | None = None
            if profiles_first:
                read, upto, users = profiles_after(
                    group=group, date=window.date, after=last_pk, count=count
                )
                missing = len(users)
            else:
                chunk = users_after(group=group, date=window.date, after=last_pk, count=count)
                read, upto = len(chunk), chunk[-1][0] if chunk else None
                missing = sum(1 for _, has_row in chunk if not has_row)
            if not read:
                return True
            # Only once this run has text to write or written: users who already have a
            # row cost a query a chunk, so a continuation always gets past them to new
            # work. Checked once the next chunk is known to exist, so "complete" is exact.
            if (
                self.deadline is not None
                and (self.asked or self.queue)
                and time.monotonic() >= self.deadline
            ):
                return False
            self.existing += read - missing
            self.walked += read
            if missing:
                self._missing_queue(
                    group=group,
                    window=window,
                    after=last_pk,
                    upto=upto,
                    missing=missing,
                    users=users,
                )
            if len(self.queue) >= self.chunk_size:
                self._flush()
            self._progress()
            if read < count:
                return True  # the group's last chunk: no need to ask for an empty one
            last_pk = upto
            # In an outage only users at their deadline are read: the keys come first.
            profiles_first = missing == read and self.outage is None
        return True

    def _missing_queue(
        self,
        *,
        group: SendGroup,
        window: Window,
        after: str | None,
        upto: str,
        missing: int,
        users: list[WalkedUser] | None,
    ) -> None:
        """Queue the users of the chunk (``after``, ``upto``] still without a row (``missing`` were).

        ``users`` are those users when the chunk was read with its profiles.
        """
        at_deadline = window.send_at <= self.clock() + self.fallback_minutes
        if self.outage is not None and not at_deadline:
            # Nothing to ask and nothing to write yet: no need to read their profiles.
            self.left += missing
            return
        if users is None:
            users = users_without_a_row(group=group, date=window.date, after=after, upto=upto)
            # Users who got a row from another run since the chunk was read.
            self.existing += missing - len(users)
        if self.batches_open and not at_deadline and users:
            batched = users_in_open_batches(
                date=window.date, user_ids=[user.profile.user_id for user in users]
            )
            self.in_batch += len(batched)
            users = [user for user in users if user.profile.user_id not in batched]
        for user, muted, yesterday in users:
            category = category_for(
                rotation_slot=user.rotation_slot, date=window.date, muted=muted, yesterday=yesterday
            )
            if category is None:
                self.muted += 1
                continue
            # By position, as generation's values are (see ``UserProfile``).
            request = WriteRequest(user, category, window.date)
            self.queue.append(_Queued(request, window, at_deadline))
            self.unwritten += 1

    def _flush(self) -> None:
        """Write the queued users' text and insert their rows: one call of the generator, one insert.

        The insert runs in the background where it can (``BackgroundInserts``): the
        next chunk is read and its text written while the database works on this one.
        """
        queue, self.queue = self.queue, []
        # No text is asked for (or paid) after the chunk before failed to go in.
        self.inserts.check()
        rows = self._rows_written(queue)
        if rows:
            self._inserted(self.inserts.insert(rows=rows, written_at=self.clock()))

    def _rows_written(self, queue: list[_Queued]) -> list[NewRow]:
        """The rows of the queued users whose text may be kept, their text written."""
        if not queue:
            return []
        queued = {id(item.request): item for item in queue}
        rows: list[NewRow] = []
        ids = iter(new_ids(len(queue)))
        for request, text in self._texts([item.request for item in queue]):
            item = queued[id(request)]
            self.prompt_tokens += text.prompt_tokens or 0
            self.completion_tokens += text.completion_tokens or 0
            if text.generated_by == FALLBACK_GENERATED_BY and not item.at_deadline:
                self.left += 1  # the model could not serve them; there is time to ask again
            else:
                rows.append(_new_row(request, text, item.window, next(ids)))
            self.unwritten -= 1
            self._progress()
        if self.outage is None:
            self.outage = self.generator.outage()
        return rows

    def _inserted(self, done: InsertDone | None) -> None:
        """Count a finished insert."""
        if done is None:
            return
        self.created += len(done.inserted)
        self.fallback += sum(
            1 for row in done.inserted if row.generated_by == FALLBACK_GENERATED_BY
        )
        # Rows another run inserted between the read and the insert.
        self.existing += len(done.rows) - len(done.inserted)

    def _texts(self, requests: list[WriteRequest]) -> Iterator[tuple[WriteRequest, GeneratedText]]:
        """Each request with its text: from the generator, or offline once it is out of service.

        When the generator refuses the run (``GeneratorUnavailable``), the requests it
        had not answered get offline fallback text: generation keeps it for users at
        their deadline only, like any fallback.
        """
        self.asked += len(requests)
        if self.outage is not None:
            yield from self.fallback_writer.write_many(requests=requests)
            return
        answered: set[int] = set()
        try:
            for request, text in self.generator.write_many(
                requests=requests, concurrency=self.concurrency
            ):
                answered.add(id(request))
                yield request, text
        except GeneratorUnavailable as error:
            self.outage = str(error)
            log_action(logger, "outbox.generation_unavailable", self.outage, level=logging.ERROR)
            rest = [request for request in requests if id(request) not in answered]
            yield from self.fallback_writer.write_many(requests=rest)

    def _progress(self, *, force: bool = False) -> None:
        if not self.on_progress:
            return
        now = time.monotonic()
        if force or now - self.last_report >= PROGRESS_INTERVAL_SECONDS:
            self.last_report = now
            self.on_progress(min(self.walked - self.unwritten, self.total), self.total)


def _new_row(request: WriteRequest, text: GeneratedText, window: Window, id: str) -> NewRow:
    # By position, as generation's values are (see ``UserProfile``).
    return NewRow(
        window,
        id,
        request.user.user_id,
        request.category,
        text.title,
        text.body,
        text.generated_by,
        text.prompt_tokens,
        text.completion_tokens,
    )
