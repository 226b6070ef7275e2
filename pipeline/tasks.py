"""The functions django-q2's schedules call; each runs one stage through ``runpipeline``.

Going through the command keeps ``runpipeline`` the one place that wires generation
and delivery. The date is decided when the task runs (today in ``TIME_ZONE``), never
baked into the schedule, so a late or repeated run still writes the right day, and
a repeat writes nothing new. Deliver is bounded by ``PIPELINE_DELIVER_MAX_SECONDS``
so a run ends well before the cluster's ``timeout`` and the next minute's run carries on.

Generate is bounded too (``GENERATE_MAX_SECONDS``): with the model API, 100,000
users take hours, far beyond the cluster's ``timeout``. A run that stops at its
bound queues another task for the same date, which carries on from the users
still without a row; the chain ends when a run reaches every user. A run that
fails (the model API down, a refused key) schedules one retry of the same date
``GENERATE_RETRY_MINUTES`` later, by a unique name so retries never pile up, for
as long as that date is still today.
"""

from __future__ import annotations

import datetime
import io
import logging

from django.conf import settings
from django.core.management import CommandError, call_command
from django.utils import timezone
from django_q.models import Schedule
from django_q.tasks import async_task

from pipeline.management.commands import runpipeline

# Below the cluster's 600 s ``timeout`` with room for the chunk in progress at the
# bound, which runs to its end: 2,000 users at 8 model requests in flight take
# about 250 s at a second a request.
GENERATE_MAX_SECONDS = 300
# How long a failed generate waits before its retry: long enough for an outage to pass,
# short enough that the day's notifications still go out the same morning.
GENERATE_RETRY_MINUTES = 15

logger = logging.getLogger(__name__)


def notifications_generate_today(date: str | None = None) -> str:
    """Generate the missing notifications of ``date`` (default: today) for a bounded time.

    When the bound stops the run before every user has a row, the same task is
    queued again for the same date. Returns the command's summary line.
    """
    day = date or timezone.localdate().isoformat()
    out = io.StringIO()
    command = runpipeline.Command()
    try:
        call_command(
            command,
            "generate",
            "--date",
            day,
            "--max-seconds",
            str(GENERATE_MAX_SECONDS),
            stdout=out,
        )
    except CommandError as error:
        generate_retry_schedule(day=day, reason=str(error))
        raise
    if command.generated is not None and not command.generated.complete:
        async_task(
            "pipeline.tasks.notifications_generate_today",
            day,
            task_name=f"pipeline: generate {day}, continued",
        )
    return out.getvalue().strip()


def generate_retry_schedule(*, day: str, reason: str) -> Schedule | None:
    """Schedule one retry of ``day``'s generate, unless ``day`` is no longer today.

    Found by name, so a failing retry moves the one pending retry instead of adding one.
    """
    if day != timezone.localdate().isoformat():
        logger.warning(
            "action=generate_retry_skipped date=%s reason=%s: the day is over",
            day,
            reason,
            extra={"action": "generate_retry_skipped"},
        )
        return None
    retry_at = timezone.now() + datetime.timedelta(minutes=GENERATE_RETRY_MINUTES)
    schedule, _ = Schedule.objects.update_or_create(
        name=f"pipeline: retry generate {day}",
        defaults={
            "func": "pipeline.tasks.notifications_generate_today",
            "args": repr((day,)),
            "schedule_type": Schedule.ONCE,
            "repeats": 1,
            "next_run": retry_at,
        },
    )
    logger.warning(
        "action=generate_retry_scheduled date=%s retry_at=%s reason=%s",
        day,
        retry_at.isoformat(),
        reason,
        extra={"action": "generate_retry_scheduled"},
    )
    return schedule


def notifications_deliver_due() -> str:
    """Deliver what is due for at most ``PIPELINE_DELIVER_MAX_SECONDS``; returns the summary line."""
    out = io.StringIO()
    call_command(
        "runpipeline",
        "deliver",
        "--max-seconds",
        str(settings.PIPELINE_DELIVER_MAX_SECONDS),
        stdout=out,
    )
    return out.getvalue().strip()
