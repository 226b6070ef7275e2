"""What a load says back: the report, each bad row, and the error that stops a whole file."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple


class CsvImportError(Exception):
    """The file as a whole cannot be loaded: missing, unreadable, wrong header."""


class RowError(NamedTuple):
    """One bad row: the line its record starts on and why it was skipped."""

    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass
class LoadReport:
    """What a load did. ``errors`` holds the first ``max_errors`` bad rows; ``skipped`` counts all."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    errors: list[RowError] = field(default_factory=list)
    rolled_back: bool = False

    def summary(self) -> str:
        """The one-line summary ``load_users`` prints last."""
        return (
            f"created {self.created}, updated {self.updated}, "
            f"unchanged {self.unchanged}, skipped {self.skipped}"
        )
