"""Load app users from the users CSV: stream, validate each row, upsert in bulk.

One job per module: ``reader`` (the file as numbered records), ``fields`` (the header
and each row's typed, checked values), ``duplicates`` (duplicate ids found exactly in
flat memory), ``upsert`` (a chunk's insert-or-update), ``load`` (one load: its passes,
its transaction, its report) and ``report`` (what a load says back).
"""

from __future__ import annotations

from accounts.csv_import.load import users_load_csv
from accounts.csv_import.report import CsvImportError, LoadReport, RowError

__all__ = ["CsvImportError", "LoadReport", "RowError", "users_load_csv"]
