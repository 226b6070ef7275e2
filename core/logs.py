"""One shape for the project's log lines: ``action=<app>.<event> key=value …``.

The action is also put in the record's ``extra`` so a structured handler can index it;
the same action name in every module makes a log search by app or by event reliable.
"""

from __future__ import annotations

import logging
import re
from typing import Any

ACTION_PATTERN = re.compile(r"[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*")


def log_action(
    logger: logging.Logger,
    action: str,
    note: str = "",
    *,
    level: int = logging.INFO,
    **fields: Any,
) -> None:
    """Log ``action=<action> k=v …`` (then ``: note``) at ``level``; ``action`` is ``app.event``."""
    if not ACTION_PATTERN.fullmatch(action):
        raise ValueError(f"log action must be '<app>.<event>' in lower case, got {action!r}")
    if not logger.isEnabledFor(level):
        return
    pairs = "".join(f" {key}={value}" for key, value in fields.items())
    logger.log(
        level,
        "action=%s%s%s",
        action,
        pairs,
        f": {note}" if note else "",
        extra={"action": action, **{f"log_{key}": value for key, value in fields.items()}},
    )
