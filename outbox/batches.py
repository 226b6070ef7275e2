"""Generation through the OpenAI Batch API: next-day rows written a day ahead, at the batch price.

Every generate run calls ``batches_run`` before its normal path. It takes an advisory
lock (two runs at once: the second leaves the batch step to the first), then:

* **Polls** each open batch. A finished one (completed, expired, failed, cancelled)
  has its output and error files streamed line by line; each answer is validated like
  a synchronous one and the usable ones become rows in bulk, conflicts ignored (the
  unique (user, date) stays the guarantee against two rows). Then the batch closes:
  whoever of its users got no row is served by the normal path, synchronously while
  their send time allows and offline at the deadline (never by another batch).
* **Submits** (``openai-batch`` only) the users whose window for a date opens more
  than ``BATCH_AHEAD`` from now (a batch may take its whole 24 h window) and at most
  ``BATCH_HORIZON``, found per (zone, send time) group with ``outbox.window``. Each
  user gets a ``GenerationBatchRequest`` row before its request line is written; the
  row is unique per (user, date) and kept after the batch closes (until the date is
  past), so nobody is in two batches for a date and a re-run while a batch is in
  flight finds nobody to add. Lines go to a file on disk, split at the API's limits
  (requests, bytes); each full file is uploaded and its batch created.

Memory stays flat however many users: users are read a chunk at a time, requests
are written to disk, answers are read a line at a time.
"""

from __future__ import annotations

import datetime
import logging
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import F, Sum
from django.utils import timezone

from accounts.models import User
from core.db import (
    advisory_lock,
    commit_without_flush,
    copy_supported,
    insert_ignore_sql,
    one_of,
    rows_delete_with_dependants,
    rows_insert_ignore_copy,
)
from core.logs import log_action
from outbox.categories import CATEGORIES, category_for
from outbox.generators.base import GeneratorUnavailable
from outbox.generators.batch import (
    BATCH_MAX_BYTES,
    BATCH_MAX_REQUESTS,
    BatchAnswer,
    BatchApi,
    BatchApiError,
    BatchNotFound,
    MalformedLine,
    RemoteBatch,
    answer_parse,
    request_line,
)
from outbox.generators.profile import PROFILE_FIELDS, UserProfile
from outbox.models import DailyNotification, GenerationBatch, GenerationBatchRequest
from outbox.rows import BackgroundInserts, NewRow, new_ids
from outbox.window import Window, window_for, zone_for

logger = logging.getLogger(__name__)

Status = GenerationBatch.Status

# A batch may take its whole completion window: only windows opening later than this
# are worth one. And only the next one: a window further ahead waits for a later run.
BATCH_AHEAD = datetime.timedelta(hours=24)
BATCH_HORIZON = datetime.timedelta(hours=48)
# Users read, request lines written and answers taken in this many at a time.
CHUNK_SIZE = 2000
# A batch still preparing after this long belongs to a run that died: its users go back.
PREPARING_STALE = datetime.timedelta(minutes=10)
# How far the API's clock may be behind ours when it dates a batch we created.
REMOTE_CLOCK_SKEW = datetime.timedelta(hours=1)
# Request rows of closed batches are kept while their date may still be written, then
# deleted, at most this many a run (they only grow by a day's requests a day).
REQUESTS_PRUNE_AFTER = datetime.timedelta(days=2)
REQUESTS_PRUNE_LIMIT = 100_000
LOCK_NAME = "outbox.generation_batches"


