"""The users file as numbered records, streamed with the ``csv`` module, never read whole.

``encoding="utf-8-sig"`` drops a byte-order mark; ``skipinitialspace`` lets
``a, "b, c"`` quote its second field. Bytes that are not UTF-8 become surrogate
escapes, so the row holding them is reported at its exact line (see ``fields``)
and the rest of the file still loads.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from accounts.csv_import.report import CsvImportError


def records(path: Path) -> Iterator[tuple[int, list[str]]]:
    """Each non-blank record, header included, as (its first line, its stripped fields)."""
    try:
        file: IO[str] = path.open(encoding="utf-8-sig", errors="surrogateescape", newline="")
    except FileNotFoundError:
        raise CsvImportError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CsvImportError(f"{path}: is a directory, not a CSV file") from None
    except OSError as error:
        raise CsvImportError(f"{path}: cannot read: {error.strerror}") from None
    with file:
        reader = csv.reader(file, skipinitialspace=True)
        while True:
            line = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                raise CsvImportError(f"{path}: line {line}: {error}") from None
            fields = [value.strip() for value in row]
            if any(fields):
                yield line, fields
