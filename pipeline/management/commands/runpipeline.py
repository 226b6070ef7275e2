"""`runpipeline [generate|deliver]`: run generation, delivery or both, and print their summary lines.

With no subcommand: generate the notifications due soon (the horizon rule), then
deliver until nothing is due. A generate that leaves users without a row (the model
could not serve them, and their send time is not near yet) prints its summary, then
exits 1 with one line saying how many. The work is in ``pipeline.stages``, shared with the scheduled tasks; this
command parses options and writes output.
"""

from __future__ import annotations

from django.core.management.base import CommandError, CommandParser

from core.commands import DatabaseCommand, startup_objects_freeze
from core.parsing import positive_float, positive_int
from core.progress import progress_bar
from delivery.worker import BATCH_PER_REQUEST_IN_FLIGHT, BATCH_SIZE_MAX
from pipeline.signals import STOP_GRACE_SECONDS, stop_on_signals
from pipeline.stages import (
    StageConfigError,
    delivery_run,
    generate_date_parse,
    generation_run,
    generator_choose,
)


def port_number(text: str) -> int:
    """An argparse type for a TCP port to listen on, 1 to 65535."""
    value = positive_int(text)
    if value > 65535:
        raise ValueError(f"must be at most 65535, got {value}")
    return value


port_number.__name__ = "port number"


def add_bound_arguments(parser: CommandParser) -> None:
    """``--concurrency`` and ``--max-seconds``: one meaning and one type in both stages."""
    parser.add_argument(
        "--concurrency",
        type=positive_int,
        default=None,
        help=(
            "Requests in flight at once to the stage's outside service: the model when "
            "generating, NOTIFICATIONS_URL when delivering (default: OPENAI_CONCURRENCY "
            "or NOTIFICATIONS_CONCURRENCY)."
        ),
    )
    parser.add_argument(
        "--max-seconds",
        type=positive_float,
        default=None,
        help=(
            "Start no new chunk of users or batch of rows after this many seconds; "
            "the one under way finishes and a re-run carries on (scheduled runs use it)."
        ),
    )


class Command(DatabaseCommand):
    help = "Generate today's notifications and deliver what is due (or one of the two stages)."

    def add_arguments(self, parser: CommandParser) -> None:
        stages = parser.add_subparsers(dest="stage", metavar="{generate,deliver}")
        generate = stages.add_parser(
            "generate",
            help=(
                "Write the missing notifications whose local send time is within "
                "NOTIFICATIONS_GENERATE_AHEAD_HOURS and whose window is open."
            ),
        )
        generate.add_argument(
            "--date",
            default=None,
            help=(
                "YYYY-MM-DD: every enabled user's notification for that local date instead, "
                "except where its window has already closed."
            ),
        )
        generate.add_argument(
            "--generator",
            default=None,
            help=(
                "openai, openai-batch or offline (default: openai when OPENAI_API_KEY is set; "
                "openai-batch when OPENAI_USE_BATCH is on too)."
            ),
        )
        generate.add_argument(
            "--limit", type=positive_int, default=None, help="Generate for at most N users."
        )
        add_bound_arguments(generate)
        deliver_help = (
            "Send due notifications. SIGTERM or SIGINT: finish what is in flight; "
            f"still running {STOP_GRACE_SECONDS:g}s later (or on a second signal), "
            "exit at once with status 128 + the signal's number."
        )
        deliver = stages.add_parser("deliver", help=deliver_help, description=deliver_help)
        deliver.add_argument(
            "--batch-size",
            type=positive_int,
            default=None,
            help=(
                "Rows claimed per batch (default: NOTIFICATIONS_BATCH_SIZE, else "
                f"{BATCH_PER_REQUEST_IN_FLIGHT} per request in flight, at most "
                f"{BATCH_SIZE_MAX:,})."
            ),
        )
        deliver.add_argument(
            "--forever",
            action="store_true",
            help="Keep polling for due rows until SIGTERM or SIGINT.",
        )
        deliver.add_argument(
            "--metrics-port",
            type=port_number,
            default=None,
            help=(
                "Serve this worker's Prometheus metrics (attempts, durations, breaker, "
                "requests in flight) on this port while it runs."
            ),
        )
        add_bound_arguments(deliver)

    def handle(self, *args, stage: str | None = None, **options) -> None:
        left_line = None
        try:
            if stage in (None, "generate"):
                left_line = self.generate(**options)
            # Users left by generate do not hold back the rows that are due.
            if stage in (None, "deliver"):
                self.deliver(**options)
        except StageConfigError as error:
            raise CommandError(str(error)) from None
        if left_line is not None:
            # The rows written stay; the next run (the schedule's, or by hand) asks again.
            raise CommandError(left_line)

    def generate(self, **options) -> str | None:
        """Run generate and print its summary; the line about users left, if any."""
        day = generate_date_parse(options.get("date"))
        generator = generator_choose(options.get("generator"))
        startup_objects_freeze()
        with progress_bar(desc=f"generate {day or 'due'}", unit="user") as on_progress:
            result = generation_run(
                date=day,
                generator=generator,
                concurrency=options.get("concurrency"),
                limit=options.get("limit"),
                max_seconds=options.get("max_seconds"),
                on_progress=on_progress,
            )
        self.stdout.write(result.line)
        return result.left_line

    def deliver(self, **options) -> None:
        with (
            stop_on_signals(say=self.stderr.write) as stop,
            progress_bar(desc="deliver", unit="notification") as on_progress,
        ):
            result = delivery_run(
                concurrency=options.get("concurrency"),
                batch_size=options.get("batch_size"),
                forever=options.get("forever", False),
                max_seconds=options.get("max_seconds"),
                stop=stop,
                on_progress=on_progress,
                metrics_port=options.get("metrics_port"),
            )
        self.stdout.write(result.line)
