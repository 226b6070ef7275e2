"""Deprecated shim: the old dotted paths of the pipeline's tasks, for tasks already queued.

The scheduled tasks moved to ``pipeline.tasks``. Tasks and schedules queued before
the move name ``delivery.tasks.…`` in the ORM broker; these aliases keep them
running for one release and are to be removed in the next one (``setup_schedules``
moves schedules to the new paths). ``delivery`` must not import ``pipeline``
(imports point one way), so the target is looked up when a task runs.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable

from core.logs import log_action

logger = logging.getLogger(__name__)


def _pipeline_task(name: str) -> Callable[..., str]:
    """The task ``name`` of ``pipeline.tasks``, noting in the log that an old path was used."""
    log_action(
        logger,
        "delivery.deprecated_task_path",
        "queued under the path of an older release; runs as pipeline.tasks",
        level=logging.WARNING,
        task=f"{__name__}.{name}",
    )
    return getattr(importlib.import_module("pipeline.tasks"), name)


def notifications_generate_today(date: str | None = None) -> str:
    """Deprecated alias of ``pipeline.tasks.notifications_generate_today``."""
    return _pipeline_task("notifications_generate_today")(date)


def notifications_deliver_due() -> str:
    """Deprecated alias of ``pipeline.tasks.notifications_deliver_due``."""
    return _pipeline_task("notifications_deliver_due")()
