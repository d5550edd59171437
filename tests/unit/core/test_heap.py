"""The collector settings of a long-running process (opscopilot.core.heap)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from opscopilot.core import heap


@pytest.fixture
def collector() -> Iterator[None]:
    thresholds = gc.get_threshold()
    frozen = set(heap._frozen)
    yield
    gc.set_threshold(*thresholds)
    gc.unfreeze()
    heap._frozen.clear()
    heap._frozen.update(frozen)


def test_young_objects_are_collected_after_the_threshold_given(collector: None) -> None:
    _, middle, old = gc.get_threshold()
    heap.collect_young_after(50_000)
    assert gc.get_threshold() == (50_000, middle, old)


def test_the_heap_is_frozen_once_per_moment(collector: None) -> None:
    gc.unfreeze()
    heap.freeze_heap(after="test-start")
    frozen = gc.get_freeze_count()
    assert frozen > 0
    kept = [object() for _ in range(10)], {"new": "objects"}
    heap.freeze_heap(after="test-start")  # the same moment again: nothing more frozen
    assert gc.get_freeze_count() == frozen
    heap.freeze_heap(after="test-later")  # a later moment freezes what came since
    assert gc.get_freeze_count() > frozen
    del kept