@dataclass(frozen=True, kw_only=True)
class BatchStepSummary:
    """What one run's batch step did; ``busy`` when another run held the step."""

    submitted_batches: int = 0
    submitted_requests: int = 0
    closed_batches: int = 0
    answered: int = 0
    returned: int = 0
    in_flight: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    busy: bool = False

    @property
    def line(self) -> str:
        """The batch part of the generate summary line."""
        if self.busy:
            return "batch: another run is polling and submitting"
        parts = [
            f"submitted {self.submitted_requests:,} requests in {self.submitted_batches} batches",
            f"{self.in_flight:,} in flight",
            f"wrote {self.answered:,}",
            f"returned {self.returned:,}",
        ]
        if self.prompt_tokens or self.completion_tokens:
            parts.append(f"tokens {self.prompt_tokens:,} in / {self.completion_tokens:,} out")
        return "batch: " + ", ".join(parts)


def batches_run(
    *, api: BatchApi, submit: bool, now: datetime.datetime | None = None, **limits: int
) -> BatchStepSummary:
    """Poll the open batches, then (with ``submit``) submit the users a day ahead.

    ``limits`` (``max_requests``, ``max_bytes``, ``chunk_size``) are for tests and
    benchmarks. ``GeneratorUnavailable`` (a refused key) propagates; any other
    failure of the API leaves the batch concerned to a later run.
    """
    now = now or timezone.now()
    with advisory_lock(connection=connections[DEFAULT_DB_ALIAS], name=LOCK_NAME) as acquired:
        if not acquired:
            log_action(logger, "outbox.batch_step_busy", "another run holds the batch step")
            return BatchStepSummary(busy=True)
        batches_stale_settle(api=api, now=now)
        batch_requests_prune(now=now)
        closed = batches_poll(api=api, chunk_size=limits.get("chunk_size", CHUNK_SIZE))
        submitted = (
            batches_submit(api=api, now=now, **limits)
            if submit
            else _Submitted(batches=0, requests=0)
        )
    return BatchStepSummary(
        submitted_batches=submitted.batches,
        submitted_requests=submitted.requests,
        closed_batches=len(closed),
        answered=sum(batch.answered_count for batch in closed),
        returned=sum(batch.returned_count for batch in closed),
        in_flight=batch_requests_in_flight(),
        prompt_tokens=sum(batch.prompt_tokens for batch in closed),
        completion_tokens=sum(batch.completion_tokens for batch in closed),
    )


# --- selectors --------------------------------------------------------------


def batch_requests_in_flight() -> int:
    """Requests in open batches: users whose text is being written by the Batch API."""
    return (
        GenerationBatch.objects.filter(closed_at__isnull=True).aggregate(
            total=Sum("request_count")
        )["total"]
        or 0
    )


def batches_open_exist() -> bool:
    """Whether any batch is open (so a run should poll even without ``openai-batch``)."""
    return GenerationBatch.objects.filter(closed_at__isnull=True).exists()


def users_in_open_batches(*, date: datetime.date, user_ids: list[str]) -> set[str]:
    """Which of these users have a request for ``date`` in a batch still open.

    Their text is on its way at the batch price: the normal path leaves them alone
    until their fallback deadline. One lookup of the unique (user, date) index.
    """
    return set(
        GenerationBatchRequest.objects.filter(
            one_of(model=GenerationBatchRequest, field="user", values=user_ids),
            date=date,
            batch__closed_at__isnull=True,
        )
        .order_by()
        .values_list("user_id", flat=True)
    )


@dataclass(frozen=True, slots=True)
class BatchGroup:
    """Users sharing a zone and a send time (as stored: empty or null for the defaults), and a window."""

    timezone: str
    send_time: datetime.time | None
    window: Window


def batch_groups_ahead(*, now: datetime.datetime) -> list[BatchGroup]:
    """Each (zone, send time) group of enabled users with the window a batch should write.

    That is a window opening more than ``BATCH_AHEAD`` and at most ``BATCH_HORIZON``
    after ``now``; computed once per group (one ``DISTINCT`` over an index), never
    per user.
    """
    stored = (
        User.objects.filter(notifications_enabled=True)
        .order_by()
        .values_list("timezone", "send_time")
        .distinct()
    )
    groups = []
    for zone_name, send_time in stored:
        zone = zone_for(zone_name or settings.TIME_ZONE)
        today = now.astimezone(zone).date()
        for offset in range(3):
            window = window_for(
                day=today + datetime.timedelta(days=offset),
                send_time=send_time or settings.NOTIFICATIONS_SEND_TIME,
                deliver_until=settings.NOTIFICATIONS_DELIVER_UNTIL,
                zone=zone,
            )
            if now + BATCH_AHEAD < window.send_at <= now + BATCH_HORIZON:
                groups.append(BatchGroup(timezone=zone_name, send_time=send_time, window=window))
    return groups


