"""The pipeline's django-q2 schedules, defined in code and applied idempotently by name.

Three schedules: generate every ``PIPELINE_GENERATE_EVERY_MINUTES`` (each run works
out from the clock which users' local send time is near), deliver what is due every
minute, and purge what is past retention once a day. ``schedules_apply`` may run on
every deploy: it finds each schedule by its unique name and updates it in place, so schedules never pile up; it only moves
a schedule's next run when its interval changed (or it had none), so a re-deploy
does not skip the run that is due. Older deploys' leftovers are migrated by name:
the once-a-day generate becomes the interval one, schedules still naming a task's
old dotted path (``LEGACY_TASKS``) move to the new one, and the one-off generate
retries an older release scheduled after a failure are removed (the interval
schedule is the retry now).
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_q.models import Schedule

from core.logs import log_action
from pipeline.retention import PURGE_TASK
from pipeline.tasks import DELIVER_TASK, GENERATE_TASK

logger = logging.getLogger(__name__)

GENERATE_SCHEDULE = "pipeline: generate today's notifications"
DELIVER_SCHEDULE = "pipeline: deliver due notifications"
# The one-off retries an older release scheduled after a failed generate, one per date.
LEGACY_RETRY_PREFIX = "pipeline: retry generate "
PURGE_SCHEDULE = "pipeline: purge notifications past retention"
# Once a day: purging is bounded work in small transactions, whenever it runs.
PURGE_EVERY_MINUTES = 24 * 60


@dataclass(frozen=True, kw_only=True)
class ScheduleResult:
    """What ``schedules_apply`` did to one schedule: created, updated, unchanged or removed."""

    name: str
    outcome: str
    next_run: datetime.datetime | None


@dataclass(frozen=True, kw_only=True)
class ScheduleSpec:
    """One schedule as the code wants it: a task every ``minutes`` minutes."""

    name: str
    func: str
    minutes: int

    def keeps(self, current: Schedule, *, now: datetime.datetime) -> bool:
        """Whether ``current``'s next run still fits (so re-applying must not move it).

        A schedule of another type or interval (the old daily generate, say) starts
        over now; one whose next run is due within its interval keeps it.
        """
        return (
            current.schedule_type == Schedule.MINUTES
            and current.minutes == self.minutes
            and current.next_run is not None
            and current.next_run <= now + datetime.timedelta(minutes=self.minutes)
        )


def schedules_wanted() -> list[ScheduleSpec]:
    """The pipeline's schedules from the current settings (read at call time)."""
    return [
        ScheduleSpec(
            name=GENERATE_SCHEDULE,
            func=GENERATE_TASK,
            minutes=settings.PIPELINE_GENERATE_EVERY_MINUTES,
        ),
        ScheduleSpec(name=DELIVER_SCHEDULE, func=DELIVER_TASK, minutes=1),
        ScheduleSpec(name=PURGE_SCHEDULE, func=PURGE_TASK, minutes=PURGE_EVERY_MINUTES),
    ]


@transaction.atomic
def schedules_apply(*, now: datetime.datetime | None = None) -> list[ScheduleResult]:
    """Create or update the pipeline's schedules by name; never creates a second copy.

    Duplicates left by older deploys are removed, the oldest kept; so are the
    one-off generate retries of an older release.
    """
    now = now or timezone.now()
    results = []
    for spec in schedules_wanted():
        existing = list(Schedule.objects.select_for_update().filter(name=spec.name).order_by("id"))
        if len(existing) > 1:
            Schedule.objects.filter(pk__in=[s.pk for s in existing[1:]]).delete()
            log_action(
                logger,
                "pipeline.schedule_dedupe",
                "duplicates of an older deploy",
                level=logging.WARNING,
                schedule=repr(spec.name),
                removed=len(existing) - 1,
            )
        current = existing[0] if existing else None
        fields = {
            "func": spec.func,
            "schedule_type": Schedule.MINUTES,
            "minutes": spec.minutes,
            "repeats": -1,
            "args": None,
            "kwargs": None,
        }
        if current is None or not spec.keeps(current, now=now):
            fields["next_run"] = now
        unchanged = current is not None and all(
            getattr(current, key) == value for key, value in fields.items()
        )
        schedule, created = Schedule.objects.update_or_create(name=spec.name, defaults=fields)
        outcome = "created" if created else "unchanged" if unchanged else "updated"
        log_action(
            logger,
            "pipeline.schedule_apply",
            schedule=repr(spec.name),
            outcome=outcome,
            next_run=schedule.next_run.isoformat(),
        )
        results.append(ScheduleResult(name=spec.name, outcome=outcome, next_run=schedule.next_run))
    return results + _legacy_retries_remove()


def _legacy_retries_remove() -> list[ScheduleResult]:
    """Remove the pending one-off generate retries an older release left (any task path)."""
    retries = list(
        Schedule.objects.select_for_update()
        .filter(name__startswith=LEGACY_RETRY_PREFIX, schedule_type=Schedule.ONCE)
        .order_by("id")
    )
    for retry in retries:
        log_action(
            logger,
            "pipeline.schedule_removed",
            "the interval generate is the retry now",
            schedule=repr(retry.name),
        )
    Schedule.objects.filter(pk__in=[retry.pk for retry in retries]).delete()
    return [
        ScheduleResult(name=retry.name, outcome="removed", next_run=retry.next_run)
        for retry in retries
    ]
