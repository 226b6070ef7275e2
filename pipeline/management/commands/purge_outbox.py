"""`purge_outbox [--older-than DAYS]`: delete final notifications and their attempts past retention."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import CommandParser

from core.commands import DatabaseCommand
from core.parsing import positive_int
from core.progress import progress_bar
from pipeline.retention import notifications_purge


class Command(DatabaseCommand):
    help = (
        "Delete delivered, failed, expired and cancelled notifications (and their delivery "
        "attempts) dated more than DAYS ago, in bounded transactions. Pending and sending "
        "rows are never deleted."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            type=positive_int,
            default=None,
            metavar="DAYS",
            help="Retention in days (default: OUTBOX_RETENTION_DAYS).",
        )

    def handle(self, *args, older_than: int | None = None, **options) -> None:
        with progress_bar(desc="purge", unit="notification") as on_progress:
            summary = notifications_purge(
                older_than_days=older_than or settings.OUTBOX_RETENTION_DAYS,
                on_progress=on_progress,
            )
        self.stdout.write(summary.line)
