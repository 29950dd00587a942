"""Pausing the cyclic garbage collector around bulk work, when the process allows it.

A bulk load (an initial sync, a rebuild of the read model) allocates millions of objects
that stay alive: the catalog's read model. CPython's collector walks every surviving
object again at each older-generation collection, and as the model grows those walks
dominate: measured on an initial sync of 10,000 definitions, 19.4 s with the collector
running (young threshold already raised) and 12.7 s with it paused, and a sync left 82
objects in reference cycles for the collector to find. The catalog's data is freed by
reference counting; the collector only has cycles to find, and a pause only postpones that.

A library must not change the collector of the process that imports it, so ``paused()``
is a no-op until the process's entry point calls ``allow_pauses()`` (the server's
``process.tune_gc`` does). Pauses nest and overlap (several syncs at once): the collector
is re-enabled when the last one ends, and only if it was enabled when the first began.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

__all__ = ["allow_pauses", "paused", "pauses_allowed"]

_allowed = False
_depth = 0
_reenable = False


def allow_pauses(allowed: bool = True) -> None:
    """Let ``paused()`` pause the collector in this process (entry points only)."""
    global _allowed
    _allowed = allowed


def pauses_allowed() -> bool:
    return _allowed


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """The collector paused for the block (when allowed), re-enabled after the last pause."""
    global _depth, _reenable
    if not _allowed:
        yield
        return
    if _depth == 0:
        _reenable = gc.isenabled()
        gc.disable()
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if _depth == 0 and _reenable:
            gc.enable()
