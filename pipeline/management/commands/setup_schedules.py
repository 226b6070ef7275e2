"""`setup_schedules`: create or update the pipeline's django-q2 schedules; safe to run on every deploy."""

from __future__ import annotations

from django.utils import timezone

from core.commands import DatabaseCommand
from pipeline.schedules import schedules_apply


class Command(DatabaseCommand):
    help = (
        "Create or update the generate (every PIPELINE_GENERATE_EVERY_MINUTES) and the "
        "every-minute deliver schedules (idempotent)."
    )

    def handle(self, *args, **options) -> None:
        for result in schedules_apply():
            next_run = (
                timezone.localtime(result.next_run).strftime("%Y-%m-%d %H:%M %Z")
                if result.next_run
                else "none"
            )
            self.stdout.write(f"{result.outcome}: {result.name} (next run {next_run})")
