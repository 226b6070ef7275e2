"""The pipeline's django-q2 schedules, defined in code and applied idempotently by name.

Three schedules: generate today's notifications once a day at ``PIPELINE_GENERATE_AT``
(local time in ``TIME_ZONE``), deliver what is due every minute, and purge what is past
retention once a day at ``PURGE_AT``. ``schedules_apply``
may run on every deploy: it finds each schedule by its unique name and updates it in
place, so schedules never pile up, and it only moves a schedule's next run when the
wanted time of day changed, so a re-deploy at 06:00:30 does not skip the run that is due.
Schedules still naming a task's old dotted path (``LEGACY_TASKS``) move to the new one:
the two above and any pending generate retry, each found by its name.
"""

from __future__ import annotations

import datetime
import logging
import zoneinfo
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_q.models import Schedule

from core.logs import log_action
from pipeline.retention import PURGE_TASK
from pipeline.tasks import DELIVER_TASK, GENERATE_TASK, LEGACY_TASKS, RETRY_SCHEDULE_PREFIX

logger = logging.getLogger(__name__)

GENERATE_SCHEDULE = "pipeline: generate today's notifications"
DELIVER_SCHEDULE = "pipeline: deliver due notifications"
PURGE_SCHEDULE = "pipeline: purge notifications past retention"
# Local time in TIME_ZONE: the quiet hours, away from the morning's generate and deliver.
PURGE_AT = datetime.time(3, 0)


class ScheduleConfigError(ValueError):
    """A scheduling setting that cannot be turned into a schedule (e.g. a bad time of day)."""


@dataclass(frozen=True, kw_only=True)
class ScheduleResult:
    """What ``schedules_apply`` did to one schedule: created, updated, unchanged or moved."""

    name: str
    outcome: str
    next_run: datetime.datetime


def generate_time_parse(text: str) -> datetime.time:
    """``HH:MM`` (24-hour) as a time, or a ScheduleConfigError naming the setting."""
    try:
        hours, minutes = (int(part) for part in text.split(":"))
        return datetime.time(hours, minutes)
    except ValueError:
        raise ScheduleConfigError(
            f"PIPELINE_GENERATE_AT must be a time of day as HH:MM, got {text!r}"
        ) from None


def daily_next_run(
    *, at: datetime.time, now: datetime.datetime, zone: datetime.tzinfo
) -> datetime.datetime:
    """The next instant after ``now`` that reads ``at`` on a wall clock in ``zone``."""
    local_now = now.astimezone(zone)
    candidate = datetime.datetime.combine(local_now.date(), at, tzinfo=zone)
    if candidate <= local_now:
        candidate = datetime.datetime.combine(
            local_now.date() + datetime.timedelta(days=1), at, tzinfo=zone
        )
    # Normalise through UTC so a wall time that does not exist (a DST gap) lands on a real instant.
    return candidate.astimezone(datetime.UTC)


@dataclass(frozen=True, kw_only=True)
class ScheduleSpec:
    """One schedule as the code wants it; ``first_run`` is used when it is new or its time moved."""

    name: str
    func: str
    schedule_type: str
    minutes: int | None
    first_run: datetime.datetime
    # For a daily schedule, the wall-clock time its next run must keep, read in ``zone``.
    time_of_day: datetime.time | None = None
    zone: datetime.tzinfo = datetime.UTC

    def keeps(self, next_run: datetime.datetime | None) -> bool:
        """Whether a stored next run still fits this spec (so re-applying must not move it)."""
        if next_run is None:
            return False
        if self.time_of_day is None:
            return True
        local = next_run.astimezone(self.zone).time().replace(second=0, microsecond=0)
        return local == self.time_of_day


def schedules_wanted(*, now: datetime.datetime) -> list[ScheduleSpec]:
    """The pipeline's schedules from the current settings (read at call time)."""
    zone = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    at = generate_time_parse(settings.PIPELINE_GENERATE_AT)
    return [
        ScheduleSpec(
            name=GENERATE_SCHEDULE,
            func=GENERATE_TASK,
            schedule_type=Schedule.DAILY,
            minutes=None,
            first_run=daily_next_run(at=at, now=now, zone=zone),
            time_of_day=at,
            zone=zone,
        ),
        ScheduleSpec(
            name=DELIVER_SCHEDULE,
            func=DELIVER_TASK,
            schedule_type=Schedule.MINUTES,
            minutes=1,
            first_run=now,
        ),
        purge_schedule_spec(now=now, zone=zone),
    ]


def purge_schedule_spec(*, now: datetime.datetime, zone: datetime.tzinfo) -> ScheduleSpec:
    """The daily purge of rows past ``OUTBOX_RETENTION_DAYS``, at ``PURGE_AT`` local time."""
    return ScheduleSpec(
        name=PURGE_SCHEDULE,
        func=PURGE_TASK,
        schedule_type=Schedule.DAILY,
        minutes=None,
        first_run=daily_next_run(at=PURGE_AT, now=now, zone=zone),
        time_of_day=PURGE_AT,
        zone=zone,
    )


@transaction.atomic
def schedules_apply(*, now: datetime.datetime | None = None) -> list[ScheduleResult]:
    """Create or update the pipeline's schedules by name; never creates a second copy.

    The daily generate runs at ``settings.PIPELINE_GENERATE_AT`` in ``settings.TIME_ZONE``
    (django-q2 keeps the wall-clock time across DST changes for DAILY schedules); deliver
    runs every minute. Duplicates left by older deploys are removed, the oldest kept.
    """
    now = now or timezone.now()
    results = []
    for spec in schedules_wanted(now=now):
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
            "schedule_type": spec.schedule_type,
            "minutes": spec.minutes,
            "repeats": -1,
            "args": None,
            "kwargs": None,
        }
        if current is None or not spec.keeps(current.next_run):
            fields["next_run"] = spec.first_run
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
    return results + _retries_move()


def _retries_move() -> list[ScheduleResult]:
    """Point pending generate retries still naming an old task path at the new one."""
    retries = Schedule.objects.select_for_update().filter(
        name__startswith=RETRY_SCHEDULE_PREFIX, func__in=LEGACY_TASKS
    )
    results = []
    for retry in retries.order_by("id"):
        retry.func = LEGACY_TASKS[retry.func]
        retry.save(update_fields=["func"])
        log_action(logger, "pipeline.schedule_moved", schedule=repr(retry.name), func=retry.func)
        results.append(ScheduleResult(name=retry.name, outcome="moved", next_run=retry.next_run))
    return results
