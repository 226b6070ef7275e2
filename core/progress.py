"""The progress callback that long-running services accept, and the bar commands draw with it."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

from tqdm import tqdm

# Called as ``(done, total)``; ``total`` is None while it is not known yet.
ProgressCallback = Callable[[int, int | None], None]


@contextmanager
def progress_bar(
    *, desc: str, unit: str, stream: TextIO | None = None
) -> Iterator[ProgressCallback]:
    """A callback drawing a bar on ``stream`` (default stderr) when it is a terminal.

    Elsewhere (a pipe, a log file, a scheduled task) the callback does nothing, so
    output that is read by programs stays free of control characters.
    """
    stream = stream or sys.stderr
    if not stream.isatty():
        yield _ignore
        return
    bar = tqdm(desc=desc, unit=unit, file=stream, dynamic_ncols=True)

    def on_progress(done: int, total: int | None) -> None:
        if total is not None and bar.total != total:
            bar.total = total
        bar.n = done
        bar.refresh()

    try:
        yield on_progress
    finally:
        bar.close()


def _ignore(done: int, total: int | None) -> None:
    """The callback when there is no terminal to draw on."""
