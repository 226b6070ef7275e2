"""The functions django-q2's schedules call; each runs one stage through ``runpipeline``.

Going through the command keeps ``runpipeline`` the one place that wires generation
and delivery. The date is decided when the task runs (today in ``TIME_ZONE``), never
baked into the schedule, so a late or repeated run still writes the right day, and
a repeat writes nothing new. Deliver is bounded by ``PIPELINE_DELIVER_MAX_SECONDS``
so a run ends well before the cluster's ``timeout`` and the next minute's run carries on.
"""

from __future__ import annotations

import io

from django.conf import settings
from django.core.management import call_command


def notifications_generate_today() -> str:
    """Generate the missing notifications for today's date; returns the command's summary line."""
    out = io.StringIO()
    call_command("runpipeline", "generate", stdout=out)
    return out.getvalue().strip()


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
