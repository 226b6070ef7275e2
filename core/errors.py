"""Errors of our own that services raise and the edge (an API, a command) turns into an answer.

Their message is written for the client: an API answers it as JSON with the status
its class stands for, never a traceback.
"""

from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    """A request the service refuses; ``extra`` adds machine-readable fields to the answer."""

    def __init__(self, message: str, *, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra or {}


class NotFoundError(ApplicationError):
    """The thing asked for does not exist."""


class ConflictError(ApplicationError):
    """The thing exists, but its current state does not allow what was asked."""
