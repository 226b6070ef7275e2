"""The progress bar: drawn on a terminal, silent anywhere else."""

from __future__ import annotations

import io

from core.progress import progress_bar


class Terminal(io.StringIO):
    """A stream that says it is a terminal, as stderr does in an operator's shell."""

    def isatty(self) -> bool:
        return True


def test_no_terminal_no_output() -> None:
    stream = io.StringIO()
    with progress_bar(desc="deliver", unit="notification", stream=stream) as on_progress:
        on_progress(0, 10)
        on_progress(10, 10)
    assert stream.getvalue() == ""


def test_on_a_terminal_the_bar_shows_done_of_total() -> None:
    stream = Terminal()
    with progress_bar(desc="generate 2026-11-22", unit="user", stream=stream) as on_progress:
        on_progress(0, None)
        on_progress(3, 4)
    drawn = stream.getvalue()
    assert "generate 2026-11-22" in drawn
    assert "3/4" in drawn
