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

import codecs
import csv
import stat
from collections.abc import Iterator
from io import TextIOWrapper
from pathlib import Path
from typing import IO

from accounts.csv_import.report import CsvImportError

UNTERMINATED_QUOTE = "unterminated quote"
# Bytes looked at to tell a UTF-16 file.
_SNIFF_BYTES = 512


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
    (``UNTERMINATED_QUOTE``). Raises ``CsvImportError`` for a path that is not a
    regular file (checked before opening it: opening a FIFO waits for a writer) and
    for a UTF-16 file, which would otherwise be reported row by row, NUL bytes and all.
    """
    _regular_file_check(path)
    try:
        file: TextIOWrapper = path.open(encoding="utf-8-sig", errors="surrogateescape", newline="")
    except FileNotFoundError:
        raise CsvImportError(f"{path}: no such file") from None
    except OSError as error:
        raise CsvImportError(f"{path}: cannot read: {error.strerror}") from None
    with file:
        if _is_utf16(file.buffer.peek(_SNIFF_BYTES)[:_SNIFF_BYTES]):
            raise CsvImportError(f"{path}: file is UTF-16, save it as UTF-8")
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


def _regular_file_check(path: Path) -> None:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise CsvImportError(f"{path}: no such file") from None
    except OSError as error:
        raise CsvImportError(f"{path}: cannot read: {error.strerror}") from None
    if stat.S_ISDIR(mode):
        raise CsvImportError(f"{path}: is a directory, not a CSV file")
    if not stat.S_ISREG(mode):
        raise CsvImportError(f"{path}: not a regular file")


def _is_utf16(head: bytes) -> bool:
    """Whether ``head`` starts a UTF-16 file: a byte-order mark, or NULs in every other byte.

    The header is ASCII, so a UTF-16 file without a mark starts with NULs on one
    side of every byte pair; a UTF-8 file has none there.
    """
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return True
    pairs = len(head) // 2
    if not pairs:
        return False
    even, odd = head[0 : pairs * 2 : 2].count(0), head[1 : pairs * 2 : 2].count(0)
    return max(even, odd) * 4 >= pairs * 3 and min(even, odd) * 4 <= pairs
