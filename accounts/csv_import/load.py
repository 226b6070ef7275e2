"""One load of the users file: the first pass, the duplicates' re-scans, one transaction.

The promises it keeps:

* **Bad rows are skipped, good rows load.** Each bad row becomes a ``RowError``
  (the line its record starts on, header = line 1, and the reason), streamed to
  ``on_error`` and kept in the report up to ``max_errors`` so a million bad rows
  cannot fill memory; ``skipped`` counts them all.
* **Flat memory.** Rows are upserted ``chunk_size`` at a time; duplicate ids are
  found with a fixed-size filter and a spill file (``duplicates``), so memory is
  one chunk and one batch of deferred ids whatever the file's size.
* **Balanced rotation slots.** A created user gets ``rotation_slot`` = (users in
  the table when the load started + users this load created before it) % 3: one
  count per load, then a running number.
* **All or nothing per run.** The whole load is one transaction: ``strict=True``
  rolls it back when any row was bad (the errors are still reported), and a fatal
  error half-way (a field over the ``csv`` module's size limit, say) leaves the
  table as it was.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

from django.db import transaction

from accounts.csv_import import reader
from accounts.csv_import.duplicates import deferred_resolve, duplicate_check
from accounts.csv_import.fields import Header, RowInvalid, header_parse, row_parse
from accounts.csv_import.report import CsvImportError, LoadReport, RowError
from accounts.csv_import.upsert import chunk_upsert
from accounts.models import CSV_FIELDS, User
from core.logs import log_action

logger = logging.getLogger(__name__)

DEFAULT_CHUNK_SIZE = 2000
DEFAULT_MAX_ERRORS = 1000


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
    log_action(
        logger,
        "accounts.users_loaded",
        load.report.summary(),
        level=logging.DEBUG,
        path=str(path),
        strict=strict,
    )
    return load.report


class _StrictRollback(Exception):
    """Unwinds the load's transaction in strict mode."""


class _Load:
    """The state of one load: the header's columns, the current chunk, the report."""

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
        self.header = Header(columns=CSV_FIELDS)
        self.chunk: list[tuple] = []
        # The running number of the next created user (see "Balanced rotation slots").
        self.users_counted = 0

    def run(self) -> None:
        self.users_counted = User.objects.count()
        with duplicate_check() as duplicates:
            for line, fields in self._data_records():
                if fields is None:
                    self._error(line, reader.UNTERMINATED_QUOTE)
                    continue
                values = self._validated(line, fields)
                if values is not None and duplicates.admit(line=line, user_id=values[0]):
                    self._add(values)
            self._flush()
            for deferred in duplicates.deferred_batches():
                verdicts = deferred_resolve(
                    deferred=deferred, records=self._data_records(), validate=self._silently_parsed
                )
                for verdict in verdicts:
                    if verdict.first_line is None:
                        self._add(verdict.values)
                    else:
                        self._error(verdict.line, verdict.reason)
                self._flush()

    def _data_records(self) -> Iterator[tuple[int, list[str] | None]]:
        """The records after the header, which sets the columns (one pass over the file).

        A record's fields are None when its line has an unterminated quote.
        """
        records = reader.records(self.path)
        for line, fields in records:
            if fields is None:
                raise CsvImportError(
                    f"{self.path}: line {line}: the header has an {reader.UNTERMINATED_QUOTE}"
                )
            try:
                self.header = header_parse(fields)
            except RowInvalid as invalid:
                raise CsvImportError(f"{self.path}: line {line}: {invalid}") from None
            break
        else:
            raise CsvImportError(
                f"{self.path}: the file is empty; expected the header {','.join(CSV_FIELDS)}"
            )
        yield from records

    def _validated(self, line: int, fields: list[str]) -> tuple | None:
        try:
            return row_parse(fields, header=self.header)
        except RowInvalid as invalid:
            self._error(line, str(invalid))
            return None

    def _silently_parsed(self, fields: list[str]) -> tuple | None:
        """Re-validating is silent: bad rows were reported in the first pass."""
        try:
            return row_parse(fields, header=self.header)
        except RowInvalid:
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
        created, updated, unchanged = chunk_upsert(
            chunk, fields=self.header.fields, first_number=self.users_counted
        )
        self.users_counted += created
        self.report.created += created
        self.report.updated += updated
        self.report.unchanged += unchanged
