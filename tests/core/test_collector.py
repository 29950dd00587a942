from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from nestor_catalog_core import _collector as collector


@pytest.fixture
def allowed() -> Iterator[None]:
    was_allowed, was_enabled = collector.pauses_allowed(), gc.isenabled()
    collector.allow_pauses()
    yield
    collector.allow_pauses(was_allowed)
    if was_enabled:
        gc.enable()


def test_a_library_leaves_the_collector_alone_until_the_process_allows_pauses() -> None:
    was_allowed = collector.pauses_allowed()
    collector.allow_pauses(False)
    try:
        with collector.paused():
            assert gc.isenabled()
    finally:
        collector.allow_pauses(was_allowed)


@pytest.mark.usefixtures("allowed")
def test_pauses_nest_and_the_last_one_re_enables() -> None:
    gc.enable()
    first = collector.paused()
    second = collector.paused()
    first.__enter__()
    assert not gc.isenabled()
    second.__enter__()
    first.__exit__(None, None, None)  # overlapping, not nested: the second is still running
    assert not gc.isenabled()
    second.__exit__(None, None, None)
    assert gc.isenabled()


@pytest.mark.usefixtures("allowed")
def test_a_pause_re_enables_after_an_error_and_never_enables_a_disabled_collector() -> None:
    gc.enable()
    with pytest.raises(RuntimeError), collector.paused():
        raise RuntimeError("boom")
    assert gc.isenabled()
    gc.disable()
    with collector.paused():
        pass
    assert not gc.isenabled()