def batch_users_due(
    *, group: BatchGroup, after: str | None, count: int
) -> tuple[list[tuple[UserProfile, str]], str | None]:
    """The users needing a request among the next ``count`` of ``group`` after ``after``.

    Those with no row and no batch request for the group's date, each with the
    category the rotation gives them (their mutes respected, the day before's row
    avoided when it exists; a user who muted everything needs nothing); with the
    last key looked at (None when the group is done), to carry on from. The next
    users are read by key (one index range, however many users the group has),
    then the few already served are left out by lookups of that chunk's keys.
    """
    date = group.window.date
    users = User.objects.filter(notifications_enabled=True, timezone=group.timezone)
    if group.send_time is None:
        users = users.filter(send_time__isnull=True)
    else:
        users = users.filter(send_time=group.send_time)
    if after is not None:
        users = users.filter(pk__gt=after)
    chunk = [
        (UserProfile(*values[:-1]), values[-1] or ())
        for values in users.order_by("pk").values_list(*PROFILE_FIELDS, "muted_categories")[:count]
    ]
    if not chunk:
        return [], None
    keys = [user.user_id for user, _ in chunk]
    served = set(
        DailyNotification.objects.filter(date=date, user_id__in=keys)
        .order_by()
        .values_list("user_id", flat=True)
    )
    served.update(
        GenerationBatchRequest.objects.filter(date=date, user_id__in=keys)
        .order_by()
        .values_list("user_id", flat=True)
    )
    yesterdays = dict(
        DailyNotification.objects.filter(date=date - datetime.timedelta(days=1), user_id__in=keys)
        .order_by()
        .values_list("user_id", "category")
    )
    due = []
    for user, muted in chunk:
        if user.user_id in served:
            continue
        category = category_for(
            rotation_slot=user.rotation_slot,
            date=date,
            muted=muted,
            yesterday=yesterdays.get(user.user_id),
        )
        if category is not None:
            due.append((user, category))
    return due, keys[-1]


# --- submitting -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Submitted:
    batches: int
    requests: int


def batches_submit(
    *,
    api: BatchApi,
    now: datetime.datetime,
    max_requests: int = BATCH_MAX_REQUESTS,
    max_bytes: int = BATCH_MAX_BYTES,
    chunk_size: int = CHUNK_SIZE,
) -> _Submitted:
    """Write, upload and start batches for the users a day ahead; what was submitted.

    Call it holding the batch step's lock (``batches_run`` does).
    """
    batches = requests = 0
    current: _BatchFile | None = None
    try:
        for group in batch_groups_ahead(now=now):
            after: str | None = None
            while True:
                users, after = batch_users_due(group=group, after=after, count=chunk_size)
                if after is None:
                    break
                date = group.window.date
                lines = [
                    (
                        user.user_id,
                        request_line(model=api.model, user=user, category=category, date=date),
                    )
                    for user, category in users
                ]
                while lines:
                    if current is None:
                        current = _BatchFile.open(model=api.model)
                    taken = current.room_for(
                        [len(line) for _, line in lines], max_requests, max_bytes
                    )
                    if taken == 0 and current.count:
                        # Whatever happens to it now, ``_batch_send`` closes it.
                        sending, current = current, None
                        sent = _batch_send(sending, api)
                        batches, requests = batches + bool(sent), requests + sent
                        continue
                    if taken == 0:
                        # A request larger than a whole file: that user is left to the normal path.
                        lines = lines[1:]
                        continue
                    current.add(date=date, lines=lines[:taken])
                    lines = lines[taken:]
        if current is not None and current.count:
            sending, current = current, None
            sent = _batch_send(sending, api)
            batches, requests = batches + bool(sent), requests + sent
    finally:
        if current is not None:
            current.discard()
    return _Submitted(batches=batches, requests=requests)


