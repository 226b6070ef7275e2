"""Load app users from the users CSV: stream, validate each row, upsert in bulk.

This is ``load_users``' logic. The promises it keeps:

* **Streaming.** The file is read row by row with the ``csv`` module
  (``encoding="utf-8-sig"`` drops a byte-order mark, ``newline=""`` keeps quoted
  line breaks, ``skipinitialspace`` lets ``a, "b, c"`` quote its second field),
  never whole. Rows are upserted ``chunk_size`` at a time with ONE
  select of the chunk's existing rows (to count created / updated / unchanged)
  and ONE ``executemany`` of ``INSERT … ON CONFLICT (user_id) DO UPDATE`` (the
  same SQL on SQLite and PostgreSQL) for the new and changed rows; an unchanged
  re-load writes nothing. Not ``bulk_create(update_conflicts=True)``: it spends
  about 20 µs per row preparing each field's value in Python and, on SQLite,
  caps statements at 99 rows; measured, it loaded 3 to 4 times slower than
  this, below the target of 0.3x the raw driver's speed.
* **Bad rows are skipped, good rows load.** Each bad row becomes a ``RowError``
  (line number where the record starts, header = line 1, and a reason such as
  ``expected 9 fields, got 4``), streamed to ``on_error`` and kept in the report
  up to ``max_errors`` so a million bad rows cannot fill memory; ``skipped``
  counts them all. Bytes that are not UTF-8 make their row bad (``not valid
  UTF-8 text``), not the file: they are decoded as surrogate escapes and
  looked for before anything else, so no message ever quotes them.
* **Balanced rotation slots.** A created user gets ``rotation_slot`` =
  (users in the table when the load started + how many users this load has
  created before it) % 3: one count per load, then a running number. An
  updated user keeps its slot.
* **All or nothing per run.** The whole load is one transaction: ``strict=True``
  rolls it back when any row was bad (the errors are still reported), and a
  fatal error half-way (a field over the ``csv`` module's size limit, say)
  leaves the table as it was.
* **Duplicate ids, exactly, in flat memory.** A set of every id seen grows with
  the file. Instead a fixed-size Bloom filter (``_IdFilter``, 4 MiB) remembers
  the ids of loaded rows. A row whose id the filter has never seen is certainly
  the first valid row with that id and loads at once. A row the filter *may*
  have seen (a true duplicate, or a rare false positive: about one row in 6,000
  at a million distinct ids, none expected at 200,000) is deferred: its line number and id go to a
  temporary spill file on disk. After the first pass the spill file is resolved
  in batches of at most ``DEFERRED_BATCH`` ids: one re-scan of the file per
  batch finds each candidate id's first valid line; a deferred row that *is*
  that first line was a false positive and loads now, any other is reported as
  ``duplicate user_id '4' (first seen on line 2)``. Ordinary files need one
  re-scan at most; memory stays the filter, one chunk and one batch whatever
  the file's size. Only valid rows claim an id: a bad row followed by a good
  one with the same id loads the good one.
"""

from __future__ import annotations

import csv
import datetime
import logging
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from itertools import islice
from pathlib import Path
from typing import IO, NamedTuple
from zoneinfo import available_timezones

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.db import connection, transaction

from accounts.models import CSV_FIELDS, ROTATION_SLOTS, User
from core.db import executemany_prepared, upsert_sql

logger = logging.getLogger(__name__)

OPTIONAL_COLUMN = "timezone"
DEFAULT_CHUNK_SIZE = 2000
DEFAULT_MAX_ERRORS = 1000
# Candidate duplicate ids held in memory at once while the spill file is resolved.
DEFERRED_BATCH = 50_000

