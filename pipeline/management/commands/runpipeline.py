"""`runpipeline [generate|deliver]`: the one place that wires generation to delivery.

With no subcommand: generate today's notifications, then deliver until nothing is due.
"""

from __future__ import annotations

import datetime
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.conf import settings
from django.core.management.base import CommandError, CommandParser
from django.utils import timezone
from tqdm import tqdm

from core.commands import DatabaseCommand
from core.parsing import positive_float, positive_int
from delivery.conf import DeliverySettingsError
from delivery.worker import DeliverySummary, notifications_deliver
from outbox.generation import GenerationSummary, notifications_generate
from outbox.generators import GeneratorUnavailable, UnknownGenerator, generator_for


class Command(DatabaseCommand):
    help = "Generate today's notifications and deliver what is due (or one of the two stages)."

    def add_arguments(self, parser: CommandParser) -> None:
        stages = parser.add_subparsers(dest="stage", metavar="{generate,deliver}")
        generate = stages.add_parser("generate", help="Write the missing notifications for a date.")
        self.add_generate_arguments(generate)
        deliver = stages.add_parser("deliver", help="Send due notifications.")
        self.add_deliver_arguments(deliver)

    @staticmethod
    def add_generate_arguments(parser: CommandParser) -> None:
        parser.add_argument(
            "--date", help="YYYY-MM-DD (default: today in TIME_ZONE).", default=None
        )
        parser.add_argument(
            "--generator",
            default=None,
            help="openai or offline (default: openai when OPENAI_API_KEY is set).",
        )
        parser.add_argument(
            "--concurrency",
            type=positive_int,
            default=None,
            help="Model requests in flight at once (default: OPENAI_CONCURRENCY).",
        )
        parser.add_argument(
            "--limit", type=positive_int, default=None, help="Generate for at most N users."
        )
        parser.add_argument(
            "--max-seconds",
            type=positive_float,
            default=None,
            help="Start no new chunk of users after this many seconds (scheduled runs use it).",
        )

    @staticmethod
    def add_deliver_arguments(parser: CommandParser) -> None:
        parser.add_argument(
            "--concurrency",
            type=positive_int,
            default=None,
            help="POSTs in flight at once (default: NOTIFICATIONS_CONCURRENCY).",
        )
        parser.add_argument(
            "--batch-size",
            type=positive_int,
            default=None,
            help="Rows claimed per batch (default: NOTIFICATIONS_BATCH_SIZE).",
        )
        parser.add_argument(
            "--forever", action="store_true", help="Keep polling for due rows until stopped."
        )
        parser.add_argument(
            "--max-seconds",
            type=positive_int,
            default=None,
            help="Stop claiming new batches after this many seconds (scheduled runs use it).",
        )

    # The last generate's summary, for a caller holding the command (the scheduled task).
    generated: GenerationSummary | None = None

    def handle(self, *args, stage: str | None = None, **options) -> None:
        if stage in (None, "generate"):
            self.generated = self.generate(
                date=options.get("date"),
                generator_name=options.get("generator"),
                concurrency=options.get("concurrency"),
                limit=options.get("limit"),
                max_seconds=options.get("max_seconds"),
            )
        if stage in (None, "deliver"):
            self.deliver(
                concurrency=options.get("concurrency") if stage else None,
                batch_size=options.get("batch_size"),
                forever=options.get("forever", False),
                max_seconds=options.get("max_seconds"),
            )

    def generate(
        self,
        *,
        date: str | None,
        generator_name: str | None,
        concurrency: int | None,
        limit: int | None,
        max_seconds: float | None = None,
    ) -> GenerationSummary:
        day = parse_date(date) if date else timezone.localdate()
        try:
            generator = generator_for(generator_name)
        except UnknownGenerator as error:
            raise CommandError(str(error)) from None
        with self.progress_bar(desc=f"generate {day}", unit="user") as on_progress:
            try:
                summary = notifications_generate(
                    date=day,
                    generator=generator,
                    concurrency=concurrency or settings.OPENAI_CONCURRENCY,
                    limit=limit,
                    on_progress=on_progress,
                    max_seconds=max_seconds,
                )
            except GeneratorUnavailable as error:
                # e.g. a rejected API key: every user would fail; rows written so far stay.
                raise CommandError(str(error)) from None
        self.stdout.write(
            f"{day} {generator.name}: created {summary.created}, existing {summary.existing}, "
            f"fallback {summary.fallback} in {summary.elapsed_seconds:.1f}s"
            + ("" if summary.complete else "; stopped at the time limit, users remain")
        )
        return summary

    def deliver(
        self,
        *,
        concurrency: int | None,
        batch_size: int | None,
        forever: bool,
        max_seconds: int | None,
    ) -> DeliverySummary:
        with (
            self.stop_on_signals() as stop,
            self.progress_bar(desc="deliver", unit="notification") as on_progress,
        ):
            try:
                summary = notifications_deliver(
                    concurrency=concurrency or settings.NOTIFICATIONS_CONCURRENCY,
                    batch_size=batch_size or settings.NOTIFICATIONS_BATCH_SIZE,
                    forever=forever,
                    max_seconds=max_seconds,
                    stop=stop,
                    on_progress=on_progress,
                )
            except DeliverySettingsError as error:
                raise CommandError(str(error)) from None
        self.stdout.write(
            f"delivered {summary.delivered}, retrying {summary.retrying}, failed {summary.failed} "
            f"in {summary.elapsed_seconds:.1f}s ({summary.rate_per_second:.1f}/s)"
        )
        return summary

    @contextmanager
    def progress_bar(self, *, desc: str, unit: str) -> Iterator[Callable[[int, int | None], None]]:
        """A callback ``(done, total)`` drawing a bar on a terminal, doing nothing otherwise."""
        if not sys.stderr.isatty():
            yield lambda done, total: None
            return
        bar = tqdm(desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True)

        def on_progress(done: int, total: int | None) -> None:
            if total is not None and bar.total != total:
                bar.total = total
            bar.n = done
            bar.refresh()

        try:
            yield on_progress
        finally:
            bar.close()

    @contextmanager
    def stop_on_signals(self) -> Iterator[threading.Event]:
        """An event set by SIGTERM or SIGINT, so the worker stops claiming and winds down."""
        stop = threading.Event()
        if threading.current_thread() is not threading.main_thread():
            # Signal handlers can only be installed from the main thread (e.g. a q cluster worker).
            yield stop
            return

        def request_stop(signum: int, frame: object) -> None:
            self.stderr.write(f"{signal.Signals(signum).name}: finishing what is in flight…")
            stop.set()

        previous = {
            sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)
        }
        try:
            yield stop
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def parse_date(text: str) -> datetime.date:
    """A ``YYYY-MM-DD`` date, or a one-line CommandError saying what was wrong."""
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"--date must be a date as YYYY-MM-DD, got {text!r}") from None