class _BatchFile:
    """A batch being prepared: its row, its users' request rows and its JSONL file on disk."""

    def __init__(self, *, batch: GenerationBatch) -> None:
        self.batch = batch
        self.file = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed by send or discard
            prefix=f"generation-batch-{batch.pk}-", suffix=".jsonl", delete=False
        )
        self.path = Path(self.file.name)
        self.count = 0
        self.size = 0

    @classmethod
    def open(cls, *, model: str) -> _BatchFile:
        return cls(batch=GenerationBatch.objects.create(model=model))

    def room_for(self, sizes: list[int], max_requests: int, max_bytes: int) -> int:
        """How many of the lines (of these sizes), in order, still fit in this file."""
        count, size = self.count, self.size
        taken = 0
        for line_size in sizes:
            if count + 1 > max_requests or size + line_size > max_bytes:
                break
            count, size, taken = count + 1, size + line_size, taken + 1
        return taken

    def add(self, *, date: datetime.date, lines: list[tuple[str, bytes]]) -> None:
        """Record the users' requests, then write the lines of those this batch got.

        A user another batch holds for ``date`` (its request row exists) is left out.
        """
        user_ids = [user_id for user_id, _ in lines]
        ours = _requests_insert(batch_id=self.batch.pk, user_ids=user_ids, date=date)
        written = 0
        for user_id, line in lines:
            if ours is None or user_id in ours:
                self.file.write(line)
                self.size += len(line)
                written += 1
        self.count += written
        batch = self.batch
        batch.first_date = min(filter(None, (batch.first_date, date)))
        batch.last_date = max(filter(None, (batch.last_date, date)))
        GenerationBatch.objects.filter(pk=batch.pk).update(
            request_count=F("request_count") + written,
            first_date=batch.first_date,
            last_date=batch.last_date,
            updated_at=timezone.now(),
        )

    def discard(self) -> None:
        """Give up on this batch before it was sent: its users may go into another, its file goes."""
        self.file.close()
        self.path.unlink(missing_ok=True)
        if not self.count:
            # Nobody in it: nothing to keep a record of.
            GenerationBatch.objects.filter(pk=self.batch.pk).delete()
            return
        batch_close(
            batch=self.batch,
            status=Status.ABANDONED,
            error="not sent: the run stopped",
            forget_requests=True,
        )


def _batch_send(prepared: _BatchFile, api: BatchApi) -> int:
    """Upload the file and create its batch; the number of requests sent (0 when the API failed).

    On a failure the batch is abandoned and its users go back to the normal path.
    """
    prepared.file.close()
    batch = prepared.batch
    batch.refresh_from_db()
    try:
        batch.input_file_id = api.upload(prepared.path)
        batch.save(update_fields=["input_file_id", "updated_at"])
        remote = api.create(
            input_file_id=batch.input_file_id, metadata={"generation_batch": str(batch.pk)}
        )
    except BatchApiError as error:
        batch_close(batch=batch, status=Status.ABANDONED, error=str(error))
        _batch_warn(
            "outbox.batch_not_sent", "its users go to the normal path", batch=batch, error=error
        )
        return 0
    except GeneratorUnavailable as error:
        batch_close(batch=batch, status=Status.ABANDONED, error=str(error))
        raise
    finally:
        prepared.path.unlink(missing_ok=True)
    _batch_started(batch=batch, remote=remote)
    return batch.request_count


