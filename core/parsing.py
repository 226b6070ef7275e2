"""Parsing of the small values that commands and views share, with one wording of each error."""

from __future__ import annotations


def positive_int(text: str) -> int:
    """``text`` as a whole number of at least 1; ``ValueError`` saying what was wrong otherwise.

    Named for argparse, which shows ``invalid positive integer value`` on a ``ValueError``.
    """
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"must be a whole number, got {text!r}") from None
    if value < 1:
        raise ValueError(f"must be at least 1, got {value}")
    return value


positive_int.__name__ = "positive integer"


def positive_float(text: str) -> float:
    """``text`` as a finite number above zero (fractions allowed); ``ValueError`` otherwise."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"must be a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise ValueError(f"must be above 0, got {text}")
    return value


positive_float.__name__ = "positive number"
