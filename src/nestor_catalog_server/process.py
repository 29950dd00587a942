"""Process-wide settings for the catalog's own processes (the server worker, the sync CLI).

Only entry points call these: a library must not change the garbage collector of the
process that imports it.
"""

from __future__ import annotations

import gc

from nestor_catalog_core import _collector as collector

__all__ = ["GEN0_THRESHOLD", "tune_gc"]

#: Allocations between young-generation collections. CPython's default (700) makes a sync
#: of 10,000 definitions, which allocates millions of short-lived, acyclic objects (parsed
#: YAML, JSON, models), collect so often that the older generations - the read model, a
#: few hundred MB of long-lived objects - are walked again and again: measured here, the
#: initial sync took 13.0 s with the default and 6.0 s with this threshold. The catalog's
#: data is freed by reference counting; the collector only has cycles to find.
GEN0_THRESHOLD = 50_000


def tune_gc(gen0: int = GEN0_THRESHOLD) -> None:
    """Raise the young-generation threshold (never lower it), keeping the others, and let bulk
    work (initial syncs, read-model rebuilds) pause the collector (``nestor_catalog_core._collector``)."""
    collector.allow_pauses()
    current, gen1, gen2 = gc.get_threshold()
    if current < gen0:
        gc.set_threshold(gen0, gen1, gen2)