def _batch_started(*, batch: GenerationBatch, remote: RemoteBatch, recovered: bool = False) -> None:
    """Record that ``remote`` runs ``batch``'s requests: from now on it is polled."""
    _remote_apply(batch=batch, remote=remote)
    batch.submitted_at = timezone.now()
    batch.save()
    log_action(
        logger,
        "outbox.batch_recovered" if recovered else "outbox.batch_submitted",
        "found on the API after its run died" if recovered else "",
        batch=batch.pk,
        remote_id=batch.remote_id,
        requests=batch.request_count,
        first_date=batch.first_date,
        last_date=batch.last_date,
    )


def _batch_warn(action: str, note: str = "", *, batch: GenerationBatch, error: Exception) -> None:
    """Warn of what went wrong with one batch (the API's answer, a line of its output)."""
    log_action(logger, action, note, level=logging.WARNING, batch=batch.pk, reason=str(error))


def batches_stale_settle(*, api: BatchApi, now: datetime.datetime) -> int:
    """Settle the batches left preparing by a run that died; how many were abandoned.

    One whose file was uploaded may have been created on the API, the run dying
    before it recorded the batch's id: found there, it is polled like any other.
    Otherwise it is abandoned and its users forgotten, so a later batch may take
    them. While the API cannot tell, the batch waits for a later run: forgetting its
    users then could put them in two batches.
    """
    stale = GenerationBatch.objects.filter(
        status=Status.PREPARING, closed_at__isnull=True, updated_at__lt=now - PREPARING_STALE
    )
    abandoned = 0
    for batch in stale:
        if batch.input_file_id:
            try:
                remote = api.find(
                    input_file_id=batch.input_file_id,
                    created_after=batch.created_at - REMOTE_CLOCK_SKEW,
                )
            except BatchApiError as error:
                _batch_warn(
                    "outbox.batch_unsettled",
                    "whether it was created is asked again by the next run",
                    batch=batch,
                    error=error,
                )
                continue
            if remote is not None:
                _batch_started(batch=batch, remote=remote, recovered=True)
                continue
        batch_close(
            batch=batch,
            status=Status.ABANDONED,
            error="its run stopped preparing it",
            forget_requests=True,
        )
        abandoned += 1
    return abandoned


@transaction.atomic
def batch_close(
    *, batch: GenerationBatch, status: str, error: str = "", forget_requests: bool = False
) -> None:
    """Close ``batch`` with ``status``: who got no row is the normal path's from now on.

    Its request rows stay (no other batch takes those users for those dates) unless
    ``forget_requests``, for a batch that never reached the API.
    """
    if forget_requests:
        GenerationBatchRequest.objects.filter(batch=batch).delete()
    batch.status = status
    batch.returned_count = max(batch.request_count - batch.answered_count, 0)
    if error:
        batch.last_error = error[:2000]
    batch.closed_at = timezone.now()
    batch.save()


def batch_requests_prune(*, now: datetime.datetime) -> int:
    """Delete request rows of closed batches whose date is past (a bounded number a run)."""
    queryset = GenerationBatchRequest.objects.filter(
        batch__closed_at__isnull=False, date__lt=(now - REQUESTS_PRUNE_AFTER).date()
    )
    with transaction.atomic():
        deleted, _ = rows_delete_with_dependants(
            queryset=queryset, limit=REQUESTS_PRUNE_LIMIT, dependants=[]
        )
    return deleted


# --- polling and taking the answers in --------------------------------------


