"""Duplicate user ids, found exactly in flat memory: a Bloom filter, a spill file, re-scans.

A set of every id seen would grow with the file. Instead a fixed-size Bloom filter
remembers the ids of loaded rows. A row whose id the filter has never seen is
certainly the first valid row with that id and loads at once. A row the filter
*may* have seen (a true duplicate, or a rare false positive) is deferred: its line
and id go to a temporary spill file on disk. After the first pass the spilled rows
are resolved in batches of at most ``DEFERRED_BATCH``: one re-scan of the file per
batch finds each candidate id's first valid line; a deferred row that *is* that
line was a false positive and loads then, any other is a duplicate. Only valid rows
claim an id: a bad row followed by a good one with the same id loads the good one.
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from itertools import islice
from typing import IO, NamedTuple

# Candidate duplicate ids held in memory at once while the spill file is resolved.
DEFERRED_BATCH = 50_000


class IdFilter:
    """A fixed-size Bloom filter over user ids.

    Python's ``hash`` is salted per process, which is fine: the filter lives
    for one load in one process.
    """

    BITS = 1 << 25  # 4 MiB
    MASK = BITS - 1
    # Four probes from one 64-bit hash (double hashing); a false positive costs
    # a deferred row, never an error.
    HASHES = 4

    def __init__(self) -> None:
        self._bits = bytearray(self.BITS // 8)

    def seen_or_add(self, key: str) -> bool:
        """True when ``key`` may have been added before; otherwise add it and return False."""
        digest = hash(key)
        mask = self.MASK
        step = ((digest >> 32) | 1) & mask
        bits = self._bits
        position = digest & mask
        seen = True
        for _ in range(self.HASHES):
            byte, bit = position >> 3, 1 << (position & 7)
            if not bits[byte] & bit:
                seen = False
                bits[byte] |= bit
            position = (position + step) & mask
        return seen


class Verdict(NamedTuple):
    """A deferred row's fate: load ``values``, or a duplicate of the row on ``first_line``."""

    line: int
    values: tuple
    first_line: int | None

    @property
    def reason(self) -> str:
        return f"duplicate user_id {self.values[0]!r} (first seen on line {self.first_line})"


class DuplicateCheck:
    """One load's check: the filter of admitted ids and the spill file of deferred rows."""

    def __init__(self, spill_file: IO[str]) -> None:
        self._ids = IdFilter()
        self._file = spill_file
        self._spill = csv.writer(spill_file)
        self._deferred = 0

    def admit(self, *, line: int, user_id: str) -> bool:
        """Whether the valid row on ``line`` loads now; if not, it waits in the spill file."""
        if not self._ids.seen_or_add(user_id):
            return True
        self._spill.writerow((line, user_id))
        self._deferred += 1
        return False

    def deferred_batches(self) -> Iterator[dict[int, str]]:
        """The deferred rows, at most ``DEFERRED_BATCH`` at a time, as line → user id."""
        if not self._deferred:
            return
        self._file.seek(0)
        spilled = csv.reader(self._file)
        while batch := list(islice(spilled, DEFERRED_BATCH)):
            yield {int(line): user_id for line, user_id in batch}


@contextmanager
def duplicate_check() -> Iterator[DuplicateCheck]:
    """A check for one load; its spill file is deleted when the load ends."""
    with tempfile.TemporaryFile("w+", encoding="utf-8", newline="") as spill_file:
        yield DuplicateCheck(spill_file)


def deferred_resolve(
    *,
    deferred: dict[int, str],
    records: Iterable[tuple[int, list[str] | None]],
    validate: Callable[[list[str]], tuple | None],
) -> Iterator[Verdict]:
    """Each deferred row's verdict, from one re-scan of the file's data records.

    ``validate`` gives a record's values, or None for a bad row (already reported).
    """
    candidates = set(deferred.values())
    first_seen: dict[str, int] = {}
    for line, fields in records:
        if not fields or fields[0] not in candidates:
            continue
        values = validate(fields)
        if values is None:
            continue
        user_id = values[0]
        if user_id not in first_seen:
            first_seen[user_id] = line
            if line in deferred:
                yield Verdict(line, values, None)
        elif line in deferred:
            yield Verdict(line, values, first_seen[user_id])
