"""The progress callback that long-running services accept and commands draw as a bar."""

from __future__ import annotations

from collections.abc import Callable

# Called as ``(done, total)``; ``total`` is None while it is not known yet.
ProgressCallback = Callable[[int, int | None], None]
