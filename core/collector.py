"""The garbage collector's pace while a hot loop runs, set for the run and put back after.

CPython collects its youngest generation every 700 container allocations (net of
frees). A loop that keeps thousands of objects alive for a batch's length (rows,
requests, results) triggers hundreds of collections a run, each walking every young
container, and the older generations' passes then walk the whole heap of a Django
process, all while holding the interpreter lock its other threads wait for.
Objects freed by reference counting never wait for a collection; only reference
cycles do, so spacing collections out costs at most the cycles made in between.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collections_spaced(*, young_threshold: int) -> Iterator[None]:
    """Collect the youngest generation every ``young_threshold`` allocations inside the block.

    The older generations keep their own ratios; the previous thresholds come back on
    exit, however the block ends. Process-wide while it lasts, as the collector is:
    two such blocks overlapping on different threads restore in the order they end.
    """
    previous = gc.get_threshold()
    gc.set_threshold(young_threshold, *previous[1:])
    try:
        yield
    finally:
        gc.set_threshold(*previous)
