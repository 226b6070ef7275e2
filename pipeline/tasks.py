"""The functions django-q2's schedules call; each runs one stage and returns its summary line.

Generate runs every ``PIPELINE_GENERATE_EVERY_MINUTES`` and decides what is due from
the clock when it runs (the horizon rule: rows whose local send time is near and
whose window is open), never from the schedule, so a late or repeated run writes
only what is missing, and a run after an outage picks up where things stand.
Deliver is bounded by ``PIPELINE_DELIVER_MAX_SECONDS`` so a run ends well before
the cluster's ``timeout`` and the next minute's run carries on.

Generate is bounded too (``GENERATE_MAX_SECONDS``): with the model API a large user
base takes far longer than the cluster's ``timeout``. A run that stops at its bound
queues another task of the same scope, which carries on from the users still
without a row; the chain ends when a run reaches every user. A run that left users
without a row (the model could not serve them and their send time is not near
yet) logs it and raises ``UsersLeft``, so it shows under the failed tasks; the next
scheduled run, minutes later, asks again; that schedule is the retry. A
configuration error is logged and raised: the next run would fail the same way.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django_q.tasks import async_task

from core.logs import log_action
from pipeline.stages import (
    StageConfigError,
    delivery_run,
    generate_date_parse,
    generation_run,
    generator_choose,
)

# The dotted paths django-q2 stores for these tasks (schedules, continuations).
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

logger = logging.getLogger(__name__)


class UsersLeft(Exception):
    """A generate run left users in scope without a row; the next run asks again."""


def notifications_generate_today(date: str | None = None) -> str:
    """Generate the missing notifications due now (or of ``date``) for a bounded time.

    The name is kept for the schedules and tasks stored under it; without ``date``
    (what the schedule passes) the scope is the horizon, read from the clock now.
    When the bound stops the run before every user has a row, the same task is
    queued again with the same argument. Returns the summary line; raises
    ``UsersLeft`` (after queuing any continuation) when users were left.
    """
    try:
        day = generate_date_parse(date)
        result = generation_run(
            date=day, generator=generator_choose(None), max_seconds=GENERATE_MAX_SECONDS
        )
    except StageConfigError as error:
        log_action(logger, "pipeline.generate_config_error", str(error), level=logging.ERROR)
        raise
    if not result.summary.complete:
        args = () if day is None else (day.isoformat(),)
        async_task(GENERATE_TASK, *args, task_name=f"pipeline: generate {day or 'due'}, continued")
        log_action(logger, "pipeline.generate_continued", date=str(day or "horizon"))
    if result.left_line is not None:
        log_action(
            logger,
            "pipeline.generate_users_left",
            result.left_line,
            level=logging.WARNING,
            summary=repr(result.line),
        )
        raise UsersLeft(result.left_line)
    return result.line


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
