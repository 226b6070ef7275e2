"""`load_users [PATH] [--strict]`: upsert app users from the users CSV."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import CommandError, CommandParser

from accounts.csv_import import CsvImportError, RowError, users_load_csv
from core.commands import DatabaseCommand


class Command(DatabaseCommand):
    help = (
        "Upsert app users from a CSV (default USERS_CSV_PATH). Bad rows are reported "
        "as path:line: reason and skipped; the last line is the summary."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", nargs="?", default=None, help="The CSV file to load.")
        parser.add_argument("--strict", action="store_true", help="Load nothing if any row is bad.")

    def handle(self, *args, path: str | None, strict: bool, **options) -> None:
        path = path or str(settings.USERS_CSV_PATH)

        def on_error(error: RowError) -> None:
            self.stderr.write(f"{path}:{error.line}: {error.reason}")

        try:
            report = users_load_csv(path=path, strict=strict, on_error=on_error)
        except CsvImportError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(report.summary())
        if report.rolled_back:
            raise CommandError(f"{report.skipped} bad rows: nothing loaded (--strict)")