_MAX_LENGTHS = {
    "user_id": 64,
    "name": 200,
    "email": 254,
    "activity_level": 50,
    "health_goals": 200,
    "timezone": 64,
}
_SHORTEST_LIMIT = min(_MAX_LENGTHS.values())
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_WHOLE = re.compile(r"[0-9]+")
# Surrogate escapes: what ``errors="surrogateescape"`` makes of bytes that are not UTF-8.
_NOT_UTF8 = re.compile("[\udc80-\udcff]")
_ONE_DECIMAL = Decimal("0.1")
_MEASURE_LIMIT = Decimal(10000)  # DecimalField(max_digits=5, decimal_places=1)
_MAX_AGE = 150
# Digits after any leading zeros: int() refuses strings past 4,300 digits, and no age needs 4.
_MAX_AGE_DIGITS = len(str(_MAX_AGE))
_email_validate = EmailValidator()
# Plain addresses (almost all of them) match this strict subset of what
# EmailValidator accepts, in a fraction of its time; anything else goes to it.
_PLAIN_EMAIL = re.compile(
    r"[A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)


class CsvImportError(Exception):
    """The file as a whole cannot be loaded: missing, unreadable, wrong header."""


class RowError(NamedTuple):
    """One bad row: the line its record starts on and why it was skipped."""

    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass
class LoadReport:
    """What a load did. ``errors`` holds the first ``max_errors`` bad rows; ``skipped`` counts all."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    errors: list[RowError] = field(default_factory=list)
    rolled_back: bool = False

    def summary(self) -> str:
        """The one-line summary ``load_users`` prints last."""
        return (
            f"created {self.created}, updated {self.updated}, "
            f"unchanged {self.unchanged}, skipped {self.skipped}"
        )


class _RowInvalid(Exception):
    """Raised inside row validation; carries the reason only."""


class _StrictRollback(Exception):
    """Unwinds the load's transaction in strict mode."""


class _IdFilter:
    """A fixed-size Bloom filter over user ids (see the module docstring for why).

    Python's ``hash`` is salted per process, which is fine: the filter lives
    for one load in one process.
    """

    BITS = 1 << 25  # 4 MiB
    MASK = BITS - 1
    # Four probes from one 64-bit hash (double hashing): at a million ids about
    # one row in 6,000 is a false positive, each costing a deferred row, not an error.
    HASHES = 4

    def __init__(self) -> None:
        self._bits = bytearray(self.BITS // 8)

    def seen_or_add(self, key: str) -> bool:
        """True when ``key`` may have been added before; otherwise add it and return False."""
        digest = hash(key)
        mask = self.MASK
        step = ((digest >> 32) | 1) & mask
        bits = self._bits
        position = digest & mask
        seen = True
        for _ in range(self.HASHES):
            byte, bit = position >> 3, 1 << (position & 7)
            if not bits[byte] & bit:
                seen = False
                bits[byte] |= bit
            position = (position + step) & mask
        return seen


def users_load_csv(
    *,
    path: str | Path,
    strict: bool = False,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    max_errors: int = DEFAULT_MAX_ERRORS,
    on_error: Callable[[RowError], None] | None = None,
) -> LoadReport:
    """Upsert the users of the CSV at ``path`` and report what happened.

    Bad rows are skipped and reported (``on_error`` gets every one as it is
    found, the report keeps the first ``max_errors``). With ``strict`` nothing
    is written when any row is bad: the report then has ``rolled_back`` set and
    zero created / updated / unchanged. Raises ``CsvImportError`` when the file
    is missing, unreadable, or its header is not the CSV's columns; nothing is
    written then either.
    """
    load = _Load(
        path=Path(path),
        strict=strict,
        chunk_size=chunk_size,
        max_errors=max_errors,
        on_error=on_error,
    )
    try:
        with transaction.atomic():
            load.run()
            if strict and load.report.skipped:
                raise _StrictRollback
    except _StrictRollback:
        load.report.created = load.report.updated = load.report.unchanged = 0
        load.report.rolled_back = True
    # Duplicates are found after the first pass: put the kept errors back in file order.
    load.report.errors.sort()
    logger.debug(
        "users loaded: %s",
        load.report.summary(),
        extra={"action": "users_load_csv", "path": str(path), "strict": strict},
    )
    return load.report


class _Load:
    """The state of one load: columns, Bloom filter, current chunk, spill file, report."""

    def __init__(
        self,
        *,
        path: Path,
        strict: bool,
        chunk_size: int,
        max_errors: int,
        on_error: Callable[[RowError], None] | None,
    ) -> None:
        self.path = path
        self.strict = strict
        self.chunk_size = chunk_size
        self.max_errors = max_errors
        self.on_error = on_error
        self.report = LoadReport()
        self.columns: tuple[str, ...] = CSV_FIELDS
        # The IANA names a timezone column may hold; read once, when the header has one.
        self.zones: frozenset[str] = frozenset()
        self.chunk: list[tuple] = []
        # The running number of the next created user (see "Balanced rotation slots").
        self.users_counted = 0

    def run(self) -> None:
        ids = _IdFilter()
        self.users_counted = User.objects.count()
        with tempfile.TemporaryFile("w+", encoding="utf-8", newline="") as spill_file:
            spill = csv.writer(spill_file)
            deferred = 0
            for line, fields in self._records():
                values = self._validated(line, fields)
                if values is None:
                    continue
                if ids.seen_or_add(values[0]):
                    spill.writerow((line, values[0]))
                    deferred += 1
                    continue
                self._add(values)
            self._flush()
            if deferred:
                spill_file.seek(0)
                self._deferred_resolve(csv.reader(spill_file))

    def _deferred_resolve(self, spilled: Iterator[list[str]]) -> None:
        """Load the deferred rows that are first occurrences; report the rest as duplicates."""
        while batch := list(islice(spilled, DEFERRED_BATCH)):
            deferred_lines = {int(line): user_id for line, user_id in batch}
            candidates = set(deferred_lines.values())
            first_seen: dict[str, int] = {}
            for line, fields in self._records():
                if not fields or fields[0] not in candidates:
                    continue
                # Re-validating is silent: bad rows were reported in the first pass.
                values = self._validated(line, fields, report=False)
                if values is None:
                    continue
                user_id = values[0]
                if user_id not in first_seen:
                    first_seen[user_id] = line
                    if line in deferred_lines:
                        self._add(values)
                elif line in deferred_lines:
                    self._error(
                        line,
                        f"duplicate user_id {user_id!r} (first seen on line {first_seen[user_id]})",
                    )
            self._flush()

    def _records(self) -> Iterator[tuple[int, list[str]]]:
        """Each non-blank record after the header as (first line, stripped fields)."""
        try:
            # Undecodable bytes become surrogate escapes: the row holding them is
            # reported with its exact line, the rest of the file still loads.
            file: IO[str] = self.path.open(
                encoding="utf-8-sig", errors="surrogateescape", newline=""
            )
        except FileNotFoundError:
            raise CsvImportError(f"{self.path}: no such file") from None
        except IsADirectoryError:
            raise CsvImportError(f"{self.path}: is a directory, not a CSV file") from None
        except OSError as error:
            raise CsvImportError(f"{self.path}: cannot read: {error.strerror}") from None
        with file:
            reader = csv.reader(file, skipinitialspace=True)
            header_seen = False
            while True:
                line = reader.line_num + 1
                try:
                    row = next(reader)
                except StopIteration:
                    break
                except csv.Error as error:
                    raise CsvImportError(f"{self.path}: line {line}: {error}") from None
                fields = [value.strip() for value in row]
                if not any(fields):
                    continue
                if not header_seen:
                    self._header_check(line, fields)
                    header_seen = True
                    continue
                yield line, fields
            if not header_seen:
                raise CsvImportError(
                    f"{self.path}: the file is empty; expected the header {','.join(CSV_FIELDS)}"
                )

    def _header_check(self, line: int, fields: list[str]) -> None:
        if tuple(fields) == CSV_FIELDS:
            self.columns = CSV_FIELDS
        elif tuple(fields) == (*CSV_FIELDS, OPTIONAL_COLUMN):
            self.columns = (*CSV_FIELDS, OPTIONAL_COLUMN)
            self.zones = frozenset(available_timezones())
        elif _NOT_UTF8.search("".join(fields)):
            raise CsvImportError(f"{self.path}: line {line}: the header is not valid UTF-8 text")
        else:
            raise CsvImportError(
                f"{self.path}: line {line}: the header must be {','.join(CSV_FIELDS)} "
                f"(optionally ,{OPTIONAL_COLUMN}), got {','.join(fields)}"
            )

    def _validated(self, line: int, fields: list[str], *, report: bool = True) -> tuple | None:
        try:
            return _row_parse(fields, columns=self.columns, zones=self.zones)
        except _RowInvalid as invalid:
            if report:
                self._error(line, str(invalid))
            return None

    def _error(self, line: int, reason: str) -> None:
        error = RowError(line, reason)
        self.report.skipped += 1
        if len(self.report.errors) < self.max_errors:
            self.report.errors.append(error)
        if self.on_error is not None:
            self.on_error(error)

    def _add(self, values: tuple) -> None:
        self.chunk.append(values)
        if len(self.chunk) >= self.chunk_size:
            self._flush()

    def _flush(self) -> None:
        chunk, self.chunk = self.chunk, []
        # In strict mode a bad row dooms the transaction: stop writing, keep validating.
        if not chunk or (self.strict and self.report.skipped):
            return
        created, updated, unchanged = _chunk_upsert(
            chunk, columns=self.columns, first_number=self.users_counted
        )
        self.users_counted += created
        self.report.created += created
        self.report.updated += updated
        self.report.unchanged += unchanged


def _chunk_upsert(
    rows: list[tuple], *, columns: tuple[str, ...], first_number: int
) -> tuple[int, int, int]:
    """Upsert rows of distinct ids with one select and one insert; (created, updated, unchanged).

    The created rows are numbered from ``first_number`` in file order; their
    rotation slot is that number modulo the slots.
    """
    existing = dict(
        (values[0], values)
        for values in User.objects.filter(user_id__in=[values[0] for values in rows]).values_list(
            *columns
        )
    )
    created = updated = 0
    changed: list[tuple] = []
    for values in rows:
        old = existing.get(values[0])
        if old == values:
            continue
        if len(columns) == len(CSV_FIELDS):
            # New rows get the default timezone; existing rows keep theirs.
            values = (*values, "")
        if old is None:
            slot = (first_number + created) % ROTATION_SLOTS
            created += 1
        else:
            # Never written: the upsert leaves an existing row's slot alone.
            slot = 0
            updated += 1
        changed.append((*values, slot))
    if changed:
        _rows_upsert(changed, columns=columns)
    return created, updated, len(rows) - created - updated


def _rows_upsert(rows: list[tuple], *, columns: tuple[str, ...]) -> None:
    """Insert-or-update ``rows`` (the ten fields and the rotation slot each) in one executemany."""
    names = (*CSV_FIELDS, OPTIONAL_COLUMN, "rotation_slot")
    # Only the file's columns are updated: without a timezone column, existing
    # rows keep theirs, and the rotation slot (never a file column) is kept always.
    sql = upsert_sql(
        connection=connection,
        table=User._meta.db_table,
        columns=names,
        unique=names[:1],
        update=names[1 : len(columns)],
    )
    executemany_prepared(connection=connection, sql=sql, rows=rows)


def _row_parse(fields: list[str], *, columns: tuple[str, ...], zones: frozenset[str]) -> tuple:
    """The row's values in column order, typed; raises ``_RowInvalid`` with the first problem.

    ``zones`` are the valid values of the timezone column, when there is one.
    """
    joined = "".join(fields)
    # First, so that no other message quotes (and fails to print) undecodable bytes.
    if not joined.isascii() and _NOT_UTF8.search(joined):
        raise _RowInvalid("not valid UTF-8 text")
    if len(fields) != len(columns):
        raise _RowInvalid(f"expected {len(columns)} fields, got {len(fields)}")
    # Cheap C-level tests first; the field-by-field walk only for rows that may fail it.
    if not all(fields[:9]) or max(map(len, fields)) > _SHORTEST_LIMIT or "\x00" in joined:
        _fields_check(fields, columns=columns)
    user_id, name, email, signup_date, age, height_cm, weight_kg, activity, goals = fields[:9]
    if not _PLAIN_EMAIL.fullmatch(email):
        try:
            _email_validate(email)
        except ValidationError:
            raise _RowInvalid(f"invalid email {email!r}") from None
    values = (
        user_id,
        name,
        email,
        _date_parse("signup_date", signup_date),
        _age_parse(age),
        _measure_parse("height_cm", height_cm),
        _measure_parse("weight_kg", weight_kg),
        activity,
        goals,
    )
    if len(columns) > len(CSV_FIELDS):
        return (*values, _timezone_parse(fields[9], zones=zones))
    return values


def _fields_check(fields: list[str], *, columns: tuple[str, ...]) -> None:
    """Raise ``_RowInvalid`` for the first empty required or over-long field, if any."""
    for name, value in zip(columns, fields, strict=True):
        if not value and name != OPTIONAL_COLUMN:
            raise _RowInvalid(f"{name} is empty")
        if "\x00" in value:
            # PostgreSQL text cannot hold NUL; refuse it on every database alike.
            raise _RowInvalid(f"{name} contains a NUL character")
        limit = _MAX_LENGTHS.get(name)
        if limit is not None and len(value) > limit:
            raise _RowInvalid(f"{name} is longer than {limit} characters")


def _date_parse(name: str, value: str) -> datetime.date:
    if _DATE.fullmatch(value):
        try:
            return datetime.date.fromisoformat(value)
        except ValueError:
            pass
    raise _RowInvalid(f"{name} must be YYYY-MM-DD, got {value!r}")


def _age_parse(value: str) -> int:
    if not _WHOLE.fullmatch(value):
        raise _RowInvalid(f"age must be a whole number, got {value!r}")
    if len(value.lstrip("0")) > _MAX_AGE_DIGITS or int(value) > _MAX_AGE:
        raise _RowInvalid(f"age must be between 0 and {_MAX_AGE}, got {value!r}")
    return int(value)


def _measure_parse(name: str, value: str) -> Decimal:
    try:
        number = Decimal(value)
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite():
        raise _RowInvalid(f"{name} must be a number, got {value!r}")
    if not 0 < number < _MEASURE_LIMIT:
        raise _RowInvalid(f"{name} must be greater than 0 and less than 10000, got {value!r}")
    rounded = number.quantize(_ONE_DECIMAL)
    if rounded != number:
        raise _RowInvalid(f"{name} must have at most one decimal place, got {value!r}")
    return rounded


def _timezone_parse(value: str, *, zones: frozenset[str]) -> str:
    if not value:
        return ""
    if len(value) > _MAX_LENGTHS[OPTIONAL_COLUMN]:
        raise _RowInvalid(f"timezone is longer than {_MAX_LENGTHS[OPTIONAL_COLUMN]} characters")
    # A set lookup, not ZoneInfo(value): that opens the file named by the
    # value, and a directory name such as "Europe" raises IsADirectoryError.
    if value not in zones:
        raise _RowInvalid(f"timezone must be an IANA zone name, got {value!r}")
    return value