def batches_poll(*, api: BatchApi, chunk_size: int = CHUNK_SIZE) -> list[GenerationBatch]:
    """Ask about each open batch; take in and close the finished ones, which are returned."""
    closed = []
    open_batches = GenerationBatch.objects.filter(closed_at__isnull=True).exclude(
        status=Status.PREPARING
    )
    for batch in open_batches.order_by("id"):
        try:
            remote = api.retrieve(batch.remote_id)
        except BatchNotFound as error:
            batch_close(batch=batch, status=Status.FAILED, error=str(error))
            closed.append(batch)
            continue
        except BatchApiError as error:
            _batch_warn(
                "outbox.batch_poll_failed", "asked again by the next run", batch=batch, error=error
            )
            continue
        _remote_apply(batch=batch, remote=remote)
        batch.save()
        if batch.status in GenerationBatch.FINISHED_STATUSES:
            try:
                batch_answers_take(batch=batch, api=api, chunk_size=chunk_size)
            except BatchApiError as error:
                _batch_warn(
                    "outbox.batch_read_failed",
                    "read again by the next run",
                    batch=batch,
                    error=error,
                )
                continue
            closed.append(batch)
    return closed


def _remote_apply(*, batch: GenerationBatch, remote: RemoteBatch) -> None:
    batch.remote_id = remote.id or batch.remote_id
    if remote.status in Status.values:
        batch.status = remote.status
    batch.output_file_id = remote.output_file_id
    batch.error_file_id = remote.error_file_id
    batch.completed_count = remote.completed
    batch.failed_count = remote.failed


def batch_answers_take(
    *, batch: GenerationBatch, api: BatchApi, chunk_size: int = CHUNK_SIZE
) -> GenerationBatch:
    """Stream a finished batch's output and error files into rows, then close the batch.

    Safe to repeat after a crash half-way: rows already written are skipped.
    """
    started = time.monotonic()
    taken = _Taken()
    for file_id in (batch.output_file_id, batch.error_file_id):
        if file_id:
            with api.lines(file_id) as lines:
                batch_lines_take(batch=batch, lines=lines, taken=taken, chunk_size=chunk_size)
    batch.answered_count = taken.answered
    batch.prompt_tokens = taken.prompt_tokens
    batch.completion_tokens = taken.completion_tokens
    batch_close(batch=batch, status=batch.status)
    log_action(
        logger,
        "outbox.batch_closed",
        batch=batch.pk,
        remote_id=batch.remote_id,
        status=batch.status,
        answered=batch.answered_count,
        returned=batch.returned_count,
        malformed=taken.malformed,
        seconds=f"{time.monotonic() - started:.1f}",
    )
    return batch


@dataclass
class _Taken:
    """Running counts while a batch's files are read."""

    answered: int = 0
    malformed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0


