"""The users file as numbered records, streamed with the ``csv`` module, never read whole.

No field of the users file spans lines: a quoted field still open at the end of its
physical line (a stray quote) makes that line a bad row, and reading resumes on the
next line, so one stray quote cannot swallow the rest of the file. Quoted commas
are fine; ``skipinitialspace`` lets ``a, "b, c"`` quote its second field.
``encoding="utf-8-sig"`` drops a byte-order mark. Bytes that are not UTF-8 become
surrogate escapes, so the row holding them is reported at its exact line (see
``fields``) and the rest of the file still loads.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from accounts.csv_import.report import CsvImportError

UNTERMINATED_QUOTE = "unterminated quote"


class _QuoteOpen(Exception):
    """The ``csv`` reader asked for another line before its record ended."""


class _PhysicalLines:
    """The file's lines for ``csv.reader``, refusing to hand one more to an unfinished record.

    ``record_done`` is called after each record; a request for a line before it
    means the previous line ended inside a quoted field. The reader raises
    ``_QuoteOpen`` then, and starts afresh on the next call, with the next line.
    """

    def __init__(self, file: IO[str]) -> None:
        self._lines = iter(file)
        self._record_open = False

    def __iter__(self) -> _PhysicalLines:
        return self

    def __next__(self) -> str:
        if self._record_open:
            self._record_open = False
            raise _QuoteOpen
        line = next(self._lines)
        self._record_open = True
        return line

    def record_done(self) -> None:
        self._record_open = False


def records(path: Path) -> Iterator[tuple[int, list[str] | None]]:
    """Each non-blank line, header included, as (line number, stripped fields).

    The fields are None for a line whose quoted field does not end on it
    (``UNTERMINATED_QUOTE``).
    """
    try:
        file: IO[str] = path.open(encoding="utf-8-sig", errors="surrogateescape", newline="")
    except FileNotFoundError:
        raise CsvImportError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CsvImportError(f"{path}: is a directory, not a CSV file") from None
    except OSError as error:
        raise CsvImportError(f"{path}: cannot read: {error.strerror}") from None
    with file:
        lines = _PhysicalLines(file)
        reader = csv.reader(lines, skipinitialspace=True)
        while True:
            line = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except _QuoteOpen:
                yield line, None
                continue
            except csv.Error as error:
                raise CsvImportError(f"{path}: line {line}: {error}") from None
            lines.record_done()
            fields = [value.strip() for value in row]
            if any(fields):
                yield line, fields
