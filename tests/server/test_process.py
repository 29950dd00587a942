from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from nestor_catalog_server.process import GEN0_THRESHOLD, tune_gc


@pytest.fixture
def thresholds() -> Iterator[tuple[int, int, int]]:
    saved = gc.get_threshold()
    yield saved
    gc.set_threshold(*saved)


def test_tune_gc_raises_only_the_young_threshold(thresholds: tuple[int, int, int]) -> None:
    gc.set_threshold(700, 10, 10)
    tune_gc()
    assert gc.get_threshold() == (GEN0_THRESHOLD, 10, 10)
    gc.set_threshold(GEN0_THRESHOLD * 2, 10, 10)
    tune_gc()
    assert gc.get_threshold() == (GEN0_THRESHOLD * 2, 10, 10)
