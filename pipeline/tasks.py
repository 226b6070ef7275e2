"""The functions django-q2's schedules call; each runs one stage and returns its summary line.

The date is decided when the task runs (today in ``TIME_ZONE``), never baked into
the schedule, so a late or repeated run still writes the right day, and a repeat
writes nothing new. Deliver is bounded by ``PIPELINE_DELIVER_MAX_SECONDS`` so a run
ends well before the cluster's ``timeout`` and the next minute's run carries on.

Generate is bounded too (``GENERATE_MAX_SECONDS``): with the model API a large user
base takes far longer than the cluster's ``timeout``. A run that stops at its bound
queues another task for the same date, which carries on from the users still
without a row; the chain ends when a run reaches every user. A run stopped by an
outage (the model API down, the database gone) schedules one retry of the same date
``GENERATE_RETRY_MINUTES`` later, by a unique name so retries never pile up, for as
long as that date is still today. A configuration error is logged and raised, never
retried: the next run would fail the same way.
"""

from __future__ import annotations

import datetime
import logging

from django.conf import settings
from django.db import InterfaceError, OperationalError, ProgrammingError
from django.utils import timezone
from django_q.models import Schedule
from django_q.tasks import async_task

from core.commands import database_error_message
from core.logs import log_action
from outbox.generators import GeneratorUnavailable
from pipeline.stages import (
    GenerateResult,
    StageConfigError,
    delivery_run,
    generate_date_parse,
    generation_run,
    generator_choose,
)

# The dotted paths django-q2 stores for these tasks (schedules, continuations, retries).
GENERATE_TASK = "pipeline.tasks.notifications_generate_today"
DELIVER_TASK = "pipeline.tasks.notifications_deliver_due"
# Where the tasks lived before the pipeline app: ``delivery/tasks.py`` still runs what was
# queued under these for one release, and ``setup_schedules`` moves schedules off them.
LEGACY_TASKS = {
    "delivery.tasks.notifications_generate_today": GENERATE_TASK,
    "delivery.tasks.notifications_deliver_due": DELIVER_TASK,
}

# Below the cluster's ``timeout``, with room for the chunk in progress at the bound,
# which runs to its end.
GENERATE_MAX_SECONDS = 300
# How long a failed generate waits before its retry: long enough for an outage to pass,
# short enough that the day's notifications still go out the same morning.
GENERATE_RETRY_MINUTES = 15
RETRY_SCHEDULE_PREFIX = "pipeline: retry generate "

logger = logging.getLogger(__name__)


def notifications_generate_today(date: str | None = None) -> str:
    """Generate the missing notifications of ``date`` (default: today) for a bounded time.

    When the bound stops the run before every user has a row, the same task is
    queued again for the same date. Returns the summary line.
    """
    try:
        day = generate_date_parse(date)
        result = _generation_run_or_retry(day=day)
    except StageConfigError as error:
        log_action(logger, "pipeline.generate_config_error", str(error), level=logging.ERROR)
        raise
    if not result.summary.complete:
        async_task(GENERATE_TASK, day.isoformat(), task_name=f"pipeline: generate {day}, continued")
        log_action(logger, "pipeline.generate_continued", date=day.isoformat())
    return result.line


def _generation_run_or_retry(*, day: datetime.date) -> GenerateResult:
    """One bounded generate of ``day``; an outage schedules the retry, then propagates."""
    try:
        return generation_run(
            date=day, generator=generator_choose(None), max_seconds=GENERATE_MAX_SECONDS
        )
    except GeneratorUnavailable as error:
        generate_retry_schedule(day=day.isoformat(), reason=str(error))
        raise
    except (OperationalError, InterfaceError, ProgrammingError) as error:
        # None for a bug in a query (not the database's state): a retry would fail the same way.
        reason = database_error_message(error)
        if reason is not None:
            generate_retry_schedule(day=day.isoformat(), reason=reason)
        raise


def generate_retry_schedule(*, day: str, reason: str) -> Schedule | None:
    """Schedule one retry of ``day``'s generate, unless ``day`` is no longer today.

    Found by name, so a failing retry moves the one pending retry instead of adding one.
    """
    if day != timezone.localdate().isoformat():
        log_action(
            logger,
            "pipeline.generate_retry_skipped",
            "the day is over",
            level=logging.WARNING,
            date=day,
            reason=reason,
        )
        return None
    retry_at = timezone.now() + datetime.timedelta(minutes=GENERATE_RETRY_MINUTES)
    schedule, _ = Schedule.objects.update_or_create(
        name=f"{RETRY_SCHEDULE_PREFIX}{day}",
        defaults={
            "func": GENERATE_TASK,
            "args": repr((day,)),
            "schedule_type": Schedule.ONCE,
            "repeats": 1,
            "next_run": retry_at,
        },
    )
    log_action(
        logger,
        "pipeline.generate_retry_scheduled",
        level=logging.WARNING,
        date=day,
        retry_at=retry_at.isoformat(),
        reason=reason,
    )
    return schedule


def notifications_deliver_due() -> str:
    """Deliver what is due for at most ``PIPELINE_DELIVER_MAX_SECONDS``; returns the summary line.

    No retry of its own: the every-minute schedule is the retry of an outage, and a
    configuration error is logged and raised for the operator.
    """
    try:
        result = delivery_run(max_seconds=settings.PIPELINE_DELIVER_MAX_SECONDS)
    except StageConfigError as error:
        log_action(logger, "pipeline.deliver_config_error", str(error), level=logging.ERROR)
        raise
    return result.line
