"""Process-wide settings for the catalog's own processes (the server worker, the sync CLI):
the garbage collector's thresholds and the signal handlers that start a graceful stop.

Only entry points call these: a library must not change the garbage collector or the signal
handlers of the process that imports it.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterable
from contextlib import suppress
from typing import TYPE_CHECKING, Any

from nestor_catalog_core import _collector as collector

if TYPE_CHECKING:
    from types import FrameType

__all__ = ["GEN0_THRESHOLD", "shutdown_on_signals", "tune_gc"]

log = logging.getLogger("nestor_catalog.server.process")

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


def shutdown_on_signals(
    shutdown: asyncio.Event, signals: Iterable[int] = (signal.SIGTERM, signal.SIGINT)
) -> Callable[[], None]:
    """Set ``shutdown`` (the app's ``AppState.shutdown``) the moment the process gets one of
    ``signals``; returns a function that puts the previous handlers back.

    Call it from the lifespan's startup (it must run in the main thread, where the ASGI server's
    event loop runs). Why: granian (like most ASGI servers) answers SIGTERM by draining open
    connections *before* it runs the lifespan shutdown, and an event stream never ends on its
    own, so without this a graceful stop waits until the process is killed. The previous
    handler still runs afterwards (asyncio's, the server's), so the server's own shutdown
    proceeds as before; a default disposition is re-raised. Outside the main thread it does
    nothing and returns a no-op.
    """
    if threading.current_thread() is not threading.main_thread():
        log.debug("not in the main thread: event streams end at lifespan shutdown only")
        return lambda: None
    loop = asyncio.get_running_loop()
    previous: dict[int, Any] = {}

    def handle(signum: int, frame: FrameType | None) -> None:
        with suppress(RuntimeError):  # the loop is already closed
            loop.call_soon_threadsafe(shutdown.set)
        before = previous.get(signum, signal.SIG_DFL)
        if callable(before):
            before(signum, frame)
        elif before == signal.SIG_DFL:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)

    for signum in signals:
        previous[signum] = signal.getsignal(signum)
        signal.signal(signum, handle)

    def restore() -> None:
        for signum, before in previous.items():
            if signal.getsignal(signum) is handle:
                signal.signal(signum, before)

    return restore
