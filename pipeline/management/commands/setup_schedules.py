"""`setup_schedules`: create or update the pipeline's django-q2 schedules; safe to run on every deploy."""

from __future__ import annotations

from django.core.management.base import CommandError
from django.utils import timezone

from core.commands import DatabaseCommand
from pipeline.schedules import ScheduleConfigError, schedules_apply


class Command(DatabaseCommand):
    help = (
        "Create or update the daily generate and the every-minute deliver schedules (idempotent)."
    )

    def handle(self, *args, **options) -> None:
        try:
            results = schedules_apply()
        except ScheduleConfigError as error:
            raise CommandError(str(error)) from None
        for result in results:
            next_run = timezone.localtime(result.next_run).strftime("%Y-%m-%d %H:%M %Z")
            self.stdout.write(f"{result.outcome}: {result.name} (next run {next_run})")