def batch_lines_take(
    *,
    batch: GenerationBatch,
    lines: Iterable[bytes],
    taken: _Taken | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> _Taken:
    """Output or error file lines of ``batch`` into rows, ``chunk_size`` lines per insert."""
    taken = taken or _Taken()
    # Each chunk's rows go in while the next chunk is parsed.
    inserts = BackgroundInserts()
    try:
        for chunk in _chunks(lines, chunk_size):
            answers = []
            for line in chunk:
                try:
                    answers.append(answer_parse(line, model=batch.model))
                except MalformedLine as error:
                    taken.malformed += 1
                    _batch_warn("outbox.batch_line_malformed", batch=batch, error=error)
            rows = _answer_rows(batch=batch, answers=answers)
            if rows:
                inserts.insert(rows=rows, written_at=timezone.now())
            taken.answered += len(rows)
            taken.prompt_tokens += sum(row.prompt_tokens or 0 for row in rows)
            taken.completion_tokens += sum(row.completion_tokens or 0 for row in rows)
        inserts.wait()
    finally:
        inserts.close()
    return taken


def _requests_insert(*, batch_id: int, user_ids: list[str], date: datetime.date) -> set[str] | None:
    """Record the batch's requests, skipping users another batch holds for ``date``.

    None when every one went in (the usual case); else the users that did. One
    statement (``COPY`` on PostgreSQL); the commit need not wait for the disk, as the
    batch's own row, written normally before anything is sent, makes it durable.
    """
    connection = connections[DEFAULT_DB_ALIAS]
    meta = GenerationBatchRequest._meta
    columns = [meta.get_field(name).column for name in ("batch", "user", "date")]
    rows = [(batch_id, user_id, date) for user_id in user_ids]
    with transaction.atomic():
        commit_without_flush(connection=connection)
        if copy_supported(connection):
            inserted = rows_insert_ignore_copy(
                connection=connection,
                table=meta.db_table,
                columns=columns,
                rows=rows,
                key=columns[1],
            )
            return None if inserted is None else set(inserted)
        sql = insert_ignore_sql(connection=connection, table=meta.db_table, columns=columns)
        with connection.cursor() as cursor:
            cursor.executemany(sql, rows)
            if cursor.rowcount == len(rows):
                return None
    return _requests_of(batch_id=batch_id, user_ids=user_ids, date=date)


def _requests_of(
    *, batch_id: int, user_ids: Iterable[str], date: datetime.date | None = None
) -> set:
    """Which of these users' requests (for ``date``: their ids; else (user, date) pairs) are the batch's.

    Looked up by user through the unique (user, date) index: a batch holds tens of
    thousands of requests, and filtering by batch first would read them all per chunk.
    """
    requests = GenerationBatchRequest.objects.filter(
        one_of(model=GenerationBatchRequest, field="user", values=list(user_ids))
    )
    if date is not None:
        requests = requests.filter(date=date)
    found = requests.order_by().values_list("user_id", "date", "batch_id")
    if date is not None:
        return {user_id for user_id, _, owner in found if owner == batch_id}
    return {(user_id, day) for user_id, day, owner in found if owner == batch_id}


def _chunks(lines: Iterable[bytes], size: int) -> Iterator[list[bytes]]:
    iterator = iter(lines)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _answer_rows(*, batch: GenerationBatch, answers: list[BatchAnswer]) -> list[NewRow]:
    """Rows for the usable answers to requests of ``batch`` whose user still wants one."""
    for answer in answers:
        if answer.text is None:
            log_action(
                logger,
                "outbox.batch_answer_refused",
                "the normal path serves the user",
                level=logging.WARNING,
                batch=batch.pk,
                user_id=answer.key.user_id,
                reason=answer.reason,
            )
    usable = [
        answer
        for answer in answers
        if answer.text is not None and answer.key.category in CATEGORIES
    ]
    if not usable:
        return []
    user_ids = {answer.key.user_id for answer in usable}
    ours = _requests_of(batch_id=batch.pk, user_ids=user_ids)
    groups = {}
    mutes = {}
    for user_id, zone_name, send_time, muted in User.objects.filter(
        one_of(model=User, field="user_id", values=list(user_ids)), notifications_enabled=True
    ).values_list("pk", "timezone", "send_time", "muted_categories"):
        groups[user_id] = (zone_name, send_time)
        mutes[user_id] = muted or ()
    windows: dict[tuple, Window] = {}
    rows = []
    ids = iter(new_ids(len(usable)))
    for answer in usable:
        key = answer.key
        if (
            (key.user_id, key.date) not in ours
            or key.user_id not in groups
            or key.category in mutes[key.user_id]
        ):
            # Not this batch's, answered twice, or the user opted out or muted it since:
            # the normal path decides what they get.
            continue
        group = (*groups[key.user_id], key.date)
        if group not in windows:
            zone_name, send_time, date = group
            windows[group] = window_for(
                day=date,
                send_time=send_time or settings.NOTIFICATIONS_SEND_TIME,
                deliver_until=settings.NOTIFICATIONS_DELIVER_UNTIL,
                zone=zone_for(zone_name or settings.TIME_ZONE),
            )
        text = answer.text
        # By position, as generation's values are (see ``UserProfile``).
        rows.append(
            NewRow(
                windows[group],
                next(ids),
                key.user_id,
                key.category,
                text.title,
                text.body,
                text.generated_by,
                text.prompt_tokens,
                text.completion_tokens,
            )
        )
        ours.discard((key.user_id, key.date))
    return rows
