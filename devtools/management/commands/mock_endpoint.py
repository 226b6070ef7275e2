"""`mock_endpoint`: serve the mock external endpoint until stopped (Ctrl-C or SIGTERM)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from delivery.transport.signing import SigningSecretError, signing_key
from devtools.mock_endpoint import Faults, MockEndpointApp, mock_endpoint_serve


def fraction(text: str) -> float:
    """An argparse type for a number between 0 and 1."""
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"must be between 0 and 1, got {value}")
    return value


def port_number(text: str) -> int:
    """An argparse type for a TCP port, 0 to 65535 (0 picks a free one)."""
    value = int(text)
    if not 0 <= value <= 65535:
        raise ValueError(f"must be between 0 and 65535, got {value}")
    return value


port_number.__name__ = "port number"


class Command(BaseCommand):
    help = "Serve the mock notifications endpoint (POST/GET/DELETE /notifications)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=port_number, default=5001, help="0 picks a free port.")
        parser.add_argument(
            "--fail-rate", type=fraction, default=0.0, help="Answer 503 to this fraction (0-1)."
        )
        parser.add_argument(
            "--latency-ms", type=int, default=0, help="Wait this long before each answer."
        )
        parser.add_argument("--status", type=int, default=None, help="Always answer this status.")
        parser.add_argument(
            "--retry-after", default=None, help="Retry-After value sent with 429 and 503."
        )
        parser.add_argument(
            "--secret",
            default="",
            help="Verify Standard Webhooks signatures with this secret (401 if wrong).",
        )
        parser.add_argument("--seed", type=int, default=None, help="Seed of --fail-rate's draws.")

    def handle(self, *args, **options) -> None:
        if options["latency_ms"] < 0:
            raise CommandError("--latency-ms must be 0 or more")
        try:
            signing_key(options["secret"])
        except SigningSecretError as error:
            raise CommandError(f"--secret: {error}") from None
        app = MockEndpointApp(
            faults=Faults(
                fail_rate=options["fail_rate"],
                latency_ms=options["latency_ms"],
                status=options["status"],
                retry_after=options["retry_after"],
            ),
            secret=options["secret"],
            seed=options["seed"],
        )

        def announce(url: str) -> None:
            self.stdout.write(f"mock endpoint listening on {url}")
            self.stdout.flush()

        try:
            mock_endpoint_serve(
                app=app, host=options["host"], port=options["port"], on_ready=announce
            )
        except OSError as error:
            raise CommandError(
                f"cannot listen on {options['host']}:{options['port']}: {error}"
            ) from None
