"""The collector's pace inside a hot loop, and the thresholds put back after it."""

from __future__ import annotations

import gc

import pytest

from core.collector import collections_spaced


@pytest.fixture
def thresholds():
    """The test runner's thresholds, whatever a failing test left."""
    previous = gc.get_threshold()
    yield previous
    gc.set_threshold(*previous)


def test_the_young_threshold_holds_inside_the_block_the_older_ones_keep_theirs(thresholds):
    with collections_spaced(young_threshold=12_345):
        assert gc.get_threshold() == (12_345, *thresholds[1:])

    assert gc.get_threshold() == thresholds


def test_the_thresholds_come_back_when_the_block_raises(thresholds):
    with pytest.raises(RuntimeError), collections_spaced(young_threshold=12_345):
        raise RuntimeError("the loop broke")

    assert gc.get_threshold() == thresholds


def test_blocks_nested_restore_each_what_it_found(thresholds):
    with collections_spaced(young_threshold=1_000):
        with collections_spaced(young_threshold=2_000):
            assert gc.get_threshold()[0] == 2_000
        assert gc.get_threshold()[0] == 1_000

    assert gc.get_threshold() == thresholds
